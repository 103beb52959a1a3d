/**
 * The AT engine's timekeeping: every timer it arms, the sleeps that `close()` or a lost link
 * wake early, and the command deadlines that share one lazily re-armed timer.
 */

/** Injectable timers (MQTT.js's Timer idea, docs/STYLE.md §15). Defaults call the globals at call time, so fake timers work. */
export interface AtTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: AtTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface Deadline {
  at: number;
  fire(): void;
}

/** Owns the engine's timers: `close()` clears every one of them and wakes every sleeper. */
export class Timekeeper {
  readonly #timersApi: AtTimers;
  readonly #now: () => number;
  readonly #timers = new Set<unknown>();
  readonly #sleepers = new Set<() => void>();
  readonly #deadlines = new Set<Deadline>();
  #deadlineTimer: unknown;
  #deadlineAt = Infinity;

  constructor(timers: AtTimers, now: () => number) {
    this.#timersApi = timers;
    this.#now = now;
  }

  /**
   * Command timeouts share one lazily re-armed timer (undici's fast-timers idea): arming and
   * clearing a timer per command cost more than the rest of a round trip. A deadline that is
   * removed leaves the timer armed; when it fires with nothing due it simply re-arms for the
   * earliest remaining deadline, or stops.
   */
  addDeadline(ms: number, fire: () => void): Deadline {
    const d: Deadline = { at: this.#now() + ms, fire };
    this.#deadlines.add(d);
    if (d.at < this.#deadlineAt) this.#armDeadline(d.at);
    return d;
  }

  /** The deadline is met: it will not fire. */
  dropDeadline(d: Deadline): void {
    this.#deadlines.delete(d);
  }

  #armDeadline(at: number): void {
    if (this.#deadlineTimer !== undefined) this.clear(this.#deadlineTimer);
    this.#deadlineAt = at;
    this.#deadlineTimer = this.set(() => this.#onDeadline(), Math.max(0, at - this.#now()));
    // A timer left armed after the last command must not keep the process alive.
    (this.#deadlineTimer as { unref?: () => void }).unref?.();
  }

  #onDeadline(): void {
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
    const now = this.#now();
    let next = Infinity;
    for (const d of [...this.#deadlines]) {
      if (d.at <= now) {
        this.#deadlines.delete(d);
        d.fire();
      } else if (d.at < next) {
        next = d.at;
      }
    }
    if (next < this.#deadlineAt) this.#armDeadline(next);
  }

  set(fn: () => void, ms: number): unknown {
    const handle = this.#timersApi.setTimeout(() => {
      this.#timers.delete(handle);
      fn();
    }, ms);
    this.#timers.add(handle);
    return handle;
  }

  clear(handle: unknown): void {
    if (this.#timers.delete(handle)) this.#timersApi.clearTimeout(handle);
  }

  /** Sleep; woken early (resolved) by close() or link loss, after which the caller's next check throws. */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        this.#sleepers.delete(wake);
        this.clear(timer);
        resolve();
      };
      const timer = this.set(wake, ms);
      this.#sleepers.add(wake);
    });
  }

  /** Call `wake` when the engine closes or loses its link (like a sleeper). */
  addSleeper(wake: () => void): void {
    this.#sleepers.add(wake);
  }

  removeSleeper(wake: () => void): void {
    this.#sleepers.delete(wake);
  }

  /** Wake every sleeper (the link is gone: the next check throws). */
  wakeAll(): void {
    for (const wake of [...this.#sleepers]) wake();
  }

  /** Clear every timer and deadline, wake every sleeper. */
  close(): void {
    for (const t of this.#timers) this.#timersApi.clearTimeout(t);
    this.#timers.clear();
    this.#deadlines.clear();
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
    this.wakeAll();
    this.#sleepers.clear();
  }
}
