/**
 * A lab device's `timing:` (docs/lab-file.md "Timing"): realistic, instant or an inline block,
 * validated with the field named, and resolved over the matched profile's realistic block.
 */
import { describe, expect, test } from 'vitest';
import { loadProfile } from '../sim/index.ts';
import { INSTANT_TIMING } from '../timing.ts';
import { labDeviceTiming, parseLab, parseLabText } from './lab.ts';

const configError = (field: string) => expect.objectContaining({ code: 'BXHIL_CONFIG', field });

describe('lab timing', () => {
  test('realistic (also when absent), instant, or an inline block over the matched profile', () => {
    const lab = parseLabText(
      [
        'devices:',
        '  - { id: a, uri: "tcp://127.0.0.1:4001" }',
        '  - { id: b, uri: "tcp://127.0.0.1:4002", timing: instant }',
        '  - id: c',
        '    uri: tcp://127.0.0.1:4003',
        '    timing:',
        '      tls: { signMs: { rsa2048: 900 } }',
        '      sources: { tls.signMs.rsa2048: "[measured 2026-01-05] bench module c" }',
        '  - { id: d, uri: "sim:legacy?timing=realistic" }',
        '  - { id: e, uri: "sim:2.6.3" }',
      ].join('\n'),
    );
    const p = loadProfile('2.6.3');
    const [a, b, c, d, e] = lab.devices.map((dev) => labDeviceTiming(dev, p));
    expect(lab.devices[0]!.timing).toBeUndefined();
    expect(a).toBe(p.timing);
    expect(b).toBe(INSTANT_TIMING);
    expect(c!.tls.signMs.rsa2048).toBe(900);
    expect(c!.tls.keyExchangeMs).toBe(p.timing.tls.keyExchangeMs);
    expect(c!.sources['tls.signMs.rsa2048']).toMatch(/^\[measured/);
    expect(d).toBe(p.timing); // a sim: device: its URI's timing, over the profile given
    expect(e).toBe(INSTANT_TIMING);
    expect(labDeviceTiming(lab.devices[0]!, loadProfile('legacy'))).toBe(loadProfile('legacy').timing);
  });

  test.each([
    [{ uri: 'tcp://127.0.0.1:1', timing: 'fast' }, 'devices[0].timing'],
    [
      { uri: 'tcp://127.0.0.1:1', timing: { tls: { signMs: { rsa4096: -1 } } } },
      'devices[0].timing.tls.signMs.rsa4096',
    ],
    [{ uri: 'tcp://127.0.0.1:1', timing: { line: { baud: 9600 } } }, 'devices[0].timing.line.baud'],
    [{ uri: 'tcp://127.0.0.1:1', timing: { sources: { bootMs: 'measured' } } }, 'devices[0].timing.sources.bootMs'],
    [{ uri: 'sim:2.6.3', timing: 'realistic' }, 'devices[0].timing'],
  ])('%j is refused naming %s', (device, field) => {
    expect(() => parseLab({ devices: [device] })).toThrow(configError(field));
  });
});
