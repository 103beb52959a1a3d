import { HarnessError } from '../errors.ts';

/**
 * Errors of the virtual module. The module itself never throws at the AT level (it answers
 * ERROR / +CME ERROR like the firmware); these are for the harness code that drives it.
 *
 * Codes:
 * - `BXHIL_SIM_ATTACHED`: `attach()` while a serial side is already attached; detach first.
 * - `BXHIL_SIM_CLOSED`: an operation on a module after `close()`; create a new module.
 * - `BXHIL_SIM_STORE`: the store file given by `storePath` cannot be read or written.
 * - `BXHIL_SIM_TIMEOUT`: a `RawClient` (test/bench peer) did not see the expected bytes in time;
 *   the message carries the tail of what did arrive.
 * - `BXHIL_SIM_CONNECT`: one step of an MQTT connect failed (carried as evidence and in
 *   `lastConnectError`, never thrown at the AT side, which sees `+KMQTT_IND: <id>,0`).
 */
export type SimErrorCode =
  'BXHIL_SIM_ATTACHED' | 'BXHIL_SIM_CLOSED' | 'BXHIL_SIM_STORE' | 'BXHIL_SIM_CONNECT' | 'BXHIL_SIM_TIMEOUT';

export class SimError extends HarnessError {
  constructor(code: SimErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Which step of `AT+KMQTTCNX` failed and why (the evidence a diagnosis starts from). */
export class SimConnectError extends SimError {
  /** The step name: `wifi`, `resolve`, `tcp`, `tls`, `verify`, `identity`, `mqtt`. */
  readonly step: string;
  /** A stable reason, e.g. `CERT_UNTRUSTED`, `CERT_NOT_YET_VALID`, `NAME_MISMATCH`, `ECONNREFUSED`. */
  readonly reason: string;

  constructor(step: string, reason: string, message: string, options?: { cause?: unknown }) {
    super('BXHIL_SIM_CONNECT', message, options);
    this.step = step;
    this.reason = reason;
  }
}
