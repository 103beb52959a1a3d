import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError } from '../errors.ts';
import { deviceIdFromUri, describeRig, loadRigFile, parseRig, parseRigText, rigFromDevice } from './rig.ts';

const dir = await mkdtemp(join(tmpdir(), 'bxhil-rig-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

function configErr(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const yaml = `
version: 1
hostAddress: 192.168.7.1
devices:
  - id: bench-a
    uri: /dev/serial/by-id/usb-Sierra_BX3105-if00-port0
    firmware: 2.6.3
    wifi: { ssid: lab-ap, password: "s3cret!" }
    powerCycle: { command: "relay {device} off; relay {device} on", timeoutMs: 15000 }
    flash: "flash-tool --port {uri}"
    knownIssues:
      - test: "cert-upload/key store/read form lists stored keys"
        reason: "918 on read form"
        source: "field report 2.6.3"
        expects: { code: BXHIL_CME, cme: 918 }
  - uri: rfc2217://lab-ser2net:4001
    hostAddress: 10.0.0.5
knownIssues:
  - { test: "mqtt/qos 2*", reason: "QoS 2 not implemented", source: "[guess]", expects: { code: BXHIL_AT_TIMEOUT } }
`;

describe('rig file', () => {
  test('a complete YAML rig parses into typed devices with defaults filled', () => {
    const rig = parseRigText(yaml);
    expect(rig.devices).toHaveLength(2);
    const [a, b] = rig.devices;
    expect(a).toMatchObject({
      id: 'bench-a',
      firmware: '2.6.3',
      hostAddress: '192.168.7.1',
      wifi: { ssid: 'lab-ap', password: 's3cret!' },
      powerCycle: { timeoutMs: 15_000 },
      flash: { command: 'flash-tool --port {uri}', timeoutMs: 60_000 },
    });
    expect(a!.knownIssues[0]).toMatchObject({ source: 'field report 2.6.3', expects: { code: 'BXHIL_CME', cme: 918 } });
    expect(b).toMatchObject({ id: 'rfc2217-lab-ser2net-4001', hostAddress: '10.0.0.5', knownIssues: [] });
    expect(rig.knownIssues).toHaveLength(1);
    expect(rig.warnings).toEqual([]);
  });

  test('the example rig files (examples/rig.yaml, the README) parse, and their known issue states CME 918', async () => {
    const repo = new URL('../../', import.meta.url);
    const example = await loadRigFile(new URL('examples/rig.yaml', repo).pathname);
    const readme = readFileSync(new URL('README.md', repo), 'utf8');
    const block = /## Rig file\n\n```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block, 'README "## Rig file" yaml block').toBeDefined();
    for (const rig of [example, parseRigText(block!, 'README.md')]) {
      const issues = rig.devices.flatMap((d) => d.knownIssues);
      expect(issues).toEqual([
        expect.objectContaining({
          test: expect.stringMatching(/^cert-upload\/private keys\/read form/),
          expects: { code: 'BXHIL_CME', cme: 918 },
        }),
      ]);
    }
  });

  test('JSON is accepted too', async () => {
    const path = join(dir, 'rig.json');
    await writeFile(path, JSON.stringify({ devices: [{ uri: 'sim:legacy', id: 'virt' }] }));
    const rig = await loadRigFile(path);
    expect(rig.devices[0]).toMatchObject({ id: 'virt', uri: 'sim:legacy', hostAddress: '127.0.0.1' });
  });

  test('errors name the field', () => {
    expect(configErr(() => parseRig({ devices: [{ uri: 'sim:2.6.3' }, { id: 'x' }] })).field).toBe('devices[1].uri');
    expect(configErr(() => parseRig({ devices: [] })).field).toBe('devices');
    expect(
      configErr(() => parseRig({ devices: [{ uri: 'sim:a', powerCycle: { command: 'x', timeoutMs: -1 } }] })).field,
    ).toBe('devices[0].powerCycle.timeoutMs');
    expect(
      configErr(() => parseRig({ devices: [{ uri: 'sim:a', knownIssues: [{ test: 't', reason: 'r' }] }] })).field,
    ).toBe('devices[0].knownIssues[0].source');
    // A known issue states how its test fails; without it, it would excuse any failure (issue 9).
    const noExpects = configErr(() =>
      parseRig({ devices: [{ uri: 'sim:a' }], knownIssues: [{ test: 't', reason: 'r', source: 's' }] }),
    );
    expect(noExpects.field).toBe('knownIssues[0].expects');
    expect(noExpects.message).toMatch(/^knownIssues\[0\]\.expects: required: .*\{ code: BXHIL_CME, cme: 918 \}/);
    expect(
      configErr(() =>
        parseRig({
          devices: [{ uri: 'sim:a', knownIssues: [{ test: 't', reason: 'r', source: 's', expects: { cme: 918 } }] }],
        }),
      ).field,
    ).toBe('devices[0].knownIssues[0].expects.cme');
    expect(configErr(() => parseRig({ devices: [{ uri: 'sim:a', baud: 9600 }] })).field).toBe('devices[0].baud');
    expect(
      configErr(() =>
        parseRig({
          devices: [
            { uri: 'sim:a', id: 'd' },
            { uri: 'sim:b', id: 'd' },
          ],
        }),
      ).field,
    ).toBe('devices[1].id');
    expect(configErr(() => parseRig({ devices: [{ uri: 'not a uri' }] })).field).toBe('devices[0].uri');
    expect(configErr(() => parseRig({ version: 2, devices: [{ uri: 'sim:a' }] })).field).toBe('version');
    expect(configErr(() => parseRigText('devices: [ {uri: ')).code).toBe('BXHIL_CONFIG');
  });

  test('a missing file is a config error that names the path', async () => {
    const err = await loadRigFile(join(dir, 'nope.yaml')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).field).toBe('--rig');
  });

  test('the Wi-Fi password never appears in errors or in describeRig', () => {
    const err = configErr(() =>
      parseRig({ devices: [{ uri: 'sim:a', wifi: { ssid: 'x', password: { nested: 'hunter2' } } }] }),
    );
    expect(err.field).toBe('devices[0].wifi.password');
    expect(err.message + JSON.stringify(err.value)).not.toContain('hunter2');
    const text = describeRig(parseRigText(yaml));
    expect(text).not.toContain('s3cret!');
    expect(text).toContain('"password": "***"');
  });

  test('an unstable /dev/ttyUSB path is a warning, not an error', () => {
    const rig = parseRig({ devices: ['/dev/ttyUSB0'] });
    expect(rig.devices[0]!.uri).toBe('/dev/ttyUSB0');
    expect(rig.warnings[0]).toMatch(/by-id/);
  });

  test('device ids derived from URIs are path-safe', () => {
    expect(deviceIdFromUri('sim:2.6.3')).toBe('sim-2.6.3');
    expect(deviceIdFromUri('/dev/serial/by-id/usb-Sierra_BX-if00')).toBe('usb-Sierra_BX-if00');
    expect(deviceIdFromUri('tcp://10.0.0.2:4000')).toBe('tcp-10.0.0.2-4000');
    expect(rigFromDevice('sim:legacy').devices[0]!.id).toBe('sim-legacy');
  });
});
