/**
 * The probe's timing block (glossary: "measurement" = what `measureTiming` returns, built here
 * by hand so each case is exact; "draft" = the profile the probe writes). The measuring itself
 * is tested in harness/run/measure-timing.test.ts, and the whole path against a realistic
 * virtual module in harness/cli/probe.test.ts.
 */
import { describe, expect, test } from 'vitest';
import { loadProfile, parseProfile } from '../sim/index.ts';
import { probe, timingSame, withTiming, type MeasuredTiming, type ProbeResult } from './index.ts';
import { simLink } from './testing.ts';

describe('the tolerance: 25 % or 50 ms, whichever is wider', () => {
  test('durations', () => {
    expect(timingSame('bootMs', 1875, 1500)).toBe(true);
    expect(timingSame('bootMs', 1125, 1500)).toBe(true);
    expect(timingSame('bootMs', 1876, 1500)).toBe(false);
    expect(timingSame('bootMs', 4000, 1500)).toBe(false);
    // Small values: 50 ms either way.
    expect(timingSame('mqtt.connackMs', 70, 20)).toBe(true);
    expect(timingSame('mqtt.connackMs', 0, 20)).toBe(true);
    expect(timingSame('mqtt.connackMs', 71, 20)).toBe(false);
  });

  test('the line: 25 % of the rate, unpaced only equals unpaced; bits per byte exactly', () => {
    expect(timingSame('line.baudRate', 86_400, 115_200)).toBe(true);
    expect(timingSame('line.baudRate', 86_399, 115_200)).toBe(false);
    expect(timingSame('line.baudRate', 0, 115_200)).toBe(false);
    expect(timingSame('line.baudRate', 0, 0)).toBe(true);
    expect(timingSame('line.bitsPerByte', 11, 10)).toBe(false);
  });
});

describe('withTiming', () => {
  let probed: ProbeResult | undefined;
  async function probed263(): Promise<ProbeResult> {
    if (probed) return probed;
    const sim = simLink(loadProfile('2.6.3'));
    try {
      probed = await probe(sim.link, { base: loadProfile('2.6.3'), date: new Date('2026-12-01T12:00:00Z') });
    } finally {
      await sim.close();
    }
    return probed;
  }

  const measurement: MeasuredTiming = {
    block: {
      bootMs: 1600,
      tls: { keyExchangeMs: 1000, verifyPerCertMs: { ecP256: 215 } },
      sources: { bootMs: '[measured]', 'tls.keyExchangeMs': '[measured]', 'tls.verifyPerCertMs.ecP256': '[measured]' },
    } as MeasuredTiming['block'],
    steps: [
      { name: 'boot', status: 'measured', detail: 'AT+RST: OK -> READY 1600 ms' },
      { name: 'tls', status: 'measured', detail: 'handshakes: RSA-2048 leaf 1040 ms' },
      { name: 'flash', status: 'skipped', detail: 'needs --allow-writes' },
    ],
  };

  test('measured values go into the draft with the probe tag; the rest keep the base value and tag', async () => {
    const r = await probed263();
    const base = r.base.timing;
    const t = withTiming(r, measurement);
    const timing = parseProfile(t.profile, 'draft').timing;
    expect(timing.bootMs).toBe(1600);
    expect(timing.tls.keyExchangeMs).toBe(1000);
    expect(timing.tls.verifyPerCertMs.ecP256).toBe(215);
    expect(timing.sources['bootMs']).toBe('[probe 2026-12-01 fw 2.6.3] AT+RST: OK -> READY 1600 ms');
    expect(timing.sources['tls.keyExchangeMs']).toBe('[probe 2026-12-01 fw 2.6.3] handshakes: RSA-2048 leaf 1040 ms');
    // Not measured: the base's value and tag.
    expect(timing.tls.verifyPerCertMs.rsa2048).toBe(base.tls.verifyPerCertMs.rsa2048);
    expect(timing.flash).toEqual(base.flash);
    expect(timing.sources['flash.perItemMs']).toBe(base.sources['flash.perItemMs']);
    // The probe's own result is not changed.
    expect(r.profile.timing?.bootMs).toBe(base.bootMs);
  });

  test("only values beyond the tolerance are differences, after the probe's own", async () => {
    const r = await probed263();
    const t = withTiming(r, measurement);
    expect(t.differences.slice(0, r.differences.length)).toEqual(r.differences);
    expect(t.differences.slice(r.differences.length)).toEqual([
      {
        field: 'timing.tls.keyExchangeMs',
        probed: 1000,
        base: 350,
        words: 'the TLS key exchange takes 1000 ms where 2.6.3 says 350 ms',
      },
    ]);
    expect(t.timing?.values.map((v) => [v.field, v.same])).toEqual([
      ['bootMs', true],
      ['tls.keyExchangeMs', false],
      ['tls.verifyPerCertMs.ecP256', true],
    ]);
  });
});
