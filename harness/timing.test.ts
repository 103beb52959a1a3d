/**
 * The timing model's parser (harness/timing.ts): every field optional over a base, unknown
 * fields, negative values and source tags that name nothing or tag nothing refused with the
 * dotted field named.
 */
import { describe, expect, test } from 'vitest';
import {
  INSTANT_TIMING,
  flashWriteMs,
  isInstant,
  parseTiming,
  timingFields,
  timingLineMs,
  timingSourceOf,
  tlsWorkMs,
} from './timing.ts';

const configError = (field: string) => expect.objectContaining({ code: 'BXHIL_CONFIG', field });

describe('parseTiming', () => {
  test('a partial block merges over its base; instant stays instant', () => {
    const t = parseTiming({ line: { baudRate: 115200 }, tls: { signMs: { rsa4096: 1600 } } });
    expect(t.line).toEqual({ baudRate: 115200, bitsPerByte: 10 });
    expect(t.tls.signMs).toEqual({ rsa2048: 0, rsa4096: 1600, ecP256: 0 });
    expect(isInstant(t)).toBe(false);
    expect(isInstant(parseTiming({}))).toBe(true);
    expect(timingLineMs(t, 11_520)).toBeCloseTo(1000);
    expect(flashWriteMs({ ...t, flash: { perItemMs: 50, perKbMs: 3 } }, 2048)).toBe(56);
  });

  test.each([
    [{ tls: { signMs: { rsa4096: -1 } } }, 'timing.tls.signMs.rsa4096'],
    [{ tls: { signMs: { rsa8192: 1 } } }, 'timing.tls.signMs.rsa8192'],
    [{ wifi: { joinMs: '2s' } }, 'timing.wifi.joinMs'],
    [{ flash: 3 }, 'timing.flash'],
    [{ bootms: 1 }, 'timing.bootms'],
    [{ sources: { 'tls.nope': '[guess]' } }, 'timing.sources.tls.nope'],
    [{ sources: { bootMs: 'a guess' } }, 'timing.sources.bootMs'],
    [{ sources: { bootMs: '' } }, 'timing.sources.bootMs'],
    [{ line: { baudRate: 9600, bitsPerByte: 0 } }, 'timing.line.bitsPerByte'],
  ])('%j is refused naming %s', (input, field) => {
    expect(() => parseTiming(input)).toThrow(configError(field));
  });

  test('sources: a field or a group; the nearest tag answers', () => {
    const t = parseTiming({ sources: { 'tls.signMs': '[guess] group', 'tls.signMs.ecP256': '[measured 2026-01-05]' } });
    expect(timingSourceOf(t, 'tls.signMs.rsa2048')).toBe('[guess] group');
    expect(timingSourceOf(t, 'tls.signMs.ecP256')).toBe('[measured 2026-01-05]');
    expect(timingSourceOf(t, 'bootMs')).toBeUndefined();
  });

  test('timingFields lists every numeric field', () => {
    expect(timingFields()).toContain('tls.verifyPerCertMs.ecP256');
    expect(timingFields()).toContain('line.baudRate');
    expect(timingFields()).not.toContain('name');
    expect(timingFields(INSTANT_TIMING)).toHaveLength(15);
  });
});

describe('tlsWorkMs', () => {
  test('key exchange + one check per verifying key + the own signature', () => {
    const t = parseTiming({
      tls: {
        keyExchangeMs: 300,
        verifyPerCertMs: { rsa2048: 20, rsa4096: 70, ecP256: 200 },
        signMs: { rsa2048: 250, rsa4096: 1600, ecP256: 120 },
      },
    });
    expect(tlsWorkMs(t, { verified: ['rsa2048', 'rsa2048', 'rsa4096'] })).toBe(300 + 20 + 20 + 70);
    expect(tlsWorkMs(t, { verified: ['ecP256'], signed: 'rsa4096' })).toBe(300 + 200 + 1600);
    expect(tlsWorkMs(INSTANT_TIMING, { verified: ['rsa4096'], signed: 'rsa4096' })).toBe(0);
  });
});
