/**
 * `npm run bench -- sim`: how fast the virtual module answers.
 *
 * 1. AT→OK round trips per second served by a spawned `bx-hil sim` over TCP, against a baseline
 *    of the same module in process over a `duplexPair()` (no socket, no process hop).
 * 2. Median time from `AT+KMQTTCNX=1` to `+KMQTT_IND: 1,1` against a local TLS broker (a Node
 *    tls server in front of aedes, mutual TLS) over 20 connects, against a baseline of an mqtt.js
 *    client doing the same TLS + MQTT connect directly in this process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { duplexPair, type Duplex } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { createBasicPki } from '../harness/pki/index.ts';
import { killOnExit } from '../harness/processes.ts';
import { createVirtualModule } from '../harness/sim/index.ts';
import { RawClient } from '../harness/sim/testing.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const ROUND_TRIP_WINDOW_MS = 3_000; // 3 s of AT→OK per measurement
const CONNECTS = 20;

async function roundTrips(stream: Duplex): Promise<number> {
  const at = new RawClient(stream);
  await at.cmd('ATE0');
  for (let i = 0; i < 50; i++) await at.cmd('AT'); // warm-up
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ROUND_TRIP_WINDOW_MS) {
    await at.cmd('AT');
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function startSim(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    [join(root, 'bin/bx-hil.js'), 'sim', '--profile', '2.6.3', '--listen', 'tcp://127.0.0.1:0'],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  killOnExit(child);
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('bx-hil sim did not start within 60 s')), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on tcp:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`bx-hil sim exited with ${code}`)));
  });
  return { child, port };
}

export async function run(): Promise<void> {
  // ---- AT→OK round trips ----
  const inProcess = createVirtualModule({ profile: '2.6.3' });
  const [host, device] = duplexPair();
  inProcess.attach(device);
  const baseline = await roundTrips(host);
  await inProcess.close();

  const sim = await startSim();
  try {
    const sock: Socket = netConnect({ host: '127.0.0.1', port: sim.port });
    sock.setNoDelay(true);
    await once(sock, 'connect');
    const overTcp = await roundTrips(sock);
    console.log(`AT→OK round trips/s, bx-hil sim over TCP: ${overTcp.toFixed(0)}`);
    console.log(
      `AT→OK round trips/s, in-process duplexPair baseline: ${baseline.toFixed(0)} (TCP + process hop = ${(overTcp / baseline).toFixed(2)}x of baseline)`,
    );

    // ---- KMQTTCNX → +KMQTT_IND: 1,1 against Node tls + aedes ----
    const pki = await createBasicPki();
    const broker = await Aedes.createBroker();
    const server = createTlsServer(
      {
        key: pki.server.keyPem,
        cert: pki.server.certPem,
        ca: pki.ca.certPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (s) => broker.handle(s),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const tlsPort = (server.address() as AddressInfo).port;
    try {
      const at = new RawClient(sock);
      for (const [cmd, data] of [
        [`AT+KCERTSTORE=0,${pki.ca.certPem.length}`, pki.ca.certPem],
        [`AT+KCERTSTORE=1,${pki.client.certPem.length},0`, pki.client.certPem],
        [`AT+KPRIVKSTORE=0,${pki.client.keyPem.length}`, pki.client.keyPem],
      ] as const) {
        await at.cmd(cmd);
        at.send(data);
        await new Promise((r) => setTimeout(r, 100));
        at.send('+++');
        await at.until(/\r\n(OK|ERROR|\+CME ERROR: \d+)\r\n/);
      }
      await at.cmd(`AT+KMQTTCFG=1,"localhost",${tlsPort},4,"bench"`);
      const connects: number[] = [];
      for (let i = 0; i < CONNECTS; i++) {
        const t0 = performance.now();
        at.send('AT+KMQTTCNX=1\r');
        const ind = await at.until(/\+KMQTT_IND: 1,\d\r\n/, 15_000);
        if (!ind.includes('+KMQTT_IND: 1,1')) throw new Error(`connect ${i} failed: ${JSON.stringify(ind)}`);
        connects.push(performance.now() - t0);
        await at.cmd('AT+KMQTTCLOSE=1');
        await new Promise((r) => setTimeout(r, 20));
      }
      const direct: number[] = [];
      for (let i = 0; i < CONNECTS; i++) {
        const t0 = performance.now();
        const c = await mqtt.connectAsync({
          protocol: 'mqtts',
          host: 'localhost',
          port: tlsPort,
          ca: pki.ca.certPem,
          cert: pki.client.certPem,
          key: pki.client.keyPem,
          reconnectPeriod: 0,
        });
        direct.push(performance.now() - t0);
        await c.endAsync();
      }
      console.log(
        `AT+KMQTTCNX → +KMQTT_IND: 1,1 median over ${CONNECTS} mTLS connects: ${median(connects).toFixed(1)} ms (min ${Math.min(...connects).toFixed(1)}, max ${Math.max(...connects).toFixed(1)})`,
      );
      console.log(
        `mqtt.js direct mTLS connect baseline median: ${median(direct).toFixed(1)} ms (module path = ${(median(connects) / median(direct)).toFixed(2)}x of baseline)`,
      );
    } finally {
      await new Promise((r) => server.close(r));
      await new Promise<void>((r) => broker.close(() => r()));
    }
    sock.destroy();
  } finally {
    sim.child.kill('SIGTERM');
    await once(sim.child, 'exit');
  }
}
