import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { HarnessError } from '../errors.ts';
import {
  preflightDevice,
  preflightFailure,
  preflightToTap,
  type PreflightModule,
  type PreflightPort,
} from './preflight.ts';
import { parseLab } from './lab.ts';

const dir = await mkdtemp(join(tmpdir(), 'bxhil-preflight-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

interface FakeOpts {
  openFails?: boolean;
  atFails?: boolean;
  firmware?: string;
  identityFails?: boolean;
  wifiFails?: boolean;
  brokerFails?: boolean;
}

/** A fake module that records what preflight asked of it. */
function fakePort(o: FakeOpts = {}) {
  const calls: string[] = [];
  let brokerClosed = 0;
  let moduleClosed = 0;
  const mod: PreflightModule = {
    async ping() {
      calls.push('ping');
      if (o.atFails) throw new HarnessError('BXHIL_AT_TIMEOUT', 'no answer to AT within 5000 ms');
    },
    async identity() {
      calls.push('identity');
      if (o.identityFails) throw new HarnessError('BXHIL_CME', '+CME ERROR: 3 on AT+CGMR');
      return { model: 'BX3105', firmware: o.firmware ?? '2.6.3' };
    },
    async joinWifi(ssid, password) {
      calls.push(`wifi ${ssid} ${password.length}`);
      if (o.wifiFails) throw new HarnessError('BXHIL_WIFI', 'auth failed (reason 202)');
    },
    async mqttProbe(host, port) {
      calls.push(`probe ${host}:${port}`);
      if (o.brokerFails) throw new HarnessError('BXHIL_MQTT_ABORTED', '+KMQTT_IND: 1,0');
    },
    async close() {
      moduleClosed++;
    },
  };
  const port: PreflightPort = {
    async open() {
      if (o.openFails) throw new HarnessError('BXHIL_LINK_OPEN', 'cannot open /dev/serial/by-id/x: No such file');
      return mod;
    },
    async startProbeBroker() {
      return { port: 41883, close: async () => void brokerClosed++ };
    },
  };
  return { port, calls, closed: () => ({ brokerClosed, moduleClosed }) };
}

const rig = parseLab({
  devices: [
    { id: 'a', uri: 'sim:2.6.3', firmware: '2.6.3', wifi: { ssid: 'lab', password: 'pw-secret' } },
    { id: 'b', uri: 'sim:legacy' },
  ],
});
const [withWifi, plain] = rig.devices as [(typeof rig.devices)[0], (typeof rig.devices)[0]];

describe('preflight', () => {
  test('a healthy rig passes every step and closes what it opened', async () => {
    const f = fakePort();
    const r = await preflightDevice(withWifi, f.port);
    expect(r.ok).toBe(true);
    expect(r.firmware).toBe('2.6.3');
    expect(r.steps.map((s) => `${s.name}:${s.status}`)).toEqual([
      'port:ok',
      'at:ok',
      'firmware:ok',
      'firmware-expected:ok',
      'wifi:ok',
      'broker:ok',
    ]);
    expect(f.calls).toEqual(['ping', 'identity', 'wifi lab 9', 'probe 127.0.0.1:41883']);
    expect(f.closed()).toEqual({ brokerClosed: 1, moduleClosed: 1 });
  });

  test.each([
    ['openFails', 'port', 'rig', 'BXHIL_LINK_OPEN'],
    ['atFails', 'at', 'rig', 'BXHIL_AT_TIMEOUT'],
    ['identityFails', 'firmware', 'firmware', 'BXHIL_CME'],
    ['wifiFails', 'wifi', 'rig', 'BXHIL_WIFI'],
    ['brokerFails', 'broker', 'rig', 'BXHIL_PREFLIGHT_BROKER'],
  ] as const)(
    '%s: the first failure is step %s, a %s problem, and later steps are skipped',
    async (flag, stepName, category, code) => {
      const f = fakePort({ [flag]: true });
      const r = await preflightDevice(withWifi, f.port);
      expect(r.ok).toBe(false);
      const first = preflightFailure(r)!;
      expect(first).toMatchObject({ name: stepName, category, code });
      const after = r.steps.slice(r.steps.indexOf(first) + 1);
      expect(after.every((s) => s.status === 'skip')).toBe(true);
      expect(f.closed().brokerClosed).toBe(flag === 'brokerFails' ? 1 : 0);
    },
  );

  test('a firmware other than the expected one is a rig problem naming both versions', async () => {
    const r = await preflightDevice(withWifi, fakePort({ firmware: '2.5.0' }).port);
    const first = preflightFailure(r)!;
    expect(first).toMatchObject({
      name: 'firmware-expected',
      category: 'rig',
      code: 'BXHIL_PREFLIGHT_FIRMWARE_MISMATCH',
    });
    expect(first.detail).toContain('2.5.0');
  });

  test('no Wi-Fi credentials: the Wi-Fi step is skipped with the reason', async () => {
    const r = await preflightDevice(plain, fakePort().port);
    expect(r.ok).toBe(true);
    expect(r.steps.find((s) => s.name === 'wifi')).toMatchObject({
      status: 'skip',
      detail: expect.stringMatching(/no wifi credentials/),
    });
  });

  test('TAP output: one point per step, diagnostics on failure, no password', async () => {
    const good = await preflightDevice(withWifi, fakePort().port);
    const bad = await preflightDevice({ ...plain, id: 'b' }, fakePort({ atFails: true }).port);
    const tap = preflightToTap([good, bad]);
    expect(tap).toMatch(/^TAP version 13\n1\.\.11\n/);
    expect(tap).toContain('ok 1 - a: port opens (sim:2.6.3)');
    expect(tap).toContain('not ok 8 - b: AT answers');
    expect(tap).toContain('  category: rig problem');
    expect(tap).toContain('# SKIP');
    expect(tap).not.toContain('pw-secret');
  });

  test('tap-junit turns the TAP into JUnit XML with the failure', async () => {
    const bad = await preflightDevice(plain, fakePort({ identityFails: true }).port);
    const tap = preflightToTap([bad]);
    const bin = join(process.cwd(), 'node_modules', '.bin', 'tap-junit');
    const r = spawnSync(bin, ['-o', dir, '-n', 'preflight.xml'], { input: tap, encoding: 'utf8', timeout: 20_000 });
    // tap-junit exits 1 when a test failed, and still writes the file (docs/reference/dependencies.md §2.7).
    expect(r.status).toBe(1);
    const xml = await readFile(join(dir, 'preflight.xml'), 'utf8');
    expect(xml).toMatch(/<testsuites[^>]*name="preflight.xml"/);
    expect(xml).toMatch(/tests="5"/);
    expect(xml).toMatch(/<failure[^>]*>/);
    expect(xml).toContain('firmware read');
  });
});
