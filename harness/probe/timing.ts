/**
 * The draft's timing block from a timing measurement (docs/probe.md "Timing"). The measuring is
 * `bx-hil timing`'s (harness/run/measure-timing.ts); the probe area may not import `run`
 * (harness/layering.test.ts), so the CLI runs it and hands the figures here, and this file
 * names only the part of their shape it reads (`MeasuredTiming`).
 *
 * Each measured value replaces the base's in `timing` and gets the probe's source tag with how
 * it was measured; every other value keeps the base's value and tag. Timing figures are noisy,
 * so a measured value counts as a difference only beyond the tolerance (`timingSame`).
 */
import { parseTiming, type Timing } from '../timing.ts';
import { parseProfile } from '../sim/index.ts';
import type { Difference } from './diff.ts';
import { setAt, valueAt } from './fields.ts';
import type { ProbeResult } from './probe.ts';

/** What the probe reads of a timing measurement (harness/run's `TimingMeasurement` has this shape). */
export interface MeasuredTiming {
  /** Only the measured fields, each named in `sources` by its dotted path. */
  block: { sources: Record<string, string> };
  steps: ReadonlyArray<{ name: string; status: string; detail: string }>;
  /** The step that ended the measurement early (the module stopped answering). */
  failed?: { name: string; detail: string };
}

/** One measured timing value next to the base's. */
export interface TimingValue {
  /** Dotted path in the timing block (`bootMs`, `tls.verifyPerCertMs.ecP256`). */
  field: string;
  value: number;
  base: number;
  /** Within the tolerance of the base's value (not a difference). */
  same: boolean;
  /** How it was measured: the measurement step's line. */
  how: string;
}

/**
 * The tolerance (docs/probe.md "Timing"): a duration is the same as the base's when within 25 %
 * of it or 50 ms, whichever is wider (a single sample on a loaded host or behind a USB serial
 * adapter is off by tens of ms); the line rate when within 25 % (0, unpaced, only equals 0);
 * bits per byte only when equal.
 */
export const TIMING_TOLERANCE = Object.freeze({ relative: 0.25, ms: 50 });

export function timingSame(field: string, probed: number, base: number): boolean {
  if (field === 'line.bitsPerByte') return probed === base;
  if (field === 'line.baudRate')
    return (probed === 0) === (base === 0) && Math.abs(probed - base) <= TIMING_TOLERANCE.relative * base;
  return Math.abs(probed - base) <= Math.max(TIMING_TOLERANCE.relative * base, TIMING_TOLERANCE.ms);
}

/** What each timing field is, in the diff's words. */
const SUBJECTS: Record<string, string> = {
  bootMs: 'a boot (AT+RST: OK -> READY)',
  'flash.perItemMs': 'a flash write per item',
  'flash.perKbMs': 'a flash write per kB',
  'tls.keyExchangeMs': 'the TLS key exchange',
  'mqtt.connackMs': 'CONNACK -> +KMQTT_IND',
  'mqtt.publishMs': 'AT+KMQTTPUB -> PUBLISH',
  'wifi.joinMs': 'a Wi-Fi join',
};
const KEY_NAMES: Record<string, string> = { rsa2048: 'RSA-2048', rsa4096: 'RSA-4096', ecP256: 'EC P-256' };

function words(field: string, probed: number, base: number, baseName: string): string {
  if (field === 'line.baudRate') {
    const show = (v: number) => (v === 0 ? 'unpaced' : `about ${v} baud`);
    return `the line runs ${show(probed)} where ${baseName} says ${show(base)}`;
  }
  if (field === 'line.bitsPerByte') return `a byte takes ${probed} bits on the line where ${baseName} says ${base}`;
  const kind = /^tls\.(verifyPerCertMs|signMs)\.(\w+)$/.exec(field);
  const subject = kind
    ? `${kind[1] === 'signMs' ? 'signing with' : 'verifying a certificate signed by'} an ${KEY_NAMES[kind[2]!] ?? kind[2]} key`
    : (SUBJECTS[field] ?? `timing.${field}`);
  return `${subject} takes ${probed} ms where ${baseName} says ${base} ms`;
}

/** The measurement step a field comes from (`bootMs` from `boot`, the rest by their group). */
function stepOf(field: string): string {
  return field === 'bootMs' ? 'boot' : field.split('.')[0]!;
}

/**
 * The probe's result with the measured timing in: the draft's `timing` values and source tags,
 * the timing differences beyond the tolerance added to `differences`, and `timing` (the values
 * and the whole measurement, for the evidence file).
 */
export function withTiming(result: ProbeResult, measurement: MeasuredTiming): ProbeResult {
  const base: Timing = result.base.timing;
  const draft = structuredClone(result.profile) as typeof result.profile & { timing: Timing };
  const timing = draft.timing as unknown as Record<string, unknown> & { sources: Record<string, string> };
  const values: TimingValue[] = [];
  for (const field of Object.keys(measurement.block.sources)) {
    const value = valueAt(measurement.block, field);
    if (typeof value !== 'number') continue;
    const was = valueAt(base, field) as number;
    const how = measurement.steps.find((s) => s.name === stepOf(field))?.detail ?? 'measured';
    setAt(timing, field, value);
    timing.sources[field] = `${result.tag} ${how}`;
    values.push({ field, value, base: was, same: timingSame(field, value, was), how });
  }
  parseTiming(timing, 'timing'); // a block that would not load is a bug here, not the module's
  parseProfile(draft, `probe draft ${draft.name}`);
  const differences: Difference[] = values
    .filter((v) => !v.same)
    .map((v) => ({
      field: `timing.${v.field}`,
      probed: v.value,
      base: v.base,
      words: words(v.field, v.value, v.base, result.base.name),
    }));
  return {
    ...result,
    profile: draft,
    differences: [...result.differences, ...differences],
    timing: { values, measurement },
  };
}
