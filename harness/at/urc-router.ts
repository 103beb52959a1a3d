/**
 * Where a URC goes once the engine has parsed it: the history kept for `expect(..., { since })`,
 * the `onUrc` listeners and iterators, and the `expect` waiters. The engine decides what is a
 * URC (engine.ts `#frame`, with the `UrcRegistry`); this file only routes it.
 */
import createDebug from 'debug';
import { AtTimeoutError } from './errors.ts';
import type { ExpectOptions } from './options.ts';
import type { Timekeeper } from './timers.ts';
import type { Urc } from './urc.ts';

const debug = createDebug('bx-hil:at');

/** What `expect` matches: a regex on the URC line, a string the line starts with, or a predicate. */
export type UrcPattern = RegExp | string | ((urc: Urc) => boolean);

interface Expecter {
  match(urc: Urc): boolean;
  resolve(urc: Urc): void;
  reject(err: Error): void;
}

export interface UrcRouterOptions {
  time: Timekeeper;
  now: () => number;
  /** URCs remembered for `since`. */
  history: number;
  defaultTimeoutMs: number;
  /** Publish an evidence event (the engine's `#emit`). */
  emit(kind: string, summary: string, data: Record<string, unknown>): void;
  /** The transcript tail a timeout error quotes. */
  tail(): string;
  /** The transcript file a timeout error names. */
  transcriptPath: string | undefined;
}

export class UrcRouter {
  readonly #o: UrcRouterOptions;
  readonly #urcListeners = new Set<(urc: Urc) => void>();
  readonly #expecters = new Set<Expecter>();
  readonly #history: Urc[] = [];

  constructor(options: UrcRouterOptions) {
    this.#o = options;
  }

  /** Subscribe to every URC; returns the unsubscribe function. */
  onUrc(listener: (urc: Urc) => void): () => void {
    this.#urcListeners.add(listener);
    return () => this.#urcListeners.delete(listener);
  }

  /** See `AtEngine.urcs`; `closed`: the engine is closed already (the iterator is done at once). */
  urcs(opts: { signal?: AbortSignal; maxBuffered?: number }, closed: boolean): AsyncIterableIterator<Urc> {
    const max = opts.maxBuffered ?? 10_000;
    const buffer: Urc[] = [];
    let wake: (() => void) | undefined;
    let done = closed;
    const stop = (): void => {
      done = true;
      unsubscribe();
      this.#o.time.removeSleeper(stop);
      opts.signal?.removeEventListener('abort', stop);
      wake?.();
    };
    const unsubscribe = this.onUrc((urc) => {
      buffer.push(urc);
      if (buffer.length > max) buffer.shift();
      wake?.();
    });
    // Registered with the sleepers so close() ends the iteration.
    this.#o.time.addSleeper(stop);
    if (opts.signal?.aborted) stop();
    else opts.signal?.addEventListener('abort', stop, { once: true });
    const iterator: AsyncIterableIterator<Urc> = {
      next: async () => {
        for (;;) {
          const urc = buffer.shift();
          if (urc) return { value: urc, done: false };
          if (done) return { value: undefined, done: true };
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      },
      return: async () => {
        stop();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** See `AtEngine.expect`; `linkError`: why the link ended, when it did (rejects unless history matches). */
  expect(pattern: UrcPattern, opts: ExpectOptions, linkError: Error | undefined): Promise<Urc> {
    const match = toMatcher(pattern);
    if (opts.since !== undefined) {
      const hit = this.#history.find((u) => u.seq > opts.since! && match(u));
      if (hit) return Promise.resolve(hit);
    }
    if (linkError) return Promise.reject(linkError);
    const timeoutMs = opts.timeoutMs ?? this.#o.defaultTimeoutMs;
    const started = this.#o.now();
    return new Promise<Urc>((resolve, reject) => {
      const expecter: Expecter = {
        match,
        resolve: (urc) => {
          this.#expecters.delete(expecter);
          this.#o.time.clear(timer);
          resolve(urc);
        },
        reject: (err) => {
          this.#expecters.delete(expecter);
          this.#o.time.clear(timer);
          reject(err);
        },
      };
      const timer = this.#o.time.set(() => {
        const waited = this.#o.now() - started;
        const what = `expect ${describe(pattern)}`;
        this.#o.emit('timeout', `${what}: nothing within ${Math.round(waited)} ms`, { pattern: describe(pattern) });
        expecter.reject(
          new AtTimeoutError(
            what,
            waited,
            this.#o.tail(),
            this.#o.transcriptPath,
            'the module did not send the expected URC; see the transcript for what it sent instead',
          ),
        );
      }, timeoutMs);
      this.#expecters.add(expecter);
    });
  }

  /** Keep the URC for `since` (the last `history` of them). */
  remember(urc: Urc): void {
    if (this.#o.history > 0) {
      this.#history.push(urc);
      if (this.#history.length > this.#o.history) this.#history.shift();
    }
  }

  /** Hand the URC to every listener, then to every waiter it matches. */
  dispatch(urc: Urc): void {
    for (const l of [...this.#urcListeners]) {
      try {
        l(urc);
      } catch (err) {
        debug('URC listener threw: %O', err);
      }
    }
    for (const e of [...this.#expecters]) if (e.match(urc)) e.resolve(urc);
  }

  /** Reject every waiter (the engine closed or lost its link). */
  rejectAll(makeError: () => Error): void {
    for (const e of [...this.#expecters]) e.reject(makeError());
  }

  /** Forget every listener (the engine closed). */
  clearListeners(): void {
    this.#urcListeners.clear();
  }
}

function toMatcher(pattern: UrcPattern): (urc: Urc) => boolean {
  if (typeof pattern === 'function') return pattern;
  if (typeof pattern === 'string') return (urc) => urc.line.startsWith(pattern);
  return (urc) => {
    pattern.lastIndex = 0;
    return pattern.test(urc.line);
  };
}

/** How a pattern is named in messages and evidence. */
export function describe(pattern: UrcPattern): string {
  if (typeof pattern === 'function') return pattern.name ? `<${pattern.name}>` : '<predicate>';
  return typeof pattern === 'string' ? JSON.stringify(pattern) : String(pattern);
}
