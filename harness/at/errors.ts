/**
 * Errors of the AT engine (docs/STYLE.md §4). Every class extends `AtError` (itself a
 * `HarnessError`), carries a stable `code` and typed fields; messages name the cause and the fix.
 *
 * Codes:
 * - `BXHIL_CME`: the module answered `+CME ERROR: <n>` (`CmeError`).
 * - `BXHIL_AT_ERROR`: the module answered plain `ERROR` (`AtCommandError`).
 * - `BXHIL_AT_TIMEOUT`: no final result / no matching URC in time (`AtTimeoutError`).
 * - `BXHIL_AT_RESET`: `READY` arrived while a command was in flight (`ModuleResetError`).
 * - `BXHIL_AT_RESYNC`: the module did not answer `AT` with `OK` after a timeout or garbage
 *   (`AtResyncError`): the module is unresponsive or the line settings are wrong.
 * - `BXHIL_AT_PROTOCOL`: an answer that does not fit the command, e.g. `CONNECT` to a
 *   command that does not enter data mode, or `OK` where `CONNECT` was expected.
 * - `BXHIL_AT_CLOSED`: the engine was closed while the command waited or was queued.
 * - `BXHIL_SECRET_ECHO`: the module sent back stored key material (`SecretEchoError`): a
 *   security failure, reported as `SECURITY FAILURE: the module echoed stored key material`.
 */
import { HarnessError } from '../errors.ts';
import { cmeMeaning } from './cme.ts';

export class AtError extends HarnessError {}

/** `+CME ERROR: <n>`. */
export class CmeError extends AtError {
  readonly cmeCode: number;
  readonly meaning: string;
  /** The command as sent (secrets redacted), without the CR. */
  readonly command: string;

  /** `cmeCode` is -1 for the verbose form `+CME ERROR: <text>`, whose text is then the meaning. */
  constructor(command: string, cmeCode: number, options?: { cause?: unknown; text?: string }) {
    const meaning = options?.text ?? cmeMeaning(cmeCode);
    super(
      'BXHIL_CME',
      `${command} failed with +CME ERROR: ${cmeCode >= 0 ? `${cmeCode} (${meaning})` : meaning}; check the parameters against docs/reference/bx310x-at.md and the module's state`,
      options,
    );
    this.cmeCode = cmeCode;
    this.meaning = meaning;
    this.command = command;
  }
}

/** Plain `ERROR`: on the BX a syntax error, broken quoting, or an unsupported form (docs/reference/bx310x-at.md §1). */
export class AtCommandError extends AtError {
  readonly command: string;
  /** Information lines that came before the `ERROR`. */
  readonly lines: readonly string[];

  /** `remedy` replaces the default advice (syntax and quoting), e.g. for an upload's data. */
  constructor(command: string, lines: readonly string[] = [], remedy?: string) {
    super(
      'BXHIL_AT_ERROR',
      `${command} answered ERROR: ${remedy ?? 'the BX gives plain ERROR for unsupported forms and broken quoting; check the syntax and quoting'}`,
    );
    this.command = command;
    this.lines = lines;
  }
}

export class AtTimeoutError extends AtError {
  /** The command (or `expect <pattern>`) that timed out, secrets redacted. */
  readonly command: string;
  readonly waitedMs: number;
  /** The last ~200 characters of the transcript, escaped (pytest-embedded's tail). */
  readonly transcriptTail: string;
  /** Where the full transcript is being written, when it is. */
  readonly transcriptPath: string | undefined;

  constructor(
    what: string,
    waitedMs: number,
    transcriptTail: string,
    transcriptPath: string | undefined,
    hint?: string,
  ) {
    super(
      'BXHIL_AT_TIMEOUT',
      `${what}: no answer within ${Math.round(waitedMs)} ms; ${hint ?? 'check that the module is powered, the port and baud rate are right, and raise timeoutMs if the operation is slow'}.\n` +
        `last bytes: ${transcriptTail}` +
        (transcriptPath ? `\nfull transcript: ${transcriptPath}` : ''),
    );
    this.command = what;
    this.waitedMs = waitedMs;
    this.transcriptTail = transcriptTail;
    this.transcriptPath = transcriptPath;
  }
}

export class ModuleResetError extends AtError {
  readonly command: string;

  constructor(command: string) {
    super(
      'BXHIL_AT_RESET',
      `the module reset (READY) while ${command} was in flight: the command's effect is unknown; check the power supply and brown-outs, then reconfigure the module`,
    );
    this.command = command;
  }
}

export class AtResyncError extends AtError {
  readonly attempts: number;
  readonly transcriptTail: string;
  readonly transcriptPath: string | undefined;

  constructor(
    attempts: number,
    transcriptTail: string,
    transcriptPath: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      'BXHIL_AT_RESYNC',
      `the module did not answer AT with OK after ${attempts} attempts (a guarded +++ included unless disabled): it is unresponsive, or the line settings (baud rate, flow control) are wrong; power-cycle it and check the link.\n` +
        `last bytes: ${transcriptTail}` +
        (transcriptPath ? `\nfull transcript: ${transcriptPath}` : ''),
      options,
    );
    this.attempts = attempts;
    this.transcriptTail = transcriptTail;
    this.transcriptPath = transcriptPath;
  }
}

export class AtProtocolError extends AtError {
  readonly command: string;
  readonly got: string;

  constructor(command: string, got: string, expected: string) {
    super(
      'BXHIL_AT_PROTOCOL',
      `${command} answered ${got} where ${expected} was expected; the module and the driver disagree about this command's dialect`,
    );
    this.command = command;
    this.got = got;
  }
}

export class AtClosedError extends AtError {
  readonly command: string;

  constructor(command: string) {
    super('BXHIL_AT_CLOSED', `${command} aborted: the AT engine was closed; open the device again`);
    this.command = command;
  }
}

/**
 * The module sent back key material the harness stored (a run of a registered key's secret
 * part, harness/secrets.ts): a security finding, whatever the final result was. The lines
 * were redacted before anyone saw them; the error carries no key material.
 */
export class SecretEchoError extends AtError {
  readonly command: string;

  constructor(command: string) {
    super(
      'BXHIL_SECRET_ECHO',
      `SECURITY FAILURE: the module echoed stored key material in its answer to ${command}; a private key stored with AT+KPRIVKSTORE must never be readable back (the lines were redacted in every transcript and report)`,
    );
    this.command = command;
  }
}
