/**
 * `StreamLink`: the link contract (types.ts) over any Node Duplex. tcp:// wraps a
 * `net.Socket`, sim: wraps one end of a `duplexPair()` whose other end is the virtual module,
 * and tests use it over in-memory pairs (aedes' test helper idea, STYLE.md §12).
 */
import { EventEmitter } from 'node:events';
import { duplexPair, type Duplex } from 'node:stream';
import createDebug from 'debug';
import { LinkError } from './errors.ts';
import type { Link, LinkEvents } from './types.ts';

const debug = createDebug('bx-hil:link');

/** How long close() waits for the transport to finish before destroying it. */
const CLOSE_GRACE_MS = 2_000; // 2 s

interface PendingWrite {
  reject(err: LinkError): void;
}

export class StreamLink extends EventEmitter<LinkEvents> implements Link {
  readonly uri: string;
  readonly #stream: Duplex;
  #state: 'open' | 'closing' | 'closed' = 'open';
  #endedBy: LinkError | undefined;
  #closePromise: Promise<void> | undefined;
  readonly #pending = new Set<PendingWrite>();
  #lastWrite: Promise<void> = Promise.resolve();

  constructor(uri: string, stream: Duplex) {
    super();
    this.uri = uri;
    this.#stream = stream;
    stream.on('data', (chunk: Buffer | string) => {
      if (this.#state === 'closed') return;
      this.emit('data', typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
    });
    stream.on('error', (err) => this.#lost(err));
    stream.on('end', () => this.#lost(undefined));
    stream.on('close', () => this.#lost(undefined));
  }

  get isOpen(): boolean {
    return this.#state === 'open';
  }

  write(data: Uint8Array | string): Promise<void> {
    if (this.#state !== 'open') {
      return Promise.reject(
        this.#endedBy ??
          new LinkError('BXHIL_LINK_CLOSED', this.uri, `cannot write to ${this.uri}: the link is closed`),
      );
    }
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
    const p = new Promise<void>((resolve, reject) => {
      const entry: PendingWrite = { reject };
      this.#pending.add(entry);
      this.#stream.write(buf, (err) => {
        if (!this.#pending.delete(entry)) return; // already rejected by destroy/loss
        if (err) reject(this.#lossError(err));
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
      await this.#lastWrite; // graceful: drain what was written
      if (this.#state === 'closed') return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#stream.destroy();
          resolve();
        }, CLOSE_GRACE_MS);
        this.#stream.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        this.#stream.end();
        // A Duplex whose readable side never ends would never emit 'close' on end(): destroy it
        // once the writable side has finished.
        this.#stream.once('finish', () => this.#stream.destroy());
      });
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
    for (const p of this.#pending) p.reject(canceled);
    this.#pending.clear();
    this.#finish(undefined);
    this.#stream.destroy();
  }

  #lossError(cause: unknown): LinkError {
    return new LinkError(
      'BXHIL_LINK_DISCONNECTED',
      this.uri,
      `${this.uri} disconnected${cause instanceof Error ? `: ${cause.message}` : ''}; check the cable, the port or the server, then reopen the link`,
      { cause },
    );
  }

  #lost(cause: Error | undefined): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'closing') return; // our own close in progress: not a loss
    const err = this.#lossError(cause);
    debug('%s lost: %s', this.uri, err.message);
    for (const p of this.#pending) p.reject(err);
    this.#pending.clear();
    this.#endedBy = err;
    this.#finish(err);
    this.#stream.destroy();
  }

  #finish(err: LinkError | undefined): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#stream.removeAllListeners('data');
    this.emit('close', err);
  }
}

/**
 * Two in-memory ends: a `Link` for the harness and the raw Duplex for whatever plays the
 * module (a test responder, the simulator). No sockets, no timers.
 */
export function memoryLinkPair(uri = 'memory:'): { link: StreamLink; device: Duplex } {
  const [host, device] = duplexPair();
  // node's duplexPair does not tell one side that the other was destroyed; a destroyed device
  // is a module that went away, so the link must see a disconnect (contract guarantee 6).
  // `device.end()` (EOF) already reaches the link as 'end'.
  device.once('close', () => {
    if (!host.destroyed) host.destroy();
  });
  return { link: new StreamLink(uri, host), device };
}
