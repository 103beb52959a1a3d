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
