/**
 * `AtEngine`: AT commands over a byte `Link`.
 *
 * Semantics (docs/at-and-driver.md has the long form):
 * - A command is sent as `<cmd>\r` (docs/reference/bx310x-at.md §1 [BX-T, BX-L]); answers are CRLF lines
 *   (bare CR / LF tolerated, see `AtFramer`).
 * - One command in flight: calls queue in call order. A command's timeout starts when it is
 *   sent, not while it waits in the queue.
 * - Echo (ATE1) is detected and dropped: the first line equal to the command just sent is the
 *   echo (`echo` tells what was seen last).
 * - Final results: `OK` resolves; `ERROR` rejects `AtCommandError`; `+CME ERROR: <n>` rejects
 *   `CmeError`; `CONNECT` enters data mode (only `dataMode()` expects it; for `command()` it is
 *   an `AtProtocolError` and the engine escapes data mode before the next command).
 * - URCs (from the `UrcRegistry`) go to subscribers at any time and are never part of a
 *   command's answer. Other lines between a command and its final result are its information
 *   lines, in order (multi-line read forms such as `AT+KCERTSTORE?` included).
 * - `READY` while a command is in flight fails it at once with `ModuleResetError`, unless the
 *   command was sent with `expectReset` (AT+RST, AT&F), for which READY also counts as final.
 * - After a timeout, a stray final result or garbage, the next command first resynchronises:
 *   `AT` until `OK`, at most `resyncAttempts` times, else `AtResyncError`.
 * - Every byte both ways goes to the `Transcript`; commands, lines, finals, URCs, data,
 *   timeouts and resets go to the evidence bus (`source: 'at'`). Secret uploads and registered
 *   secrets never reach either: a secret upload registers its content in the engine's
 *   `SecretRegistry` (harness/secrets.ts) before it is sent, a password is registered with
 *   `addSecret`, and everything shown (transcript, evidence, error messages, timeout tails)
 *   goes through the one redaction pass with that registry.
 * - A line from the module that holds a run of a registered key's secret part is a security
 *   finding: the line is redacted before anyone sees it (also in the command's answer), a
 *   `secret-echo` event says `SECURITY FAILURE: the module echoed stored key material`, and the
 *   command in flight rejects `SecretEchoError` whatever its final result.
 * - `close()` rejects what is pending (`AtClosedError`), ends URC iterators, clears every timer
 *   and detaches from the link. It does not close the link (its owner does).
 */
import createDebug from 'debug';
import { ConfigError } from '../errors.ts';
import type { EvidenceBus } from '../evidence.ts';
import type { SecretRegistry } from '../secrets.ts';
import { LinkError, type Link } from '../link/index.ts';
import {
  AtClosedError,
  AtCommandError,
  AtProtocolError,
  AtResyncError,
  AtTimeoutError,
  CmeError,
  ModuleResetError,
  SecretEchoError,
} from './errors.ts';
import { AtFramer, finalKindOf, type AtFramerOptions, type Frame } from './framer.ts';
import { escapeRedacted, Transcript } from './transcript.ts';
import { commandPrefix, defaultUrcRegistry, linePrefix, parseParams, type Urc, type UrcRegistry } from './urc.ts';

const debug = createDebug('bx-hil:at');

/** Injectable timers (MQTT.js's Timer idea, STYLE.md §15). Defaults call the globals at call time, so fake timers work. */
export interface AtTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: AtTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface AtEngineOptions {
  /** Evidence bus to publish to (`source: 'at'`). Default: none. */
  bus?: EvidenceBus;
  /** `scope` of the evidence events, e.g. `dev0`. Default: none. */
  scope?: string;
  /** Timeout of one command (from sending to the final result), ms. Default 5000 (5 s). */
  defaultTimeoutMs?: number;
  /** Write the transcript text to this file as it grows. Default: no file. */
  transcriptPath?: string;
  /** Bytes of transcript kept in memory (a rolling window, see `Transcript`). Default 8 MiB. */
  transcriptMaxBytes?: number;
  /** Where secrets sent are registered and redacted from. Default `processSecrets` (harness/secrets.ts). */
  secrets?: SecretRegistry;
  /** Which lines are URCs. Default `defaultUrcRegistry()`. */
  urcs?: UrcRegistry;
  /** Timers for timeouts and guard times. Default the global ones. */
  timers?: AtTimers;
  /** Monotonic clock, ms. Default the bus's clock, else `performance.now()`. */
  now?: () => number;
  /** `AT` attempts when resynchronising. Default 3. */
  resyncAttempts?: number;
  /** Wait for `OK` per resync attempt, ms. Default 1000 (1 s). */
  resyncTimeoutMs?: number;
  /** Guard time around the `+++` sent to leave a data mode the engine was left in, ms. Default 1000 (1 s). */
  escapeGuardMs?: number;
  /**
   * When `AT` gets no answer `resyncAttempts` times, try one guarded `+++` and one more `AT`
   * before giving up (the module may be stuck in data mode). Default true.
   */
  resyncEscape?: boolean;
  /** URCs remembered for `expect(..., { since })`. Default 256. */
  urcHistory?: number;
  /** Framer options (counted inline-data prefixes, max line length). */
  framer?: AtFramerOptions;
}

