/**
 * `LinkBase`: the contract logic of `types.ts`, written once. Every link implementation
 * (stream, serial, scripted, paced) extends it and supplies only its transport: how bytes are
 * handed over (`sendBytes`), how a graceful close ends (`shutdown`) and how an abort does
 * (`abort`). The state machine, the tracking of pending writes, the `canceled` /
 * `disconnected` errors and the single `'close'` event live here, so the guarantees cannot
 * drift apart between transports.
 */
import { EventEmitter } from 'node:events';
import createDebug from 'debug';
import { LinkError } from './errors.ts';
import type { Link, LinkEvents } from './types.ts';

const debug = createDebug('bx-hil:link');

interface PendingWrite {
  reject(err: LinkError): void;
}

export type LinkState = 'open' | 'closing' | 'closed';

export abstract class LinkBase extends EventEmitter<LinkEvents> implements Link {
  readonly uri: string;
  #state: LinkState = 'open';
  #endedBy: LinkError | undefined;
  #closePromise: Promise<void> | undefined;
  readonly #pending = new Set<PendingWrite>();
  #lastWrite: Promise<void> = Promise.resolve();

  constructor(uri: string) {
    super();
    this.uri = uri;
  }

  get isOpen(): boolean {
    return this.#state === 'open';
  }

  protected get linkState(): LinkState {
    return this.#state;
  }

  /** Hand `buf` to the transport; call `done(err?)` once it has been accepted (or failed). */
  protected abstract sendBytes(buf: Buffer, done: (err?: Error | null) => void): void;

  /** Graceful end, called once pending writes have settled (drain, end, close the port). */
  protected abstract shutdown(): Promise<void>;

  /** Abort the transport at once (destroy, or after the far end went away). */
  protected abstract abort(error?: Error): void;

  /** Called once when the link becomes closed, before `'close'` is emitted (clear timers here). */
  protected onClosed(): void {}

  write(data: Uint8Array | string): Promise<void> {
    if (this.#state !== 'open') return Promise.reject(this.closedError('write to'));
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
    const p = new Promise<void>((resolve, reject) => {
      const entry: PendingWrite = { reject };
      this.#pending.add(entry);
      this.sendBytes(buf, (err) => {
        if (!this.#pending.delete(entry)) return; // already rejected by destroy/loss
        if (err) reject(err instanceof LinkError ? err : this.lossError(err));
        else resolve();
      });
    });
    this.#lastWrite = p.catch(() => undefined);
    return p;
  }

  close(): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    if (this.#state === 'closed') return (this.#closePromise = Promise.resolve());
    this.#state = 'closing';
    this.#closePromise = (async () => {
      await this.#lastWrite; // graceful: what was written goes out first
      if (this.#state !== 'closing') return; // destroyed or lost meanwhile
      await this.shutdown();
      this.#finish(undefined);
    })();
    return this.#closePromise;
  }

  destroy(error?: Error): void {
    if (this.#state === 'closed') return;
    const canceled = new LinkError(
      'BXHIL_LINK_CANCELED',
      this.uri,
      `write to ${this.uri} canceled: the link was destroyed`,
      {
        cause: error,
      },
    );
    this.#rejectPending(canceled);
    this.#finish(undefined);
    this.abort(error);
  }

  /** Deliver bytes from the device (dropped once the link is closed). */
  protected deliver(chunk: Buffer): void {
    if (this.#state !== 'closed') this.emit('data', chunk);
  }

  /** The error for an operation on a link that is no longer open. */
  protected closedError(what: string): LinkError {
    return (
      this.#endedBy ?? new LinkError('BXHIL_LINK_CLOSED', this.uri, `cannot ${what} ${this.uri}: the link is closed`)
    );
  }

  /** The `disconnected` error for a transport failure; override to name the fix better. */
  protected lossError(cause: unknown): LinkError {
    return new LinkError(
      'BXHIL_LINK_DISCONNECTED',
      this.uri,
      `${this.uri} disconnected${cause instanceof Error ? `: ${cause.message}` : ''}; check the cable, the port or the server, then reopen the link`,
      { cause },
    );
  }

  /**
   * The far end went away: pending and later writes reject with the `disconnected` error and
   * `'close'` fires with it. Ignored during our own close/destroy.
   */
  protected lose(cause: unknown): void {
    if (this.#state !== 'open') return;
    const err = cause instanceof LinkError && cause.disconnected ? cause : this.lossError(cause);
    debug('%s lost: %s', this.uri, err.message);
    this.#rejectPending(err);
    this.#endedBy = err;
    this.#finish(err);
    this.abort();
  }

  #rejectPending(err: LinkError): void {
    for (const p of this.#pending) p.reject(err);
    this.#pending.clear();
  }

  #finish(err: LinkError | undefined): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.onClosed();
    this.emit('close', err);
  }
}
