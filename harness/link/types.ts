/**
 * The byte-link contract (modelled on `@serialport/bindings-interface`, docs/STYLE.md §2).
 *
 * Every implementation (serial, tcp://, rfc2217://, sim:, scripted) guarantees:
 *
 * 1. A `Link` is returned **open** by its factory (`openLink(uri)`); opening failures reject
 *    with `LinkError` code `BXHIL_LINK_OPEN` and a message that names the fix.
 * 2. `write(bytes)` resolves once the bytes are handed to the transport (for serial: drained
 *    to the OS). Writes are delivered in call order. Writing to a closed link rejects with
 *    `BXHIL_LINK_CLOSED`.
 * 3. Bytes from the device are delivered as `'data'` events (`Buffer`), in order, unmodified:
 *    all 256 byte values pass through; no framing happens at this layer.
 * 4. `close()` is graceful: it waits for pending writes to drain, then closes. It is
 *    idempotent: later calls return the same promise. After it resolves, no `'data'` event
 *    fires and no handle or timer of the link remains.
 * 5. `destroy(err?)` aborts: pending writes reject with `BXHIL_LINK_CANCELED`
 *    (`canceled: true`), and the link closes at once. Idempotent.
 * 6. When the far end goes away (EOF, EIO, reset), pending and later writes reject with
 *    `BXHIL_LINK_DISCONNECTED` (`disconnected: true`) and `'close'` fires with that error.
 * 7. `'close'` fires exactly once, with `undefined` after close()/destroy() without error, or
 *    with the `LinkError` that ended the link.
 */
import type { EventEmitter } from 'node:events';
import type { LinkError } from './errors.ts';

/** What a link emits: bytes received, and its close with the cause. */
export interface LinkEvents {
  data: [chunk: Buffer];
  close: [error: LinkError | undefined];
}

/** Modem-control lines, where the transport has them (serial, RFC 2217). */
export interface LinkSignals {
  dtr?: boolean;
  rts?: boolean;
}

/** Line settings, where the transport has them (serial, RFC 2217). */
export interface LineSettings {
  /** Bits per second. Default 115200. */
  baudRate: number;
  /** 5, 6, 7 or 8. Default 8. */
  dataBits: 5 | 6 | 7 | 8;
  /** Default 'none'. */
  parity: 'none' | 'even' | 'odd' | 'mark' | 'space';
  /** 1, 1.5 or 2. Default 1. */
  stopBits: 1 | 1.5 | 2;
  /** Hardware flow control (RTS/CTS). Default false. */
  rtscts: boolean;
}

/** A byte link to the module (serial port, `tcp://`, `rfc2217://`, the simulator): write, receive, drain, close. */
export interface Link extends EventEmitter<LinkEvents> {
  /** The URI the link was opened from, e.g. `serial:/dev/ttyUSB0?baud=115200`. */
  readonly uri: string;
  /** True from the factory's resolution until close/destroy/disconnect. */
  readonly isOpen: boolean;
  write(data: Uint8Array | string): Promise<void>;
  close(): Promise<void>;
  destroy(error?: Error): void;
  /** Set DTR/RTS, where supported; rejects with `LinkUnsupportedError` (BXHIL_LINK_UNSUPPORTED) where the line has none. */
  setSignals?(signals: LinkSignals): Promise<void>;
  /** Change line settings on an open link, where supported. */
  updateSettings?(settings: Partial<LineSettings>): Promise<void>;
}

/** Opens a link for a parsed URI. Registered per scheme in `open.ts`. */
export type LinkFactory = (uri: URL, raw: string) => Promise<Link>;
