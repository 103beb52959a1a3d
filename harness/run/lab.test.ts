import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError } from '../errors.ts';
import { deviceIdFromUri, describeLab, loadLabFile, parseLab, parseLabText, labFromDevice } from './lab.ts';

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

describe('lab file', () => {
  test('a complete YAML rig parses into typed devices with defaults filled', () => {
    const rig = parseLabText(yaml);
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

  test('the example lab files (examples/lab.yaml, the README) parse, and their known issue states CME 918', async () => {
    const repo = new URL('../../', import.meta.url);
    const example = await loadLabFile(new URL('examples/lab.yaml', repo).pathname);
    const readme = readFileSync(new URL('README.md', repo), 'utf8');
    const block = /## Lab file\n\n```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block, 'README "## Lab file" yaml block').toBeDefined();
    for (const rig of [example, parseLabText(block!, 'README.md')]) {
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
    const rig = await loadLabFile(path);
    expect(rig.devices[0]).toMatchObject({ id: 'virt', uri: 'sim:legacy', hostAddress: '127.0.0.1' });
  });

  test('errors name the field', () => {
    expect(configErr(() => parseLab({ devices: [{ uri: 'sim:2.6.3' }, { id: 'x' }] })).field).toBe('devices[1].uri');
    expect(configErr(() => parseLab({ devices: [] })).field).toBe('devices');
    expect(
      configErr(() => parseLab({ devices: [{ uri: 'sim:a', powerCycle: { command: 'x', timeoutMs: -1 } }] })).field,
    ).toBe('devices[0].powerCycle.timeoutMs');
    expect(
      configErr(() => parseLab({ devices: [{ uri: 'sim:a', knownIssues: [{ test: 't', reason: 'r' }] }] })).field,
    ).toBe('devices[0].knownIssues[0].source');
    // A known issue states how its test fails; without it, it would excuse any failure.
    const noExpects = configErr(() =>
      parseLab({ devices: [{ uri: 'sim:a' }], knownIssues: [{ test: 't', reason: 'r', source: 's' }] }),
    );
    expect(noExpects.field).toBe('knownIssues[0].expects');
    expect(noExpects.message).toMatch(/^knownIssues\[0\]\.expects: required: .*\{ code: BXHIL_CME, cme: 918 \}/);
    expect(
      configErr(() =>
        parseLab({
          devices: [{ uri: 'sim:a', knownIssues: [{ test: 't', reason: 'r', source: 's', expects: { cme: 918 } }] }],
        }),
      ).field,
    ).toBe('devices[0].knownIssues[0].expects.cme');
    expect(configErr(() => parseLab({ devices: [{ uri: 'sim:a', baud: 9600 }] })).field).toBe('devices[0].baud');
    expect(
      configErr(() =>
        parseLab({
          devices: [
            { uri: 'sim:a', id: 'd' },
            { uri: 'sim:b', id: 'd' },
          ],
        }),
      ).field,
    ).toBe('devices[1].id');
    expect(configErr(() => parseLab({ devices: [{ uri: 'not a uri' }] })).field).toBe('devices[0].uri');
    expect(configErr(() => parseLab({ version: 2, devices: [{ uri: 'sim:a' }] })).field).toBe('version');
    expect(configErr(() => parseLabText('devices: [ {uri: ')).code).toBe('BXHIL_CONFIG');
  });

  test('a missing file is a config error that names the path', async () => {
    const err = await loadLabFile(join(dir, 'nope.yaml')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).field).toBe('--lab');
  });

  test('the Wi-Fi password never appears in errors or in describeLab', () => {
    const err = configErr(() =>
      parseLab({ devices: [{ uri: 'sim:a', wifi: { ssid: 'x', password: { nested: 'hunter2' } } }] }),
    );
    expect(err.field).toBe('devices[0].wifi.password');
    expect(err.message + JSON.stringify(err.value)).not.toContain('hunter2');
    const text = describeLab(parseLabText(yaml));
    expect(text).not.toContain('s3cret!');
    expect(text).toContain('"password": "***"');
  });

  test('an unstable /dev/ttyUSB path is a warning, not an error', () => {
    const rig = parseLab({ devices: ['/dev/ttyUSB0'] });
    expect(rig.devices[0]!.uri).toBe('/dev/ttyUSB0');
    expect(rig.warnings[0]).toMatch(/by-id/);
  });

  test('device ids derived from URIs are path-safe', () => {
    expect(deviceIdFromUri('sim:2.6.3')).toBe('sim-2.6.3');
    expect(deviceIdFromUri('/dev/serial/by-id/usb-Sierra_BX-if00')).toBe('usb-Sierra_BX-if00');
    expect(deviceIdFromUri('tcp://10.0.0.2:4000')).toBe('tcp-10.0.0.2-4000');
    expect(labFromDevice('sim:legacy').devices[0]!.id).toBe('sim-legacy');
  });
});

describe('lab strings are what the user wrote', () => {
  test.each(['00000000', '0123456789', '12345678'])(
    'a YAML number as wifi.password (%s) is refused with "quote it", never quoted back',
    (pw) => {
      const err = configErr(() =>
        parseLabText(`devices:\n  - uri: sim:2.6.3\n    wifi: { ssid: lab, password: ${pw} }\n`),
      );
      expect(err.field).toBe('devices[0].wifi.password');
      expect(err.message).toMatch(/quote it/);
      expect(err.message + JSON.stringify(err.value)).not.toMatch(/\d{4}/);
      // Quoted, the same text is kept exactly.
      const rig = parseLabText(`devices:\n  - uri: sim:2.6.3\n    wifi: { ssid: lab, password: "${pw}" }\n`);
      expect(rig.devices[0]!.wifi!.password).toBe(pw);
    },
  );

  test('a YAML number as wifi.ssid is refused with "quote it"', () => {
    const err = configErr(() => parseLabText('devices:\n  - uri: sim:2.6.3\n    wifi: { ssid: 0042, password: x }\n'));
    expect(err.field).toBe('devices[0].wifi.ssid');
    expect(err.message).toMatch(/quote it/);
  });

  test.each([
    ['devices[0].wifi.ssid', { uri: 'sim:2.6.3', wifi: { ssid: 'lab\r\nok 9 - forged', password: 'x' } }],
    ['devices[0].wifi.password', { uri: 'sim:2.6.3', wifi: { ssid: 'lab', password: 'pw\u001b[2J' } }],
    ['devices[0].firmware', { uri: 'sim:2.6.3', firmware: '2.6.3\u001b[31m' }],
    ['devices[0].uri', { uri: 'sim:2.6.3\u0007' }],
    ['devices[0].flash', { uri: 'sim:2.6.3', flash: 'flash\u001b[2J' }],
    ['devices[0].powerCycle.command', { uri: 'sim:2.6.3', powerCycle: { command: 'relay\r off' } }],
    [
      'devices[0].knownIssues[0].reason',
      { uri: 'sim:2.6.3', knownIssues: [{ test: 't', reason: 'r\u009b', source: 's' }] },
    ],
  ])('a control character in %s is refused, naming the field', (field, device) => {
    const err = configErr(() => parseLab({ devices: [device] }));
    expect(err.field).toBe(field);
    expect(err.message).toMatch(/control character \\x[0-9a-f]{2}/);
    if (field.endsWith('password')) expect(err.message + JSON.stringify(err.value)).not.toContain('pw');
  });

  test('a multi-line shell command keeps its line breaks', () => {
    const rig = parseLab({ devices: [{ uri: 'sim:2.6.3', powerCycle: 'relay off\nsleep 1\nrelay on' }] });
    expect(rig.devices[0]!.powerCycle!.command).toBe('relay off\nsleep 1\nrelay on');
  });

  test.each(['not an ip', '999.1.1.1', 'host_name', '-bad.example'])('hostAddress "%s" is refused', (host) => {
    expect(configErr(() => parseLab({ hostAddress: host, devices: ['sim:2.6.3'] })).field).toBe('hostAddress');
    expect(configErr(() => labFromDevice('sim:2.6.3', { hostAddress: host })).field).toBe('devices[0].hostAddress');
  });

  test.each(['192.168.1.10', '::1', 'bench-pc.local', 'localhost'])('hostAddress "%s" is accepted', (host) => {
    expect(labFromDevice('sim:2.6.3', { hostAddress: host }).devices[0]!.hostAddress).toBe(host);
  });
});