export type ParsedAtEngineOptions = Required<
  Omit<AtEngineOptions, 'bus' | 'scope' | 'transcriptPath' | 'transcriptMaxBytes' | 'secrets' | 'framer' | 'now'>
> &
  Pick<AtEngineOptions, 'bus' | 'scope' | 'transcriptPath' | 'transcriptMaxBytes' | 'secrets' | 'framer'> & {
    now: () => number;
  };

const DEFAULTS = Object.freeze({
  defaultTimeoutMs: 5_000, // 5 s
  resyncAttempts: 3,
  resyncTimeoutMs: 1_000, // 1 s
  escapeGuardMs: 1_000, // 1 s
  resyncEscape: true,
  urcHistory: 256,
});

function positiveMs(field: string, value: unknown, min = 0): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new ConfigError(field, value, `${field} must be a number >= ${min} (milliseconds), got ${String(value)}`);
  }
  return value;
}

/** Validate engine options once, at the edge (STYLE.md §6). */
export function parseAtEngineOptions(input: AtEngineOptions = {}): ParsedAtEngineOptions {
  const o = {
    ...DEFAULTS,
    ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
  } as AtEngineOptions & typeof DEFAULTS;
  positiveMs('defaultTimeoutMs', o.defaultTimeoutMs, 1);
  positiveMs('resyncTimeoutMs', o.resyncTimeoutMs, 1);
  positiveMs('escapeGuardMs', o.escapeGuardMs);
  if (!Number.isInteger(o.resyncAttempts) || o.resyncAttempts < 1) {
    throw new ConfigError(
      'resyncAttempts',
      o.resyncAttempts,
      `resyncAttempts must be an integer >= 1, got ${String(o.resyncAttempts)}`,
    );
  }
  if (!Number.isInteger(o.urcHistory) || o.urcHistory < 0) {
    throw new ConfigError(
      'urcHistory',
      o.urcHistory,
      `urcHistory must be an integer >= 0, got ${String(o.urcHistory)}`,
    );
  }
  const bus = o.bus;
  return {
    bus,
    scope: o.scope,
    transcriptPath: o.transcriptPath,
    transcriptMaxBytes: o.transcriptMaxBytes,
    secrets: o.secrets,
    framer: o.framer,
    defaultTimeoutMs: o.defaultTimeoutMs,
    resyncAttempts: o.resyncAttempts,
    resyncTimeoutMs: o.resyncTimeoutMs,
    escapeGuardMs: o.escapeGuardMs,
    resyncEscape: o.resyncEscape,
    urcHistory: o.urcHistory,
    urcs: o.urcs ?? defaultUrcRegistry(),
    timers: o.timers ?? systemTimers,
    now: o.now ?? (bus ? () => bus.clock.now() : () => performance.now()),
  };
}

export interface CommandOptions {
  /** From sending the command to its final result, ms. Default the engine's `defaultTimeoutMs`. */
  timeoutMs?: number;
  /** The command resets the module (AT+RST, AT&F): `READY` completes it instead of failing it. Default false. */
  expectReset?: boolean;
}

export interface AtResponse {
  /** The command as sent (secrets redacted), without CR. */
  command: string;
  /** Information lines in order, URCs and echo excluded. */
  lines: string[];
  final: 'OK';
}

export interface DataModeOptions {
  /** Bytes per write; the data is written in one piece when absent. */
  chunkSize?: number;
  /** Pause between chunks, ms (pacing for slow UARTs [3P]). Default 0. */
  chunkDelayMs?: number;
  /**
   * Silence kept before and after the end pattern, ms. Default 1000 (1 s). The BX tests use
   * 1500 [BX-T], Libelium 100 [BX-L].
   */
  guardTimeMs?: number;
  /** What ends the data phase, sent without CR. Default `+++` [BX-T, BX-L]; HL uses `--EOF--Pattern--` [HL-T]. */
  endPattern?: string;
  /** The data is a secret (a private key): only its length and SHA-256 reach the transcript and the bus. Default false. */
  secret?: boolean;
  /** Per wait (for `CONNECT`, then for the final result after the end pattern), ms. Default the engine's `defaultTimeoutMs`. */
  timeoutMs?: number;
}

export interface ExpectOptions {
  /** How long to wait, ms. Default the engine's `defaultTimeoutMs`. */
  timeoutMs?: number;
  /** A `marker()`: URCs received after it count too, not only the next ones. Default: only URCs arriving after the call. */
  since?: number;
}

