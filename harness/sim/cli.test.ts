/**
 * Conformance of `bx-hil sim` as a user runs it: the real CLI is spawned, serves the module on a
 * TCP port like ser2net, and is driven with raw bytes (not the driver). The MQTT round trips use
 * a REAL Mosquitto broker started here (plain and mutual-TLS listeners) with mosquitto_pub and
 * mosquitto_sub as the other party.
 *
 * Glossary: sim = the spawned `bx-hil sim` process; module = the virtual module inside it; tcp =
 * a raw TCP client of the sim (the "terminal"); broker = mosquitto; sub/pub = mosquitto_sub/pub.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SerialPort } from 'serialport';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBasicPki, type BasicPki } from '../pki/index.ts';
import { canConnect, freePort, hasTool, killOnExit, pollUntil } from '../processes.ts';
import { BUSY_LINE } from './server.ts';
import { FINAL, RawClient, simListening } from './testing.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin/bx-hil.js');
const hasMosquitto = ['mosquitto', 'mosquitto_pub', 'mosquitto_sub', 'stdbuf'].every(hasTool);
const hasSocat = hasTool('socat');
const AMAZON_ROOT_CA_1 = readFileSync(new URL('./fixtures/AmazonRootCA1.pem', import.meta.url), 'latin1');
const START_MS = 60_000; // the CLI loads every command through tsx: slow on a busy 2-core machine

/** Children still running, killed in afterAll (killOnExit covers a crashed worker). */
const children = new Set<ChildProcess>();
const killAll = () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
};

interface Sim {
  child: ChildProcess;
  line: string;
  port: number;
}

function spawnTracked(cmd: string, args: string[]): ChildProcess {
  const child = killOnExit(spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }));
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Start `bx-hil sim` and wait for its one "listening" line. */
function startSim(args: string[]): Promise<Sim> {
  const child = spawnTracked(process.execPath, [bin, 'sim', ...args]);
  return simListening(child, START_MS).then(({ line, port }) => ({ child, line, port }));
}

function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Socket errors of each client, so that closing it reports them instead of losing them. */
const socketErrors = new WeakMap<Socket, Error[]>();

async function tcp(port: number): Promise<{ at: RawClient; sock: Socket }> {
  const sock = netConnect({ host: '127.0.0.1', port });
  const errors: Error[] = [];
  socketErrors.set(sock, errors);
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  sock.on('error', (err) => errors.push(err));
  return { at: new RawClient(sock), sock };
}

/** End the client and wait for the close; an error the socket met on the way fails the caller. */
async function closeTcp(sock: Socket): Promise<void> {
  if (!sock.destroyed) {
    await new Promise<void>((resolve) => {
      sock.once('close', () => resolve());
      sock.end();
    });
  }
  const errors = socketErrors.get(sock) ?? [];
  if (errors.length > 0) throw errors[0];
}

const escapeRe = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A client of the sim once its one client slot is free. A busy sim answers BUSY_LINE and closes
 * (the observable sign the slot is still held, e.g. by a client whose close it has not yet
 * seen), so each try sends AT and reads either that line or the answer; bounded.
 */
function connectWhenFree(port: number): Promise<{ at: RawClient; sock: Socket }> {
  const answer = new RegExp(`${escapeRe(BUSY_LINE)}|${FINAL.source}`);
  return pollUntil(
    async () => {
      const client = await tcp(port);
      client.at.send('AT\r');
      if (!(await client.at.until(answer)).includes(BUSY_LINE)) return client;
      client.sock.destroy(); // refused: its reset, if any, is not news
      return undefined;
    },
    { timeoutMs: 10_000, intervalMs: 20, what: `the sim's client slot on port ${port} to be free` },
  );
}

/**
 * Each test's own module state on the shared sim process: AT+RST (sessions, connections and
 * echo back to their defaults), the stores emptied, and the result verified, so no test depends
 * on what an earlier one left (or failed to clean up).
 */
