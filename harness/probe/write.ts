/**
 * Writing a probe's outcome: the draft profile (JSON, loads with `sim:<file>` and
 * `bx-hil sim --profile <file>`) and the evidence file beside it (`<name>.evidence.json`):
 * for each learned value the exchanges that decided it, every exchange in order, the checks,
 * the notes and the wire cost. Nothing secret is in either: the probe sends no password or key,
 * and the lines of sessions it did not create are withheld (steps/sessions.ts).
 */
import { writeFileAtomic } from '../files.ts';
import { wireSeconds, type ProbeResult } from './probe.ts';

/** `probe.json` → `probe.evidence.json`. */
export function evidencePath(out: string): string {
  return `${out.replace(/\.json$/i, '')}.evidence.json`;
}

export function evidenceOf(r: ProbeResult, baud = 115_200): Record<string, unknown> {
  const bytes = r.txBytes + r.rxBytes;
  return {
    device: r.device,
    firmware: r.firmware,
    tag: r.tag,
    base: r.base.name,
    ...(r.failedStep ? { failedStep: r.failedStep, error: r.error?.message } : {}),
    learned: Object.fromEntries(
      r.learned.map((l) => [l.field, { value: l.value, how: l.how, exchanges: l.exchanges }]),
    ),
    checks: r.checks,
    differences: r.differences,
    notes: r.notes,
    // The measurement figures behind the draft's timing values (docs/probe.md "Timing").
    ...(r.timing ? { timing: r.timing } : {}),
    wire: {
      exchanges: r.exchanges.length,
      txBytes: r.txBytes,
      rxBytes: r.rxBytes,
      seconds: wireSeconds(bytes, baud),
      baud,
    },
    exchanges: r.exchanges,
  };
}

export function writeProbe(out: string, r: ProbeResult): { profile: string; evidence: string } {
  const evidence = evidencePath(out);
  writeFileAtomic(out, `${JSON.stringify(r.profile, null, 2)}\n`);
  writeFileAtomic(evidence, `${JSON.stringify(evidenceOf(r), null, 2)}\n`);
  return { profile: out, evidence };
}