/** What `expect` matches: a regex on the URC line, a string the line starts with, or a predicate. */
export type UrcPattern = RegExp | string | ((urc: Urc) => boolean);

type Final =
  | { kind: 'OK' | 'ERROR' | 'CONNECT' | 'READY'; cmeCode?: undefined }
  | { kind: 'CME'; cmeCode: number; cmeText?: string };

interface Exchange {
  /** The command as written, without CR (unredacted: compared with the echo). */
  sent: string;
  /** Redacted, for messages and evidence. */
  shown: string;
  prefix: string | undefined;
  lines: string[];
  echoDone: boolean;
  expectReset: boolean;
  /** The module sent back registered key material during this exchange. */
  secretEcho: boolean;
  /** A final result that arrived while nobody waited (e.g. an early CME during the data phase). */
  outcome: Final | Error | undefined;
  waiter: { resolve(f: Final): void; reject(e: Error): void } | undefined;
}

interface Deadline {
  at: number;
  fire(): void;
}

interface Expecter {
  match(urc: Urc): boolean;
  resolve(urc: Urc): void;
  reject(err: Error): void;
}

export class AtEngine {
  readonly link: Link;
  readonly transcript: Transcript;
  readonly options: ParsedAtEngineOptions;
  readonly #framer: AtFramer;
  readonly #timers = new Set<unknown>();
  readonly #sleepers = new Set<() => void>();
  readonly #urcListeners = new Set<(urc: Urc) => void>();
  readonly #expecters = new Set<Expecter>();
  readonly #history: Urc[] = [];
  readonly #recentSent: string[] = [];
  readonly #rxBlank: Buffer[] = [];
  /** One-entry cache of the last command's prefix (the same command is often repeated). */
  #lastPrefix: [string, string | undefined] = ['', undefined];
  readonly #deadlines = new Set<Deadline>();
  #deadlineTimer: unknown;
  #deadlineAt = Infinity;
  #queue: Promise<unknown> = Promise.resolve();
  /** Tasks queued or running. */
  #queued = 0;
  #exchange: Exchange | undefined;
  #seq = 0;
  #secretEchoes = 0;
  #echo: boolean | undefined;
  #needsResync = false;
  #inDataMode = false;
  #quietUntil = 0;
  #closed = false;
  /** Why the link ended, when it did. */
  #linkError: Error | undefined;
  readonly #onData = (chunk: Buffer): void => this.#receive(chunk);
  readonly #onClose = (err: Error | undefined): void => this.#linkClosed(err);