async function freshModule(port: number): Promise<{ at: RawClient; sock: Socket }> {
  const client = await connectWhenFree(port);
  const { at } = client;
  at.clear();
  at.send('AT+RST\r');
  expect(await at.until('READY\r\n', 10_000)).toMatch(/\r\nOK\r\n\r\nREADY\r\n$/);
  for (const cmd of ['AT+KCERTDELETE=0', 'AT+KCERTDELETE=1,0', 'AT+KCERTDELETE=1,1', 'AT+KPRIVKDELETE=0']) {
    expect(await at.cmd(cmd)).toBe(echoed(cmd, OK));
  }
  expect(await at.cmd('AT+KMQTTCFG?')).toBe(echoed('AT+KMQTTCFG?', OK));
  expect(await at.cmd('AT+KCERTSTORE?')).toBe(echoed('AT+KCERTSTORE?', `\r\n+KCERTSTORE\r\n${OK}`));
  return client;
}

/** Echo is on over the CLI: every answer starts with the command and its CR. */
const echoed = (cmd: string, answer: string) => `${cmd}\r${answer}`;
const OK = '\r\nOK\r\n';
const CME = (n: number) => `\r\n+CME ERROR: ${n}\r\n`;

/** mosquitto cannot report a port it picked: listening shows only by a connection being accepted. */
async function waitPort(port: number, ms: number): Promise<void> {
  await pollUntil(() => canConnect(port), { timeoutMs: ms, intervalMs: 100, what: `mosquitto to listen on ${port}` });
}

let sim: Sim | undefined;
let ptySim: Promise<Sim> | undefined;
let ptyPath = '';
let badProfile: Promise<{ code: number | null; stderr: string }>;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'bxhil-simcli-'));
  const bad = join(tmp, 'bad.json');
  writeFileSync(bad, JSON.stringify({ extends: '2.6.3', name: 'mine', mqtt: { sessions: 'ten' } }));
  // Started now, in parallel with the server sim: each CLI start costs seconds.
  badProfile = new Promise((resolve) => {
    const child = spawnTracked(process.execPath, [bin, 'sim', '--profile', bad, '--listen', 'tcp://127.0.0.1:0']);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stderr }));
  });
  if (hasSocat) {
    ptyPath = join(tmp, 'ttyBX');
    ptySim = startSim(['--profile', 'legacy', '--pty', ptyPath, '--timing', 'realistic']);
    ptySim.catch(() => undefined); // reported by the --pty test
  }
  sim = await startSim(['--profile', '2.6.3', '--listen', 'tcp://127.0.0.1:0']);
}, START_MS + 10_000);

afterAll(async () => {
  await stopChild(sim?.child);
  await stopChild(await ptySim?.catch(() => undefined).then((p) => p?.child));
  await badProfile;
  killAll();
  rmSync(tmp, { recursive: true, force: true });
}, 20_000);

