/**
 * lab-chain: the lab layout end to end. The virtual module runs as its own process
 * (`bx-hil sim --pty`), socat gives it a pseudo-terminal, a real ser2net exports that terminal
 * with an RFC 2217 (telnet COM-PORT-OPTION) accepter, and the harness drives it over
 * `rfc2217://127.0.0.1:<port>` exactly as it drives a module in a rack: identity, a certificate
 * stored and read back through data mode, a line-speed change, and an MQTT-over-TLS connect to
 * the broker rig.
 *
 * Glossary: sim process = `bx-hil sim` (the module); socat = PTY ↔ the sim's TCP port;
 * ser2net = the lab's serial server on that PTY; link = our RFC 2217 client; rig = the broker in
 * this test process.
 *
 * Needs socat and ser2net (CI installs them); builds its own virtual module, so it runs only when
 * the suites target the virtual module.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { startBrokerRig, type BrokerRig } from '../harness/broker/index.ts';
import { Bx310x } from '../harness/bx310x/index.ts';
import { closeAll } from '../harness/errors.ts';
import { openLink } from '../harness/link/index.ts';
import { startSer2net, type Ser2net } from '../harness/link/testing.ts';
import { createBasicPki, encodeKey, KeyPool, type BasicPki } from '../harness/pki/index.ts';
import { killOnExit } from '../harness/processes.ts';
import { hasTool, hil } from './fixtures.ts';
import { clientId, configureSession, provision, recordVerdict, tryConnect, waits } from './helpers.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const device = process.env['BX_DEVICE'] ?? 'sim:2.6.3';
const profile = device.startsWith('sim:') ? device.slice(4).split('?')[0] || '2.6.3' : undefined;
const BROKER_NAME = 'broker.bx-hil.test';
const tools = hasTool('socat') && hasTool('ser2net');

interface Chain {
  dir: string;
  sim: ChildProcess;
  ser2net: Ser2net;
  rig: BrokerRig;
  pki: BasicPki;
  dut: Bx310x;
}
let chain: Chain | undefined;
const closers: Array<() => unknown> = [];

/** Start `bx-hil sim --pty` and wait (bounded) for its ready line. */
function startSim(pty: string, rigPort: number): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        join(root, 'bin', 'bx-hil.js'),
        'sim',
        '--profile',
        profile!,
        '--pty',
        pty,
        '--resolve',
        `${BROKER_NAME}=127.0.0.1:${rigPort}`,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: false,
      },
    );
    killOnExit(child);
    let out = '';
    // 30 s: tsx loading every CLI command on a busy 2-core machine (the sim answers nothing before).
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bx-hil sim did not become ready within 30 s: ${out}`));
    }, 30_000);
    const onData = (c: Buffer) => {
      out += c.toString();
      if (out.includes('listening on')) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bx-hil sim exited with ${code}: ${out}`));
    });
  });
}

beforeAll(async () => {
  if (!tools || !profile) return;
  const dir = mkdtempSync(join(tmpdir(), 'bxhil-lab-'));
  closers.push(() => rmSync(dir, { recursive: true, force: true }));
  const pki = await createBasicPki({ pool: new KeyPool(), serverNames: [BROKER_NAME] });
  const rig = await startBrokerRig({ host: '127.0.0.1', port: 0, profile: 'strict', pki });
  closers.push(() => rig.close());
  const pty = join(dir, 'ttyBX');
  const sim = await startSim(pty, rig.port);
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        if (sim.exitCode !== null) return resolve();
        sim.once('exit', () => resolve());
        sim.kill('SIGTERM');
        // 3 s for a graceful exit (closing its PTY) before it is killed.
        setTimeout(() => sim.kill('SIGKILL'), 3_000).unref();
      }),
  );
  const ser2net = await startSer2net({ device: pty });
  closers.push(() => ser2net.close());
  const link = await openLink(`rfc2217://127.0.0.1:${ser2net.port}?baud=115200`);
  closers.push(() => link.close());
  // Guard times a little longer than on the in-process module: two extra hops (ser2net, socat).
  const dut = await Bx310x.open(link, { guardTimeMs: 200 });
  closers.push(() => dut.close());
  chain = { dir, sim, ser2net, rig, pki, dut };
}, 60_000); // two child processes started (sim, ser2net) on a busy machine, 30 s each at most

afterAll(() => closeAll(closers.splice(0), 'lab chain'));

const skipWhy = !tools
  ? 'needs socat and ser2net, which are not installed (CI installs them)'
  : !profile
    ? `builds its own virtual module; the target is ${device}`
    : undefined;

describe('virtual module → socat PTY → ser2net (RFC 2217) → harness', () => {
  hil(
    'identity answers through the chain',
    { scenario: '[lab] rfc2217 identity', ...(skipWhy ? { cannotStage: skipWhy } : {}) },
    async (ctx) => {
      const id = await chain!.dut.identity();
      expect(id.firmware).toBe(ctx.target.firmware);
    },
  );

  hil(
    'a certificate is stored and read back through data mode',
    { scenario: '[lab] rfc2217 KCERTSTORE', ...(skipWhy ? { cannotStage: skipWhy } : {}) },
    async () => {
      const { dut, pki } = chain!;
      await dut.deleteCert('root').catch(() => undefined);
      await dut.storeCert('root', pki.ca.certPem);
      const root = (await dut.listCerts()).root;
      expect(root?.length).toBe(Buffer.byteLength(pki.ca.certPem));
      expect(root?.pem.trim()).toBe(pki.ca.certPem.trim());
    },
  );

  hil(
    'a line-speed change is negotiated (COM-PORT-OPTION) and the module still answers',
    { scenario: '[RFC 2217] SET-BAUDRATE', ...(skipWhy ? { cannotStage: skipWhy } : {}) },
    async () => {
      const { dut } = chain!;
      await dut.link.updateSettings!({ baudRate: 57_600 });
      await dut.at.command('AT');
      await dut.link.updateSettings!({ baudRate: 115_200 });
      await dut.at.command('AT');
    },
  );

  hil(
    'MQTT over mutual TLS connects through the chain',
    { scenario: 'S1 [lab]', ...(skipWhy ? { cannotStage: skipWhy } : {}), timeoutMs: 45_000 },
    async (ctx) => {
      const { dut, pki, rig } = chain!;
      const up = await provision(dut, {
        root: pki.ca.certPem,
        clientCert: pki.client.certPem,
        clientKey: encodeKey(pki.client.key, 'sec1'),
      });
      expect(up.refused).toBeUndefined();
      const id = await configureSession(dut, { host: BROKER_NAME, port: 8883 }, { clientId: clientId('lab') });
      // The chain's module is an instant virtual module behind ser2net: the file device's waits fit it.
      const r = await tryConnect(dut, id, waits().connectMs, ctx.evidence);
      expect(r.connected).toBe(true);
      const v = await recordVerdict(rig, ctx.meta, waits().verdictMs);
      expect(v?.code).toBe('OK');
      await dut.mqttClose(id).catch(() => undefined);
      await dut.mqttDelete(id).catch(() => undefined);
    },
  );
});