  constructor(link: Link, options: AtEngineOptions = {}) {
    this.options = parseAtEngineOptions(options);
    this.link = link;
    this.#framer = new AtFramer(this.options.framer);
    this.transcript = new Transcript({
      now: this.options.now,
      path: this.options.transcriptPath,
      ...(this.options.transcriptMaxBytes !== undefined ? { maxBytes: this.options.transcriptMaxBytes } : {}),
      ...(this.options.secrets ? { secrets: this.options.secrets } : {}),
    });
    link.on('data', this.#onData);
    link.on('close', this.#onClose);
  }

  /** Whether the last command was echoed (ATE1); undefined before the first answer. */
  get echo(): boolean | undefined {
    return this.#echo;
  }

  /** True between `CONNECT` and the final result of a data-mode command. */
  get inDataMode(): boolean {
    return this.#inDataMode;
  }

  /** True when the next command will first resynchronise (after a timeout or garbage). */
  get needsResync(): boolean {
    return this.#needsResync;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Never write this string to the transcript, the bus or an error (passwords); it becomes
   * `<<redacted>>`, and its first 4+ characters at the end of a cut-off text too.
   */
  addSecret(secret: string): void {
    this.transcript.addSecret(secret);
  }

  /** The one redaction pass with this engine's registry, for callers that quote module text (e.g. in errors). */
  redact(text: string): string {
    return this.transcript.redact(text);
  }

  /** How many lines from the module held registered key material (each one a security finding). */
  get secretEchoes(): number {
    return this.#secretEchoes;
  }

  /** The sequence number of the last URC received: pass it as `since` to `expect`. */
  marker(): number {
    return this.#seq;
  }

  /** Subscribe to every URC; returns the unsubscribe function. */
  onUrc(listener: (urc: Urc) => void): () => void {
    this.#urcListeners.add(listener);
    return () => this.#urcListeners.delete(listener);
  }

  /**
   * Every URC from now on, as an async iterator (buffered; at most `maxBuffered`, the oldest are
   * dropped beyond). Ends when the engine closes or `signal` aborts.
   */
  urcs(opts: { signal?: AbortSignal; maxBuffered?: number } = {}): AsyncIterableIterator<Urc> {
    const max = opts.maxBuffered ?? 10_000;
    const buffer: Urc[] = [];
    let wake: (() => void) | undefined;
    let done = this.#closed;
    const stop = (): void => {
      done = true;
      unsubscribe();
      this.#sleepers.delete(stop);
      opts.signal?.removeEventListener('abort', stop);
      wake?.();
    };
    const unsubscribe = this.onUrc((urc) => {
      buffer.push(urc);
      if (buffer.length > max) buffer.shift();
      wake?.();
    });
    // Registered with the sleepers so close() ends the iteration.
    this.#sleepers.add(stop);
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

  /** Send one command and wait for its final result. */
  command(cmd: string, opts: CommandOptions = {}): Promise<AtResponse> {
    try {
      this.#checkCommand(cmd);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#enqueue(async () => {
      const prep = this.#prepare();
      if (prep) await prep;
      const ex = await this.#send(cmd, opts.expectReset ?? false);
      const final = await this.#wait(ex, opts.timeoutMs ?? this.options.defaultTimeoutMs);
      if (final.kind === 'CONNECT') {
        this.#inDataMode = true;
        this.#needsResync = true;
        this.#end(ex);
        throw new AtProtocolError(
          ex.shown,
          'CONNECT',
          'a final result (the command entered data mode; use dataMode())',
        );
      }
      return this.#finish(ex, final);
    });
  }

  /** Send `AT` until `OK` (bounded), e.g. right after opening a link. */
  sync(): Promise<void> {
    return this.#enqueue(async () => {
      this.#needsResync = true;
      await this.#prepare();
    });
  }

  /**
   * A data-mode command: send `cmd`, wait for `CONNECT`, send `data` (optionally in paced
   * chunks), keep `guardTimeMs` of silence, send the end pattern without CR, and wait for the
   * final result. The next command is not sent before `guardTimeMs` has passed after the end
   * pattern either. A final result that arrives during the data phase (the module refused the
   * data) ends the call at once without sending the end pattern.
   */
  dataMode(cmd: string, data: string | Uint8Array, opts: DataModeOptions = {}): Promise<AtResponse> {
    try {
      return this.#dataMode(cmd, data, opts);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #dataMode(cmd: string, data: string | Uint8Array, opts: DataModeOptions): Promise<AtResponse> {
    this.#checkCommand(cmd);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
    const guardTimeMs = positiveMs('guardTimeMs', opts.guardTimeMs ?? 1_000); // 1 s
    const chunkDelayMs = positiveMs('chunkDelayMs', opts.chunkDelayMs ?? 0);
    const chunkSize = opts.chunkSize ?? Math.max(1, bytes.length);
    if (!Number.isInteger(chunkSize) || chunkSize < 1)
      throw new ConfigError('chunkSize', chunkSize, `chunkSize must be an integer >= 1, got ${String(chunkSize)}`);
    const endPattern = opts.endPattern ?? '+++';
    if (endPattern.length === 0) throw new ConfigError('endPattern', endPattern, 'endPattern must not be empty');
    const timeoutMs = opts.timeoutMs ?? this.options.defaultTimeoutMs;
    // Registered before anything is sent: from now on the key is redacted wherever it shows up.
    if (opts.secret) this.transcript.secrets.addKey(bytes);
    return this.#enqueue(async () => {
      const prep = this.#prepare();
      if (prep) await prep;
      const ex = await this.#send(cmd, false);
      const first = await this.#wait(ex, timeoutMs);
      if (first.kind !== 'CONNECT') {
        if (first.kind === 'OK') {
          this.#end(ex);
          throw new AtProtocolError(ex.shown, 'OK', 'CONNECT');
        }
        return this.#finish(ex, first);
      }
      this.#inDataMode = true;
      try {
        if (opts.secret) {
          // Recorded before the bytes go out, so the transcript order stays right.
          const marker = this.transcript.txSecret(bytes);
          this.#emit('data', marker, { command: ex.shown, bytes: bytes.length, secret: true });
        } else {
          this.#emit('data', `${bytes.length} bytes`, { command: ex.shown, bytes: bytes.length });
        }
        for (let off = 0; off < bytes.length; off += chunkSize) {
          if (ex.outcome) break;
          await this.#write(bytes.subarray(off, off + chunkSize), opts.secret ? 'secret' : 'data');
          if (chunkDelayMs > 0 && off + chunkSize < bytes.length) await this.#sleep(chunkDelayMs);
        }
        if (!ex.outcome) {
          await this.#sleep(guardTimeMs);
          if (!ex.outcome) {
            await this.#write(endPattern, 'tx');
            this.#quietUntil = this.options.now() + guardTimeMs;
          }
        }
        const final = await this.#wait(ex, timeoutMs);
        this.#inDataMode = false;
        return this.#finish(
          ex,
          final,
          'after its data phase: the module refused the uploaded bytes; check their format (PEM), the line endings (LF or CRLF), that NbData equals the bytes sent, and the guard time around the end pattern',
        );
      } catch (err) {
        this.#end(ex);
        throw err;
      }
    });
  }

  /**
   * Wait for a URC matching `pattern`: the NEXT one to arrive, or, with `since: marker()`, also
   * one received after that marker (from the last `urcHistory` URCs). Rejects `AtTimeoutError`
   * naming the pattern, the time waited and the transcript tail.
   */
  expect(pattern: UrcPattern, opts: ExpectOptions = {}): Promise<Urc> {
    const match = toMatcher(pattern);
    if (this.#closed) return Promise.reject(new AtClosedError(`expect ${describe(pattern)}`));
    if (opts.since !== undefined) {
      const hit = this.#history.find((u) => u.seq > opts.since! && match(u));
      if (hit) return Promise.resolve(hit);
    }
    if (this.#linkError) return Promise.reject(this.#linkError);
    const timeoutMs = opts.timeoutMs ?? this.options.defaultTimeoutMs;
    const started = this.options.now();
    return new Promise<Urc>((resolve, reject) => {
      const expecter: Expecter = {
        match,
        resolve: (urc) => {
          this.#expecters.delete(expecter);
          this.#clearTimer(timer);
          resolve(urc);
        },
        reject: (err) => {
          this.#expecters.delete(expecter);
          this.#clearTimer(timer);
          reject(err);
        },
      };
      const timer = this.#setTimer(() => {
        const waited = this.options.now() - started;
        const what = `expect ${describe(pattern)}`;
        this.#emit('timeout', `${what}: nothing within ${Math.round(waited)} ms`, { pattern: describe(pattern) });
        expecter.reject(
          new AtTimeoutError(
            what,
            waited,
            this.#tail(),
            this.transcript.path,
            'the module did not send the expected URC; see the transcript for what it sent instead',
          ),
        );
      }, timeoutMs);
      this.#expecters.add(expecter);
    });
  }

  /** Detach from the link, reject what is pending, clear every timer. Idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.link.off('data', this.#onData);
    this.link.off('close', this.#onClose);
    this.#recordRx(Buffer.concat(this.#framer.flush().map((f) => f.raw)));
    const ex = this.#exchange;
    if (ex) this.#fail(ex, new AtClosedError(ex.shown));
    for (const e of [...this.#expecters]) e.reject(new AtClosedError('expect'));
    for (const t of this.#timers) this.options.timers.clearTimeout(t);
    this.#timers.clear();
    this.#deadlines.clear();
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
    for (const wake of [...this.#sleepers]) wake();
    this.#sleepers.clear();
    this.#urcListeners.clear();
    return Promise.resolve();
  }

  // ---- internals -------------------------------------------------------------------------

  #checkCommand(cmd: string): void {
    if (typeof cmd !== 'string' || cmd.length === 0 || /[\r\n]/.test(cmd)) {
      throw new ConfigError(
        'command',
        cmd,
        'an AT command must be a non-empty string without CR or LF (the engine adds the CR)',
      );
    }
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    // Idle: start at once (one promise hop less per command); busy: chain behind the last task.
    const run = this.#queued === 0 ? task() : this.#queue.then(task, task);
    this.#queued++;
    const settled = run.then(
      () => void this.#queued--,
      () => void this.#queued--,
    );
    this.#queue = settled;
    return run;
  }

  /** Checks before a command is sent: closed, link gone, guard time, resync. */
  #prepare(): Promise<void> | undefined {
    this.#assertUsable('command');
    // The common case needs no await: saves a microtask hop per command.
    if (!this.#needsResync && this.#quietUntil - this.options.now() <= 0) return undefined;
    return this.#prepareSlow();
  }

  async #prepareSlow(): Promise<void> {
    const quiet = this.#quietUntil - this.options.now();
    if (quiet > 0) await this.#sleep(quiet);
    this.#assertUsable('command');
    if (!this.#needsResync) return;
    let escaped = false;
    if (this.#inDataMode) {
      // Left in data mode (a timeout or an unexpected CONNECT): escape with guarded +++.
      await this.#escape();
      escaped = true;
    }
    this.#emit('resync', 'resynchronising: AT until OK', {});
    let attempts = 0;
    for (; attempts < this.options.resyncAttempts; attempts++) {
      if (await this.#probe()) return;
    }
    if (this.options.resyncEscape && !escaped) {
      // [BX-T] send_escape(): no answer may mean the module still sits in data mode (e.g. a
      // previous run died mid-upload): one guarded +++, then one more AT.
      this.#emit('resync', 'no answer to AT: trying a guarded +++ in case the module is stuck in data mode', {});
      await this.#escape();
      attempts++;
      if (await this.#probe()) return;
    }
    throw new AtResyncError(attempts, this.#tail(), this.transcript.path);
  }

  async #escape(): Promise<void> {
    await this.#sleep(this.options.escapeGuardMs);
    await this.#write('+++', 'tx');
    await this.#sleep(this.options.escapeGuardMs);
    this.#inDataMode = false;
  }

  /** One `AT`; true when any final result came back (the module parses commands again). */
  async #probe(): Promise<boolean> {
    this.#assertUsable('AT');
    const ex = await this.#send('AT', false);
    try {
      const final = await this.#wait(ex, this.options.resyncTimeoutMs, true);
      this.#end(ex);
      if (final.kind === 'OK' || final.kind === 'ERROR' || final.kind === 'CME') {
        this.#needsResync = false;
        return true;
      }
    } catch (err) {
      if (!(err instanceof AtTimeoutError) && !(err instanceof ModuleResetError)) throw err;
    }
    return false;
  }

  #assertUsable(what: string): void {
    if (this.#closed) throw new AtClosedError(what);
    if (this.#linkError) throw this.#linkError;
  }

  /** Start an exchange and write the command; resolves once the link took the bytes. */
  #send(cmd: string, expectReset: boolean): Promise<Exchange> {
    const shown = this.transcript.redact(cmd);
    if (cmd !== this.#lastPrefix[0]) this.#lastPrefix = [cmd, commandPrefix(cmd)];
    const ex: Exchange = {
      sent: cmd,
      shown,
      prefix: this.#lastPrefix[1],
      lines: [],
      echoDone: false,
      expectReset,
      secretEcho: false,
      outcome: undefined,
      waiter: undefined,
    };
    this.#exchange = ex;
    this.#recentSent.push(cmd);
    if (this.#recentSent.length > 4) this.#recentSent.shift();
    if (this.options.bus) this.#emit('command', shown, { command: shown });
    if (debug.enabled) debug('> %s', shown);
    return this.#write(`${cmd}\r`, 'tx').then(
      () => ex,
      (err: unknown) => {
        this.#end(ex);
        throw err;
      },
    );
  }

  #write(data: string | Uint8Array, record: 'tx' | 'data' | 'secret'): Promise<void> {
    try {
      this.#assertUsable('write');
    } catch (err) {
      return Promise.reject(err);
    }
    if (record !== 'secret') this.transcript.tx(data);
    return this.link.write(data);
  }

  /** Wait for the exchange's next final result (or CONNECT). */
  #wait(ex: Exchange, timeoutMs: number, quietTimeout = false): Promise<Final> {
    if (ex.outcome) {
      const o = ex.outcome;
      ex.outcome = undefined;
      return o instanceof Error ? Promise.reject(o) : Promise.resolve(o);
    }
    this.#assertUsable(ex.shown);
    const started = this.options.now();
    return new Promise<Final>((resolve, reject) => {
      const deadline = this.#addDeadline(timeoutMs, () => {
        ex.waiter = undefined;
        const waited = this.options.now() - started;
        this.#needsResync = true;
        if (this.#exchange === ex) this.#exchange = undefined;
        if (!quietTimeout)
          this.#emit('timeout', `${ex.shown}: no final result within ${Math.round(waited)} ms`, { command: ex.shown });
        reject(new AtTimeoutError(ex.shown, waited, this.#tail(), this.transcript.path));
      });
      ex.waiter = {
        resolve: (f) => {
          this.#deadlines.delete(deadline);
          resolve(f);
        },
        reject: (e) => {
          this.#deadlines.delete(deadline);
          reject(e);
        },
      };
    });
  }

  #finish(ex: Exchange, final: Final, errorRemedy?: string): AtResponse {
    this.#end(ex);
    // The answer held stored key material: that is the finding, whatever the final result said.
    if (ex.secretEcho) throw new SecretEchoError(ex.shown);
    switch (final.kind) {
      case 'OK':
      case 'READY':
        return { command: ex.shown, lines: ex.lines, final: 'OK' };
      case 'ERROR':
        throw new AtCommandError(ex.shown, ex.lines, errorRemedy);
      case 'CME':
        throw new CmeError(ex.shown, final.cmeCode, final.cmeText !== undefined ? { text: final.cmeText } : {});
      default:
        this.#needsResync = true;
        throw new AtProtocolError(ex.shown, final.kind, 'a final result');
    }
  }

  #end(ex: Exchange): void {
    if (this.#exchange === ex) this.#exchange = undefined;
  }

  /** Settle the exchange with a final result or an error, now or for the next `#wait`. */
  #settle(ex: Exchange, outcome: Final | Error): void {
    const w = ex.waiter;
    if (w) {
      ex.waiter = undefined;
      if (outcome instanceof Error) w.reject(outcome);
      else w.resolve(outcome);
    } else {
      ex.outcome = outcome;
    }
  }

  #fail(ex: Exchange, err: Error): void {
    this.#end(ex);
    this.#settle(ex, err);
  }

  #receive(chunk: Buffer): void {
    if (this.#closed) return;
    let frames: Frame[];
    try {
      frames = this.#framer.push(chunk);
    } catch (err) {
      debug('framer failed: %O', err);
      return;
    }
    for (const f of frames) this.#frame(f);
  }

  #frame(f: Frame): void {
    let text = f.text;
    if (f.terminated && text === '') {
      // Blank line ends (the CRLF before a result): recorded with the next line, so the
      // transcript reads `< <CR><LF>OK<CR><LF>`.
      this.#rxBlank.push(f.raw);
      return;
    }
    this.#recordRx(f.raw);
    if (this.transcript.secrets.hasKeyMaterial(text)) {
      // Nobody downstream (the driver, a test's assertion message) gets to see the key.
      text = this.#secretEcho(text, !f.terminated);
    }
    if (!f.terminated) {
      // A run longer than maxFrameBytes without a line end: garbage.
      this.#garbage(text);
      return;
    }
    if (text.trim() === '') return;
    const ex = this.#exchange;
    if (ex && !ex.echoDone && (text === ex.sent || this.#isNoisyEcho(text, ex.sent))) {
      ex.echoDone = true;
      this.#echo = true;
      if (text !== ex.sent) this.#garbage(text.slice(0, text.length - ex.sent.length));
      return;
    }
    if (this.#recentSent.includes(text) && !finalKindOf(text)) return; // a late echo of an earlier command
    const def = this.options.urcs.match(text, ex?.prefix);
    if (ex && !ex.echoDone && !def) {
      // The first answer line that is not a URC is not the echo: echo is off (ATE0).
      ex.echoDone = true;
      this.#echo = false;
    }
    if (def) {
      const urc = this.options.urcs.parse(def, text, ++this.#seq, this.options.now());
      if (urc.name === 'READY') this.#reset(ex);
      this.#deliver(urc);
      return;
    }
    const fk = finalKindOf(text);
    if (fk) {
      const shown = this.transcript.redact(text);
      if (!ex) {
        // A final result nobody waits for: a late answer to a timed-out command. Resync first;
        // a late CONNECT means the module sits in data mode, so the resync escapes it first.
        this.#needsResync = true;
        if (fk.kind === 'CONNECT') this.#inDataMode = true;
        this.#emit('line', shown, { unsolicited: true });
        return;
      }
      if (this.options.bus) {
        this.#emit(
          'final',
          shown,
          fk.cmeCode !== undefined ? { command: ex.shown, code: fk.cmeCode } : { command: ex.shown },
        );
      }
      if (debug.enabled) debug('< %s (%s)', shown, ex.shown);
      this.#settle(
        ex,
        fk.kind === 'CME'
          ? { kind: 'CME', cmeCode: fk.cmeCode!, ...(fk.cmeText !== undefined ? { cmeText: fk.cmeText } : {}) }
          : { kind: fk.kind as 'OK' | 'ERROR' | 'CONNECT' },
      );
      return;
    }
    if (ex) {
      ex.lines.push(text);
      this.#emit('line', this.transcript.redact(text), { command: ex.shown });
      return;
    }
    if (/^\+[A-Z0-9_]+:/i.test(text)) {
      // An unsolicited line shaped like a URC the registry does not know: deliver it anyway.
      const urc: Urc = {
        name: linePrefix(text),
        params: parseParams(text.slice(text.indexOf(':') + 1).replace(/^ /, '')),
        line: text,
        seq: ++this.#seq,
        t: this.options.now(),
      };
      this.#deliver(urc);
      return;
    }
    this.#garbage(text);
  }

  /**
   * An echo behind line noise (`\x00\xffAT+X`): only when the prefix holds non-printable bytes
   * or echo is known to be on, so an answer line that merely ends like the command is not eaten.
   */
  #isNoisyEcho(text: string, sent: string): boolean {
    if (!text.endsWith(sent)) return false;
    return this.#echo === true || /[^\x20-\x7e]/.test(text.slice(0, text.length - sent.length));
  }

  #recordRx(raw: Buffer): void {
    if (this.#rxBlank.length > 0) {
      const parts = this.#rxBlank.splice(0);
      parts.push(raw);
      this.transcript.rx(parts);
    } else if (raw.length > 0) {
      this.transcript.rx(raw);
    }
  }

  #garbage(text: string): void {
    this.#needsResync = true;
    // Redacting a long garbage line costs: only done when someone listens (a flood stays cheap).
    if (this.options.bus)
      this.#emit('garbage', escapeRedacted(this.transcript.redact(text, true)).slice(0, 200), { bytes: text.length });
  }

  /** A line holding registered key material: count it, say so, taint the exchange; returns the line redacted. */
  #secretEcho(text: string, unterminated: boolean): string {
    this.#secretEchoes++;
    const ex = this.#exchange;
    if (ex) ex.secretEcho = true;
    const shown = this.transcript.redact(text, unterminated);
    this.#emit(
      'secret-echo',
      `SECURITY FAILURE: the module echoed stored key material${ex ? ` in its answer to ${ex.shown}` : ''}: ${escapeRedacted(shown).slice(0, 200)}`,
      ex ? { command: ex.shown, securityFailure: true } : { securityFailure: true },
    );
    return shown;
  }

  #reset(ex: Exchange | undefined): void {
    this.#emit('reset', 'READY: the module (re)started', ex ? { command: ex.shown } : {});
    this.#echo = undefined;
    if (!ex) return;
    if (ex.expectReset) {
      this.#settle(ex, { kind: 'READY' });
      return;
    }
    this.#inDataMode = false;
    this.#fail(ex, new ModuleResetError(ex.shown));
  }

  #deliver(urc: Urc): void {
    if (this.options.urcHistory > 0) {
      this.#history.push(urc);
      if (this.#history.length > this.options.urcHistory) this.#history.shift();
    }
    this.#emit('urc', this.transcript.redact(urc.line), {
      name: urc.name,
      params: urc.params.map((p) => (typeof p === 'string' ? this.transcript.redact(p) : p)),
    });
    for (const l of [...this.#urcListeners]) {
      try {
        l(urc);
      } catch (err) {
        debug('URC listener threw: %O', err);
      }
    }
    for (const e of [...this.#expecters]) if (e.match(urc)) e.resolve(urc);
  }

  #linkClosed(err: Error | undefined): void {
    this.#linkError =
      err ??
      new LinkError(
        'BXHIL_LINK_CLOSED',
        this.link.uri,
        `${this.link.uri} was closed under the AT engine; open the device again`,
      );
    const ex = this.#exchange;
    if (ex) this.#fail(ex, this.#linkError);
    for (const e of [...this.#expecters]) e.reject(this.#linkError);
    for (const wake of [...this.#sleepers]) wake();
  }

  #tail(): string {
    const pending = this.#framer.peek();
    const t = this.transcript.tail(200);
    return pending.length > 0
      ? `${t} < ${escapeRedacted(this.transcript.redact(pending.toString('latin1'), true))}`.slice(-220)
      : t;
  }

  #emit(kind: string, summary: string, data: Record<string, unknown>): void {
    this.options.bus?.emit({
      source: 'at',
      kind,
      summary,
      data,
      ...(this.options.scope ? { scope: this.options.scope } : {}),
    });
  }

  /**
   * Command timeouts share one lazily re-armed timer (undici's fast-timers idea): arming and
   * clearing a timer per command cost more than the rest of a round trip. A deadline that is
   * removed leaves the timer armed; when it fires with nothing due it simply re-arms for the
   * earliest remaining deadline, or stops.
   */
  #addDeadline(ms: number, fire: () => void): Deadline {
    const d: Deadline = { at: this.options.now() + ms, fire };
    this.#deadlines.add(d);
    if (d.at < this.#deadlineAt) this.#armDeadline(d.at);
    return d;
  }

  #armDeadline(at: number): void {
    if (this.#deadlineTimer !== undefined) this.#clearTimer(this.#deadlineTimer);
    this.#deadlineAt = at;
    this.#deadlineTimer = this.#setTimer(() => this.#onDeadline(), Math.max(0, at - this.options.now()));
    // A timer left armed after the last command must not keep the process alive.
    (this.#deadlineTimer as { unref?: () => void }).unref?.();
  }

  #onDeadline(): void {
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
    const now = this.options.now();
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

  #setTimer(fn: () => void, ms: number): unknown {
    const handle = this.options.timers.setTimeout(() => {
      this.#timers.delete(handle);
      fn();
    }, ms);
    this.#timers.add(handle);
    return handle;
  }

  #clearTimer(handle: unknown): void {
    if (this.#timers.delete(handle)) this.options.timers.clearTimeout(handle);
  }

  /** Sleep; woken early (resolved) by close() or link loss, after which the caller's next check throws. */
  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        this.#sleepers.delete(wake);
        this.#clearTimer(timer);
        resolve();
      };
      const timer = this.#setTimer(wake, ms);
      this.#sleepers.add(wake);
    });
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

function describe(pattern: UrcPattern): string {
  if (typeof pattern === 'function') return pattern.name ? `<${pattern.name}>` : '<predicate>';
  return typeof pattern === 'string' ? JSON.stringify(pattern) : String(pattern);
}
