/**
 * Errors of the runner library (`harness/run/`) beyond `ConfigError` (lab files): rig commands.
 * Preflight failures are reported as steps (preflight.ts), not thrown.
 * Match on `code`, never on message text (docs/STYLE.md §4).
 */
import { HarnessError } from '../errors.ts';

/** A rig command (power cycle, flash) failed or ran past its bound. */
export class RigCommandError extends HarnessError {
  /** Which command: `powerCycle`, `flash`, ... */
  readonly step: string;
  /** Exit code, or undefined when it was killed (timeout) or could not start. */
  readonly exitCode: number | undefined;
  /** True when the command was killed for running past `timeoutMs`. */
  readonly timedOut: boolean;
  /** Last lines of the command's output (stdout + stderr), for the report. */
  readonly outputTail: string;

  constructor(
    step: string,
    fields: { exitCode: number | undefined; timedOut: boolean; outputTail: string },
    message: string,
    options?: { cause?: unknown },
  ) {
    super(fields.timedOut ? 'BXHIL_RIG_COMMAND_TIMEOUT' : 'BXHIL_RIG_COMMAND', message, options);
    this.step = step;
    this.exitCode = fields.exitCode;
    this.timedOut = fields.timedOut;
    this.outputTail = fields.outputTail;
  }
}
