/**
 * `pacedLink(inner, { baudRate })`: a `Link` that moves bytes no faster than a UART at
 * `baudRate` would, so benchmarks and timing tests (e.g. the AT engine's upload of a
 * certificate in data mode) can compare a measured phase with the line rate.
 *
 * - Each byte costs `bitsPerByte` bit times (default 10: start + 8 data + stop, i.e. 8N1).
 *   At 115200 baud that is 11 520 bytes/s, 86.8 µs per byte; `lineTimeMs(n, baud)` computes it.
 * - Writes are cut into slices of about 10 ms of line time; each slice reaches the inner link
 *   when it would have finished crossing the wire, and `write()` resolves when the last slice
 *   is through (like a serial drain). Writes stay in call order.
 * - With `paceReads` (default true) bytes from the device are delivered at the same rate
 *   (full duplex: the two directions have independent schedules).
 * - The schedule is absolute within a burst (the next slice is due one slice-time after the
 *   previous one was due, not after the timer fired), so timer lateness does not accumulate;
 *   after the line has been idle the schedule restarts from now.
 * - `updateSettings({ baudRate })` changes the pace (and is passed on if the inner link can).
 *
 * `pacedMemoryLinkPair(opts)` is the usual test rig: `memoryLinkPair()` with a paced host end;
 * `device` is the raw Duplex the simulator or a responder reads and writes.
 */
import type { Duplex } from 'node:stream';
import { ConfigError } from '../errors.ts';
import { LinkBase } from './base.ts';
import { LinkUnsupportedError } from './errors.ts';
import { memoryLinkPair } from './stream.ts';
import type { LineSettings, Link, LinkSignals } from './types.ts';

/** Options of a paced link: the line rate and bit times per byte, as a UART would send them. */
export interface PacedLinkOptions {
  /** Line rate in bits per second. Required; e.g. 115200. */
  baudRate: number;
  /** Bit times per byte on the wire. Default 10 (8N1: start + 8 data + stop). */
  bitsPerByte?: number;
  /** Pace bytes from the device as well. Default true. */
  paceReads?: boolean;
}

/** Line time of `bytes` bytes at `baudRate`, in ms (10 bit times per byte unless told). */
export function lineTimeMs(bytes: number, baudRate: number, bitsPerByte = 10): number {
  return (bytes * bitsPerByte * 1000) / baudRate;
}

/** Validate pacing options once, at the edge (docs/STYLE.md §6). */
export function parsePacedLinkOptions(options: PacedLinkOptions): Required<PacedLinkOptions> {
  const { baudRate, bitsPerByte = 10, paceReads = true } = options;
  if (!Number.isFinite(baudRate) || baudRate <= 0) {
    throw new ConfigError(
      'baudRate',
      baudRate,
      `pacedLink: baudRate must be a positive number of bits/s (e.g. 115200), got ${String(baudRate)}`,
    );
  }
  if (!Number.isFinite(bitsPerByte) || bitsPerByte < 1) {
    throw new ConfigError(
      'bitsPerByte',
      bitsPerByte,
      `pacedLink: bitsPerByte must be >= 1 (10 for 8N1), got ${String(bitsPerByte)}`,
    );
  }
  return { baudRate, bitsPerByte, paceReads };
}

/** Slice length: about 10 ms of line time, at least one byte. */
const SLICE_MS = 10;
/**
 * A gap between writes shorter than this keeps the burst schedule: it is the writer awaiting
 * the previous write plus our own timer lateness, not an idle line. (Idle gaps below 10 ms are
 * therefore not modelled; at 115200 baud that is 115 bytes of line time.)
 */
const BURST_SLACK_MS = 10;

/** One direction of the line: when it is next free. */
class LineSchedule {
  #freeAt = -Infinity;

  /**
   * Reserve `ms` of line time; returns when the reservation ends (performance.now() ms).
   * `continued`: the next slice of the same write, always back to back.
   */
  reserve(ms: number, continued = false): number {
    const now = performance.now();
    const start = continued || now - this.#freeAt < BURST_SLACK_MS ? Math.max(this.#freeAt, now - BURST_SLACK_MS) : now;
    this.#freeAt = start + ms;
    return this.#freeAt;
  }
}

