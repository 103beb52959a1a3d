/**
 * `StreamLink`: the link contract (types.ts) over any Node Duplex. tcp:// wraps a
 * `net.Socket`, sim: wraps one end of a `duplexPair()` whose other end is the virtual module,
 * and tests use it over in-memory pairs (aedes' test helper idea, docs/STYLE.md §12).
 */
import { duplexPair, type Duplex } from 'node:stream';
import { LinkBase } from './base.ts';

/** How long close() waits for the transport to finish before destroying it. */
const CLOSE_GRACE_MS = 2_000; // 2 s

/** A link over any Node duplex stream (a socket, one end of a `duplexPair`): the simulator and `tcp://` use it. */
export class StreamLink extends LinkBase {
  readonly #stream: Duplex;

  constructor(uri: string, stream: Duplex) {
    super(uri);
    this.#stream = stream;
    stream.on('data', (chunk: Buffer | string) =>
      this.deliver(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk),
    );
    stream.on('error', (err) => this.lose(err));
    stream.on('end', () => this.lose(undefined));
    stream.on('close', () => this.lose(undefined));
  }

  protected sendBytes(buf: Buffer, done: (err?: Error | null) => void): void {
    this.#stream.write(buf, done);
  }

  protected shutdown(): Promise<void> {
    return new Promise<void>((resolve) => {
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
  }

  protected abort(): void {
    this.#stream.destroy();
  }

  protected override onClosed(): void {
    this.#stream.removeAllListeners('data');
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