describe('bx-hil sim over TCP (raw bytes)', () => {
  test('prints one line saying where it listens, with the real port and the profile', () => {
    expect(sim!.line).toMatch(/^bx-hil sim: listening on tcp:\/\/127\.0\.0\.1:\d+ \(profile 2\.6\.3\)$/);
    expect(sim!.port).toBeGreaterThan(0);
  });

  test(
    'a JSON profile with a wrong field is refused with the field named, exit 2',
    async () => {
      const { code, stderr } = await badProfile;
      expect(code).toBe(2);
      expect(stderr).toContain('mqtt.sessions');
    },
    START_MS,
  );

  test('syntax and error codes of every command, in the reference order of precedence', async () => {
    const { at, sock } = await freshModule(sim!.port);
    const transcript: Array<[string, string]> = [
      ['AT', OK],
      ['ATI', `\r\nBX3105\r\n${OK}`],
      ['AT+FMM', `\r\nBX310x\r\n${OK}`],
      ['AT+CGMR', `\r\n2.6.3\r\n${OK}`],
      ['AT+KCERTSTORE=?', '\r\nERROR\r\n'],
      ['AT+KCERTSTORE=', CME(917)],
      ['AT+KCERTSTORE=1', CME(917)],
      ['AT+KCERTSTORE=0,1,1,1', CME(915)],
      ['AT+KCERTSTORE=2', CME(916)],
      ['AT+KCERTDELETE=1,3', CME(918)],
      ['AT+KCERTDELETE=,1', CME(916)],
      ['AT+KPRIVKSTORE=1', CME(917)],
      ['AT+KPRIVKSTORE?', CME(918)],
      ['AT+KPRIVKDELETE=3', '\r\nERROR\r\n'],
      ['AT+KMQTTCFG=0,srv,1883,4', CME(917)],
      ['AT+KMQTTCFG=0,srv,1883,4,id,60,1,0,,,0,0,u,p,x', CME(915)],
      ['AT+KMQTTCFG=0,srv,1883,5,id', CME(916)],
      ['AT+KMQTTCFG=0,srv,1883,4,"Euler/Test', '\r\nERROR\r\n'],
      ['AT+KMQTTCFG=0,srv,1883,4,euler@123', `\r\n+KMQTTCFG: 1\r\n${OK}`],
      ['AT+KMQTTCFG?', `\r\n+KMQTTCFG: 1,"srv",1883,4,"euler@123",60,1,0,,,0,0,,\r\n${OK}`],
      ['AT+KMQTTCLOSE=1', CME(922)],
      ['AT+KMQTTCLOSE=2,1', CME(910)],
      ['AT+KMQTTCLOSE=1,1', CME(915)],
      ['AT+KMQTTCLOSE=-1', CME(916)],
      ['AT+KMQTTPUB=1,"t",0,0,"m"', CME(922)],
      ['AT+KMQTTPUB=1,"t",3,0,"m"', CME(916)],
      ['AT+KMQTTSUB=1,"t"', CME(917)],
      ['AT+KMQTTUNSUB=9,"t"', CME(910)],
      ['AT+KMQTTDEL=1', OK],
      ['AT+KMQTTCFG=0,srv,1883,4,again', `\r\n+KMQTTCFG: 1\r\n${OK}`],
      ['AT+KMQTTDEL=1', OK],
      ['AT+SRWSTACFG?', `\r\n+SRWSTACFG: "bx-hil-sim","bx-hil-sim",1\r\n${OK}`],
    ];
    const got: Array<[string, string]> = [];
    for (const [cmd] of transcript) got.push([cmd, await at.cmd(cmd)]);
    expect(got).toEqual(transcript.map(([cmd, answer]) => [cmd, echoed(cmd, answer)]));
    await closeTcp(sock);
  });

  test('data mode over TCP: store, read back, delete; a CR-only upload answers ERROR [report]', async () => {
    const { at, sock } = await freshModule(sim!.port);
    expect(await at.cmd('ATE0')).toBe(echoed('ATE0', OK));
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    for (const [data, final] of [
      [pem.replace(/\n/g, '\r'), '\r\nERROR\r\n'],
      [pem, OK],
    ]) {
      expect(await at.cmd(`AT+KCERTSTORE=1,${data!.length},1`)).toBe('\r\nCONNECT\r\n');
      at.send(data!);
      await new Promise((r) => setTimeout(r, 100)); // the guard time +++ needs (silence first) [BX-L 100 ms]
      at.send('+++');
      expect(await at.until(/\r\n(OK|ERROR)\r\n/, 5_000)).toBe(final);
    }
    expect(await at.cmd('AT+KCERTSTORE?')).toBe(`\r\n+KCERTSTORE\r\nlocal_cert,1,${pem.length}\r\n${pem}\r\n${OK}`);
    expect(await at.cmd('AT+KCERTDELETE=1,1')).toBe(OK);
    expect(await at.cmd('AT+KCERTSTORE?')).toBe(`\r\n+KCERTSTORE\r\n${OK}`);
    expect(await at.cmd('ATE1')).toBe(OK);
    await closeTcp(sock);
  });

  test('bad input: an over-long line, binary garbage and +++ outside data mode answer ERROR; the module stays usable', async () => {
    const { at, sock } = await freshModule(sim!.port);
    expect(await at.cmd('ATE0')).toBe(echoed('ATE0', OK));
    expect(await at.cmd(`AT+KMQTTCFG=0,${'x'.repeat(5_000)},1883,4,id`, 10_000)).toBe('\r\nERROR\r\n');
    at.send(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x0d]));
    expect(await at.until(/\r\n(OK|ERROR)\r\n/)).toBe('\r\nERROR\r\n');
    expect(await at.cmd('+++')).toBe('\r\nERROR\r\n');
    expect(await at.cmd('AT')).toBe(OK);
    expect(await at.cmd('ATE1')).toBe(OK);
    await closeTcp(sock);
  });

  test('a second client is refused with one line while the first is connected; a new client finds the same state', async () => {
    const first = await freshModule(sim!.port);
    expect(await first.at.cmd('AT+KMQTTCFG=0,keep.example,1883,4,kept')).toBe(
      echoed('AT+KMQTTCFG=0,keep.example,1883,4,kept', `\r\n+KMQTTCFG: 1\r\n${OK}`),
    );
    const second = await tcp(sim!.port);
    expect(await second.at.until(BUSY_LINE)).toBe(BUSY_LINE);
    await new Promise<void>((r) => (second.sock.destroyed ? r() : second.sock.once('close', () => r())));
    expect(await first.at.cmd('AT')).toBe(echoed('AT', OK));
    await closeTcp(first.sock);
    // The sim frees the slot when it sees the close: wait for that, not for a time.
    const third = await connectWhenFree(sim!.port);
    expect(await third.at.cmd('AT+KMQTTCFG?')).toBe(
      echoed('AT+KMQTTCFG?', `\r\n+KMQTTCFG: 1,"keep.example",1883,4,"kept",60,1,0,,,0,0,,\r\n${OK}`),
    );
    expect(await third.at.cmd('AT+KMQTTDEL=1')).toBe(echoed('AT+KMQTTDEL=1', OK));
    await closeTcp(third.sock);
  });
});