class PacedLink extends LinkBase {
  readonly #inner: Link;
  #opts: Required<PacedLinkOptions>;
  readonly #tx = new LineSchedule();
  readonly #rx = new LineSchedule();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #chain: Promise<void> = Promise.resolve();

  constructor(inner: Link, opts: Required<PacedLinkOptions>) {
    super(inner.uri);
    this.#inner = inner;
    this.#opts = opts;
    inner.on('data', (chunk) => this.#onData(chunk));
    // The inner link closing under us is the far end going away (contract guarantee 6).
    inner.on('close', (err) => this.lose(err));
  }

  get baudRate(): number {
    return this.#opts.baudRate;
  }

  /** Slices cross the line one after another, each when the line would have carried it. */
  protected sendBytes(buf: Buffer, done: (err?: Error | null) => void): void {
    this.#chain = this.#chain
      .then(async () => {
        for (let off = 0; off < buf.length;) {
          if (this.#stopped()) return; // destroyed or lost: the base rejected the write
          const len = Math.min(buf.length - off, this.#sliceBytes());
          const slice = buf.subarray(off, off + len);
          off += len;
          const due = this.#tx.reserve(lineTimeMs(len, this.#opts.baudRate, this.#opts.bitsPerByte), off > len);
          await this.#sleepUntil(due);
          if (this.#stopped()) return;
          await this.#inner.write(slice);
        }
      })
      .then(
        () => done(),
        (err: Error) => done(err),
      );
  }

  async setSignals(signals: LinkSignals): Promise<void> {
    if (!this.#inner.setSignals) {
      throw new LinkUnsupportedError(
        this.uri,
        'setSignals',
        `${this.uri} has no modem-control lines: use a serial: or rfc2217: link for DTR/RTS`,
      );
    }
    await this.#inner.setSignals(signals);
  }

  async updateSettings(settings: Partial<LineSettings>): Promise<void> {
    if (settings.baudRate !== undefined) {
      this.#opts = parsePacedLinkOptions({ ...this.#opts, baudRate: settings.baudRate });
    }
    if (this.#inner.updateSettings) await this.#inner.updateSettings(settings);
  }

  protected async shutdown(): Promise<void> {
    this.#clearTimers();
    await this.#inner.close();
  }

  protected abort(error?: Error): void {
    this.#inner.destroy(error);
  }

  protected override onClosed(): void {
    this.#clearTimers();
  }

  #stopped(): boolean {
    return this.linkState === 'closed';
  }

  #sliceBytes(): number {
    return Math.max(1, Math.floor((this.#opts.baudRate / this.#opts.bitsPerByte) * (SLICE_MS / 1000)));
  }

  #sleepUntil(due: number): Promise<void> {
    const ms = due - performance.now();
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        resolve();
      }, ms);
      this.#timers.add(t);
    });
  }

  #onData(chunk: Buffer): void {
    if (this.linkState === 'closed') return;
    if (!this.#opts.paceReads) {
      this.deliver(chunk);
      return;
    }
    for (let off = 0; off < chunk.length;) {
      const len = Math.min(chunk.length - off, this.#sliceBytes());
      const slice = chunk.subarray(off, off + len);
      off += len;
      const due = this.#rx.reserve(lineTimeMs(len, this.#opts.baudRate, this.#opts.bitsPerByte));
      const t = setTimeout(
        () => {
          this.#timers.delete(t);
          this.deliver(slice);
        },
        Math.max(0, due - performance.now()),
      );
      this.#timers.add(t);
    }
  }

  #clearTimers(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}

/** Wrap any open link so bytes cross it at `baudRate` (see the module comment). */
export function pacedLink(inner: Link, options: PacedLinkOptions): Link & { readonly baudRate: number } {
  return new PacedLink(inner, parsePacedLinkOptions(options));
}

/** `memoryLinkPair()` with the host end paced at `baudRate`; `device` is the raw Duplex. */
export function pacedMemoryLinkPair(options: PacedLinkOptions & { uri?: string }): {
  link: Link & { readonly baudRate: number };
  device: Duplex;
} {
  const opts = parsePacedLinkOptions(options);
  const { link, device } = memoryLinkPair(options.uri ?? `memory:?baud=${opts.baudRate}`);
  return { link: new PacedLink(link, opts), device };
}
