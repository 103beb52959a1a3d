/**
 * The verdicts a rig has given, and the ways to wait for one. Shared by the aedes rig and the
 * external-broker rigs so `waitForVerdict`/`onVerdict` behave the same behind every broker.
 * Also the rolling window that bounds what a long-running rig keeps of its past connections.
 */
import createDebug from 'debug';
import { VerdictTimeoutError } from './errors.ts';
import type { Verdict } from './types.ts';

const debug = createDebug('bx-hil:broker');

export class VerdictLog {
  readonly verdicts: Verdict[] = [];
  readonly #listeners = new Set<(v: Verdict) => void>();
  readonly #rig: string;
  #dropped = 0;

  /** `rig` names the broker in timeout errors (aedes, mosquitto, container). */
  constructor(rig: string) {
    this.#rig = rig;
  }

  /** Record a verdict and tell the listeners; a listener that throws cannot break the rig. */
  add(v: Verdict): void {
    this.verdicts.push(v);
    for (const cb of this.#listeners) {
      try {
        cb(v);
      } catch (err) {
        debug('verdict listener threw: %O', err);
      }
    }
  }

  onVerdict(cb: (v: Verdict) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /** The first verdict (already given or still to come) that passes `filter`, within `timeoutMs`. */
  waitForVerdict(filter: (v: Verdict) => boolean = () => true, timeoutMs = 10_000): Promise<Verdict> {
    const found = this.verdicts.find(filter);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(
          new VerdictTimeoutError(
            this.#rig,
            timeoutMs,
            this.verdicts.map((v) => v.code),
          ),
        );
      }, timeoutMs);
      const off = this.onVerdict((v) => {
        if (!filter(v)) return;
        clearTimeout(timer);
        off();
        resolve(v);
      });
    });
  }

  /** Verdicts dropped by `forget` (the rig's retention window), so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Drop the verdicts `which` selects (their connections left the rig's retention window).
   * Listeners and waiters are not affected: they saw each verdict as it was given.
   */
  forget(which: (v: Verdict) => boolean): void {
    let kept = 0;
    for (const v of this.verdicts) if (!which(v)) this.verdicts[kept++] = v;
    this.#dropped += this.verdicts.length - kept;
    this.verdicts.length = kept;
  }

  /** Drop every listener (the rig is closing). */
  clearListeners(): void {
    this.#listeners.clear();
  }
}

/**
 * The verdict half of `BrokerRig` (`verdicts`, `waitForVerdict`, `onVerdict`), the same behind
 * every broker: the aedes and Mosquitto rigs extend it and add what they judge to `verdictLog`.
 */
export abstract class VerdictingRig {
  protected readonly verdictLog: VerdictLog;

  /** `rig` names the broker in timeout errors (aedes, mosquitto, container). */
  constructor(rig: string) {
    this.verdictLog = new VerdictLog(rig);
  }

  get verdicts(): Verdict[] {
    return this.verdictLog.verdicts;
  }

  waitForVerdict(filter?: (v: Verdict) => boolean, timeoutMs?: number): Promise<Verdict> {
    return this.verdictLog.waitForVerdict(filter, timeoutMs);
  }

  onVerdict(cb: (v: Verdict) => void): () => void {
    return this.verdictLog.onVerdict(cb);
  }

  /** Start `rig`; when a step fails, close what it built and throw the start error. */
  static async started<R extends VerdictingRig & { start(): Promise<void>; close(): Promise<void> }>(
    rig: R,
  ): Promise<R> {
    try {
      await rig.start();
    } catch (err) {
      await rig.close().catch(() => undefined);
      throw err;
    }
    return rig;
  }
}

/**
 * Default budget of what a rig keeps of its ended connections: records, their events and
 * verdicts, measured as JSON bytes. An attempt takes about 1 to 4 KB (a refused handshake at the
 * low end, a full MQTT session near the high end; at most 500 packet events are kept per
 * connection), so 8 MiB holds the last few thousand attempts: more than any suite run makes
 * (each test opens a handful), and about a day of a bench module retrying every 30 s. The heap
 * cost stays in the tens of MB; every verdict was already printed or written as it was given.
 */
export const RETAIN_BYTES_DEFAULT = 8 * 1024 * 1024; // 8 MiB

/**
 * A rolling window under a byte budget: entries go in when they are complete (a connection
 * has ended) with their size, and the oldest leave once the total passes `capBytes`. A trim
 * goes down to 3/4 of the budget, so dropping (and the caller's marker) happens once per
 * quarter of the budget rather than on every entry. The newest entry always stays.
 * Hand-written: an LRU cache library bounds by count or recency of use, not insertion order
 * with one marker per batch, and this is twenty lines.
 */
export class RollingWindow<T> {
  readonly capBytes: number;
  #entries: { item: T; bytes: number }[] = [];
  #head = 0;
  #bytes = 0;
  /** Entries and bytes dropped so far. */
  droppedCount = 0;
  droppedBytes = 0;

  constructor(capBytes: number) {
    this.capBytes = capBytes;
  }

  /** Bytes of the entries kept. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Add an entry of `bytes`; returns the entries dropped to stay under the budget, oldest first. */
  add(item: T, bytes: number): T[] {
    this.#entries.push({ item, bytes });
    this.#bytes += bytes;
    if (this.#bytes <= this.capBytes) return [];
    const target = Math.floor((this.capBytes * 3) / 4);
    const dropped: T[] = [];
    while (this.#bytes > target && this.#entries.length - this.#head > 1) {
      const e = this.#entries[this.#head++]!;
      this.#bytes -= e.bytes;
      this.droppedBytes += e.bytes;
      dropped.push(e.item);
    }
    this.droppedCount += dropped.length;
    // Compact once the dropped prefix is the larger part (amortised O(1) per entry).
    if (this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
    return dropped;
  }
}
