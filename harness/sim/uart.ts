/**
 * The virtual module's UART, both directions, under a timing's `line` (docs/sim.md §Timing):
 *
 * - **Output** goes no faster than `baudRate` (`bitsPerByte` bit times per byte), whatever
 *   carries it (in-process `sim:`, `bx-hil sim --listen`, `--pty`): bytes are cut into slices of
 *   about 10 ms of line time and each slice is handed on when it would have finished crossing
 *   the wire. The schedule is absolute within a burst (the next slice is due one slice-time
 *   after the previous one was DUE, not after its timer fired), so timer lateness does not
 *   accumulate; catching up after a late timer is capped at `CATCH_UP_MS`, and after the line
 *   has been idle the schedule restarts from now. The same scheme as harness/link/paced.ts,
 *   written out here because the module paces its own output (link's schedule is private to a
 *   link) and never drops or reorders bytes.
 * - **Input** that arrives faster than the line could carry it is NOTICED, not dropped (no
 *   source says what a BX does with a byte it cannot take; on a real port the host's serial
 *   driver cannot send faster, so only a host writing into a PTY or TCP port unpaced does this).
 *   The receiver keeps the time at which the bytes received so far would have finished
 *   crossing the line if each chunk started crossing when it arrived (or when the line was
 *   free); when that runs ahead of the clock by more than the tolerance (`RX_FIFO_BYTES` of
 *   line time plus `RX_SLACK_MS`, about 1.8 KB at once at 115200) the burst counts as one
 *   overrun. A host that paces itself (a real port, `pacedLink`) is at most a slice or two
 *   ahead. The one false alarm left: this process not reading for more than the slack while a
 *   paced host keeps sending, which then arrives as one chunk; the notice is evidence, not a
 *   failure.
 *
 * `baudRate: 0` (instant) writes at once and notices nothing.
 */
import { timingByteMs, type Timing } from '../timing.ts';

/** Slice of output: about 10 ms of line time (at least one byte). */
const SLICE_MS = 10;
/** How far behind its schedule the output may catch up after a late timer (pacedLink's slack). */
const CATCH_UP_MS = 10;
/** The ESP32 UART's hardware receive FIFO, in bytes [derived: ESP32 TRM, 128-byte UART FIFO]. */
export const RX_FIFO_BYTES = 128;
/**
 * Transport and scheduling jitter allowed to a paced host: a PTY or a TCP socket may deliver
 * several of its slices in one read when either event loop is busy (a loaded 2-core CI machine
 * stalls tens of ms, rarely more than 100). A host writing a 3000-byte certificate unpaced is
 * 260 ms ahead at 115200.
 */
export const RX_SLACK_MS = 150;

export interface OverrunNotice {
  /** Bytes received in this burst so far. */
  bytes: number;
  /** How far ahead of the line the host was when noticed, ms. */
  aheadMs: number;
  /** The tolerance it crossed, ms. */
  toleranceMs: number;
}

export class SimUart {
  readonly #byteMs: number;
  readonly #sliceBytes: number;
  readonly #write: (buf: Buffer) => void;
  readonly #notice: (n: OverrunNotice) => void;
  readonly #queue: Buffer[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** When the output line is next free (performance.now() ms). */
  #txFreeAt = -Infinity;
  /** When the input received so far would have finished crossing the line. */
  #rxLineEnd = -Infinity;
  #rxBurstBytes = 0;
  #rxFlagged = false;
  #overruns = 0;

  constructor(timing: Timing, write: (buf: Buffer) => void, notice: (n: OverrunNotice) => void) {
    this.#byteMs = timingByteMs(timing);
    this.#sliceBytes = timing.line.baudRate > 0 ? Math.max(1, Math.floor(SLICE_MS / this.#byteMs)) : Infinity;
    this.#write = write;
    this.#notice = notice;
  }

  /** Bursts of input that ran ahead of the line (see the module comment). */
  get overruns(): number {
    return this.#overruns;
  }

  /** Bytes waiting to cross the output line. */
  get pending(): number {
    return this.#queue.reduce((n, b) => n + b.length, 0);
  }

  /** The tolerance input may run ahead of the line by, ms (0 when unpaced). */
  get rxToleranceMs(): number {
    return this.#byteMs > 0 ? RX_FIFO_BYTES * this.#byteMs + RX_SLACK_MS : 0;
  }

  /** Queue output; it reaches `write` at the line rate, in order. */
  send(buf: Buffer): void {
    if (!buf.length) return;
    if (this.#byteMs === 0) {
      this.#write(buf);
      return;
    }
    this.#queue.push(buf);
    if (!this.#timer) this.#next(false);
  }

  /** Account `bytes` of input that arrived now. */
  received(bytes: number): void {
    if (this.#byteMs === 0 || bytes === 0) return;
    const now = performance.now();
    if (this.#rxLineEnd <= now) {
      // The line had caught up (or was idle): a new burst.
      this.#rxBurstBytes = 0;
      this.#rxFlagged = false;
    }
    this.#rxBurstBytes += bytes;
    this.#rxLineEnd = Math.max(this.#rxLineEnd, now) + bytes * this.#byteMs;
    const ahead = this.#rxLineEnd - now;
    if (!this.#rxFlagged && ahead > this.rxToleranceMs) {
      this.#rxFlagged = true;
      this.#overruns++;
      this.#notice({ bytes: this.#rxBurstBytes, aheadMs: ahead, toleranceMs: this.rxToleranceMs });
    }
  }

  /** Drop queued output and its timer (module closed): nothing is written after this. */
  clear(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
  }

  /** Reserve the next slice's line time and hand it on when it has crossed. */
  #next(continued: boolean): void {
    const now = performance.now();
    const head = this.#queue[0];
    if (!head) {
      this.#timer = undefined;
      return;
    }
    const slice = head.subarray(0, this.#sliceBytes);
    if (slice.length === head.length) this.#queue.shift();
    else this.#queue[0] = head.subarray(slice.length);
    const start = continued || now < this.#txFreeAt ? Math.max(this.#txFreeAt, now - CATCH_UP_MS) : now;
    this.#txFreeAt = start + slice.length * this.#byteMs;
    this.#timer = setTimeout(
      () => {
        this.#write(slice);
        this.#next(true);
      },
      Math.max(0, this.#txFreeAt - now),
    );
  }
}
