/** The probe's errors (docs/STYLE.md §4: one base class, a stable code, typed fields). */
import { HarnessError } from '../errors.ts';

/**
 * The module gave no complete answer within the bound of an exchange: the probe ends there and
 * writes what it learned so far (exit 1, the step named). Code `BXHIL_AT_TIMEOUT`, as the AT
 * engine's own timeout.
 */
export class ProbeSilentError extends HarnessError {
  /** The probe step that was running (`identity`, `framing`, ...). */
  readonly step: string;
  /** What was sent, control bytes shown. */
  readonly sent: string;
  readonly waitedMs: number;

  constructor(step: string, sent: string, waitedMs: number, cause?: Error) {
    super(
      'BXHIL_AT_TIMEOUT',
      cause
        ? `step ${step}: the link closed while waiting for the answer to ${sent} (${cause.message})`
        : `step ${step}: no answer to ${sent} within ${waitedMs} ms: the module stopped answering`,
      cause ? { cause } : undefined,
    );
    this.step = step;
    this.sent = sent;
    this.waitedMs = waitedMs;
  }
}

/** The device is not a BX310x (its ATI answer says so) and `--force` was not given. */
export class ProbeRefusedError extends HarnessError {
  readonly ati: string;

  constructor(ati: string) {
    super(
      'BXHIL_PREFLIGHT_FIRMWARE_MISMATCH',
      `the device answers ATI with "${ati}", not a BX310x: refusing to probe it (use --force to probe anyway)`,
    );
    this.ati = ati;
  }
}
