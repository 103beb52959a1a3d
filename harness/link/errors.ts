import { HarnessError } from '../errors.ts';

/**
 * Errors of the byte-link layer. Like serialport, a link error says whether it was
 * `canceled` (our own close/destroy aborted the operation: nothing is wrong with the device)
 * or `disconnected` (the other end went away: the link is gone and must be reopened).
 *
 * Codes:
 * - `BXHIL_LINK_OPEN`: the link could not be opened; the message names the fix.
 * - `BXHIL_LINK_CLOSED`: an operation on a link that is already closed.
 * - `BXHIL_LINK_CANCELED`: an in-flight operation aborted by `close()`/`destroy()`.
 * - `BXHIL_LINK_DISCONNECTED`: the peer or the device vanished (EOF, EIO, socket reset).
 */
export class LinkError extends HarnessError {
  readonly uri: string;
  readonly canceled: boolean;
  readonly disconnected: boolean;

  constructor(
    code: 'BXHIL_LINK_OPEN' | 'BXHIL_LINK_CLOSED' | 'BXHIL_LINK_CANCELED' | 'BXHIL_LINK_DISCONNECTED',
    uri: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.uri = uri;
    this.canceled = code === 'BXHIL_LINK_CANCELED';
    this.disconnected = code === 'BXHIL_LINK_DISCONNECTED';
  }
}

/**
 * The transport cannot do what was asked (e.g. DTR/RTS on a PTY, which has no modem-control
 * lines: docs/reference/dependencies.md P9), or the far end refused it (an RFC 2217 server that declines
 * COM-PORT-OPTION). Code `BXHIL_LINK_UNSUPPORTED`; `operation` names what failed.
 */
export class LinkUnsupportedError extends HarnessError {
  readonly uri: string;
  /** `setSignals` or `updateSettings`. */
  readonly operation: string;

  constructor(uri: string, operation: string, message: string, options?: { cause?: unknown }) {
    super('BXHIL_LINK_UNSUPPORTED', message, options);
    this.uri = uri;
    this.operation = operation;
  }
}

/**
 * A scripted link (scripted.ts) ended with expectations left over or with writes nobody
 * expected. Code `BXHIL_SCRIPT_PENDING`; the message is a table of both.
 */
export class ScriptPendingError extends HarnessError {
  /** One line per unconsumed expectation (or reply not yet sent). */
  readonly pending: readonly string[];
  /** The bytes of each write (or run of bytes) that matched no expectation. */
  readonly unexpected: readonly Buffer[];

  constructor(pending: readonly string[], unexpected: readonly Buffer[], message: string) {
    super('BXHIL_SCRIPT_PENDING', message);
    this.pending = pending;
    this.unexpected = unexpected;
  }
}

/** Why a link could not be opened; `LinkOpenError.reason`. */
export type LinkOpenReason =
  'ENOENT' | 'EACCES' | 'EBUSY' | 'ENOTTY' | 'ECONNREFUSED' | 'ETIMEDOUT' | 'ENOTFOUND' | 'NEGOTIATION' | 'OTHER';

/**
 * An open failure (code `BXHIL_LINK_OPEN`) with a typed `reason`, so callers and tests can tell
 * "no such device" from "permission denied" without reading the message.
 */
export class LinkOpenError extends LinkError {
  readonly reason: LinkOpenReason;

  constructor(uri: string, reason: LinkOpenReason, message: string, options?: { cause?: unknown }) {
    super('BXHIL_LINK_OPEN', uri, message, options);
    this.reason = reason;
  }
}
