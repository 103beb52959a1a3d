/**
 * Errors of the broker rig layer (docs/STYLE.md §4): stable `code`, typed fields, messages that name
 * the cause and the fix.
 */
import { HarnessError, type HarnessErrorCode } from '../errors.ts';

/** The rig could not start or was used wrongly. */
export class BrokerError extends HarnessError {
  /** Which rig (`aedes`, `mosquitto`, `container`). */
  readonly rig: string;

  constructor(code: HarnessErrorCode, rig: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.rig = rig;
  }
}

/** `BXHIL_BROKER_START`: a listener or an external broker process did not come up. */
export class BrokerStartError extends BrokerError {
  /** The tail of the external broker's log, when there is one (never contains key material). */
  readonly logTail: string;

  constructor(rig: string, message: string, logTail = '', options?: { cause?: unknown }) {
    super('BXHIL_BROKER_START', rig, message, options);
    this.logTail = logTail;
  }
}

/** `BXHIL_NO_CONTAINER_RUNTIME`: testcontainers found no Docker/Podman engine. */
export class NoContainerRuntimeError extends BrokerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BXHIL_NO_CONTAINER_RUNTIME', 'container', message, options);
  }
}

/** `BXHIL_VERDICT_TIMEOUT`: `waitForVerdict` saw no matching verdict within its bound. */
export class VerdictTimeoutError extends BrokerError {
  readonly waitedMs: number;
  /** Codes of the verdicts seen so far (to tell "wrong verdict" from "no verdict"). */
  readonly seen: string[];

  constructor(rig: string, waitedMs: number, seen: string[]) {
    super(
      'BXHIL_VERDICT_TIMEOUT',
      rig,
      `no matching verdict within ${waitedMs} ms (verdicts so far: ${seen.length ? seen.join(', ') : 'none'}); ` +
        'check that the client really connects to the rig address, or raise timeoutMs',
    );
    this.waitedMs = waitedMs;
    this.seen = seen;
  }
}