describe.skipIf(!hasMosquitto)(
  'MQTT round trips with Mosquitto and mosquitto_pub/sub (skipped when mosquitto is not installed)',
  () => {
    let pki: BasicPki;
    let dir: string;
    let broker: ChildProcess | undefined;
    let plainPort = 0;
    let tlsPort = 0;
    const files = { ca: '', cert: '', key: '', clientCert: '', clientKey: '' };

    beforeAll(async () => {
      pki = await createBasicPki();
      dir = mkdtempSync(join(tmpdir(), 'bxhil-mosq-'));
      // mosquitto started as root drops to user mosquitto before reading its files (docs/reference/dependencies.md P11)
      chmodSync(dir, 0o755);
      const write = (name: string, text: string) => {
        const p = join(dir, name);
        writeFileSync(p, text);
        chmodSync(p, 0o644);
        return p;
      };
      files.ca = write('ca.crt', pki.ca.certPem);
      files.cert = write('server.crt', pki.server.certPem);
      files.key = write('server.key', pki.server.keyPem);
      files.clientCert = write('client.crt', pki.client.certPem);
      files.clientKey = write('client.key', pki.client.keyPem);
      plainPort = await freePort();
      tlsPort = await freePort();
      const conf = write(
        'mosquitto.conf',
        [
          'per_listener_settings false',
          'allow_anonymous true',
          'persistence false',
          'log_dest stderr',
          `listener ${plainPort} 127.0.0.1`,
          `listener ${tlsPort} 127.0.0.1`,
          `cafile ${files.ca}`,
          `certfile ${files.cert}`,
          `keyfile ${files.key}`,
          'require_certificate true',
          '',
        ].join('\n'),
      );
      broker = spawnTracked('mosquitto', ['-c', conf]);
      await waitPort(plainPort, 10_000);
      await waitPort(tlsPort, 10_000);
    }, 30_000);

    afterAll(async () => {
      await stopChild(broker);
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** The mosquitto_sub/mosquitto_pub arguments naming the broker and the topic. */
    function target(topic: string, tlsArgs: string[], port: number): string[] {
      return ['-h', tlsArgs.length ? 'localhost' : '127.0.0.1', '-p', String(port), ...tlsArgs, '-t', topic];
    }

    /** mosquitto_sub that has its SUBACK; resolves the first "topic payload" line. */
    async function subscriber(topic: string, tlsArgs: string[], port: number): Promise<{ line: Promise<string> }> {
      // stdbuf: mosquitto_sub's stdout is a pipe, fully buffered; we need the SUBACK line at once
      const child = spawnTracked('stdbuf', [
        '-oL',
        'mosquitto_sub',
        ...target(topic, tlsArgs, port),
        '-C',
        '1',
        '-W',
        '20',
        '-v',
        '-d',
        '-q',
        '1',
      ]);
      let out = '';
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`mosquitto_sub got no SUBACK: ${out}`)), 10_000);
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('SUBACK')) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      // Wrapped in an object: an async function returning a bare promise would wait for it.
      return {
        line: new Promise<string>((resolve) => {
          child.once('exit', () => resolve(out.split('\n').find((l) => l.startsWith(`${topic} `)) ?? out));
        }),
      };
    }

    function publish(topic: string, message: string, tlsArgs: string[], port: number): Promise<number | null> {
      const child = spawnTracked('mosquitto_pub', [...target(topic, tlsArgs, port), '-m', message, '-q', '1']);
      return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    }

    async function roundTrip(at: RawClient, cfg: string, tlsArgs: string[], port: number, tag: string): Promise<void> {
      expect(await at.cmd(`AT+KMQTTCFG=${cfg}`)).toBe(`\r\n+KMQTTCFG: 1\r\n${OK}`);
      expect(await at.cmd('AT+KMQTTCNX=1')).toBe(OK);
      expect(await at.until(/\+KMQTT_IND: 1,\d\r\n/, 15_000)).toBe('\r\n+KMQTT_IND: 1,1\r\n');
      // module → broker → mosquitto_sub
      const received = await subscriber(`bx/${tag}/up`, tlsArgs, port);
      expect(await at.cmd(`AT+KMQTTPUB=1,"bx/${tag}/up",1,0,"hello-${tag}"`)).toBe(OK);
      expect(await at.until('+KMQTT_IND: 1,4\r\n', 10_000)).toBe('\r\n+KMQTT_IND: 1,4\r\n');
      expect(await received.line).toBe(`bx/${tag}/up hello-${tag}`);
      // mosquitto_pub → broker → module
      expect(await at.cmd(`AT+KMQTTSUB=1,"bx/${tag}/down",1`)).toBe(OK);
      expect(await at.until('+KMQTT_IND: 1,2\r\n', 10_000)).toBe('\r\n+KMQTT_IND: 1,2\r\n');
      expect(await publish(`bx/${tag}/down`, `ping-${tag}`, tlsArgs, port)).toBe(0);
      expect(await at.until(`+KMQTT_DATA: 1,"bx/${tag}/down","ping-${tag}"\r\n`, 10_000)).toBe(
        `\r\n+KMQTT_DATA: 1,"bx/${tag}/down","ping-${tag}"\r\n`,
      );
      expect(await at.cmd('AT+KMQTTCLOSE=1')).toBe(OK);
      expect(await at.cmd('AT+KMQTTDEL=1')).toBe(OK);
    }

    test('plain TCP: KMQTTPUB reaches mosquitto_sub, mosquitto_pub arrives as +KMQTT_DATA', async () => {
      const { at, sock } = await freshModule(sim!.port);
      try {
        expect(await at.cmd('ATE0')).toBe(echoed('ATE0', OK));
        await roundTrip(at, `0,127.0.0.1,${plainPort},4,"bx-plain"`, [], plainPort, 'plain');
      } finally {
        await closeTcp(sock);
      }
    }, 60_000);

    test('mutual TLS: certificates uploaded over AT, require_certificate broker, same round trip', async () => {
      const { at, sock } = await freshModule(sim!.port);
      try {
        expect(await at.cmd('ATE0')).toBe(echoed('ATE0', OK));
        const uploads: Array<[string, string]> = [
          [`AT+KCERTSTORE=0,${pki.ca.certPem.length}`, pki.ca.certPem],
          [`AT+KCERTSTORE=1,${pki.client.certPem.length},0`, pki.client.certPem],
          [`AT+KPRIVKSTORE=0,${pki.client.keyPem.length}`, pki.client.keyPem],
        ];
        for (const [cmd, data] of uploads) {
          expect(await at.cmd(cmd)).toBe('\r\nCONNECT\r\n');
          at.send(data);
          await new Promise((r) => setTimeout(r, 100)); // the guard time +++ needs [BX-L 100 ms]
          at.send('+++');
          expect(await at.until(/\r\n(OK|ERROR|\+CME ERROR: \d+)\r\n/, 5_000)).toBe(OK);
        }
        const tlsArgs = ['--cafile', files.ca, '--cert', files.clientCert, '--key', files.clientKey];
        await roundTrip(at, `1,"localhost",${tlsPort},4,"bx-mtls"`, tlsArgs, tlsPort, 'mtls');
      } finally {
        await closeTcp(sock);
      }
    }, 60_000);
  },
);

describe.skipIf(!hasSocat)('bx-hil sim --pty (skipped when socat is not installed)', () => {
  test(
    'serves the module on a pseudo-terminal through socat, which holds the one TCP client slot; --timing realistic paces it',
    async () => {
      const pty = ptyPath;
      const served = await ptySim!;
      try {
        expect(served.line).toBe(
          `bx-hil sim: listening on tcp://127.0.0.1:${served.port} and ${pty} (profile legacy, timing realistic)`,
        );
        expect(existsSync(pty)).toBe(true);
        const port = new SerialPort({ path: pty, baudRate: 115_200 });
        await new Promise<void>((resolve, reject) => port.once('open', () => resolve()).once('error', reject));
        const at = new RawClient(port);
        try {
          expect(await at.cmd('AT+CGMR')).toBe(`AT+CGMR\r\r\n1.3.0\r\n${OK}`);
          // Realistic timing through the PTY: the upload's OK waits for flash, and the module's
          // answer crosses at 115200 baud (legacy realistic: 10 bit times per byte).
          expect(await at.cmd('AT+KCERTSTORE=0')).toContain('CONNECT');
          at.send(AMAZON_ROOT_CA_1);
          await new Promise((r) => setTimeout(r, 100)); // the pre-guard a host keeps before +++
          at.send('+++');
          expect(await at.until(FINAL, 10_000)).toBe(OK);
          const t0 = performance.now();
          const listing = await at.cmd('AT+KCERTSTORE?', 10_000);
          expect(listing).toContain(AMAZON_ROOT_CA_1.trim().slice(-40));
          expect(performance.now() - t0).toBeGreaterThanOrEqual((listing.length * 10_000) / 115_200 - 1);
          const other = await tcp(served.port);
          expect(await other.at.until(BUSY_LINE)).toBe(BUSY_LINE);
        } finally {
          await new Promise((r) => port.close(r));
        }
      } finally {
        await stopChild(served.child);
      }
      expect(existsSync(pty)).toBe(false); // socat was killed with the sim and removed its link
    },
    START_MS + 20_000,
  );
});
