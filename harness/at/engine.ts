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
import { LinkError, type Link } from '../link/index.ts';
import { AtClosedError, AtProtocolError, AtResyncError, AtTimeoutError, ModuleResetError } from './errors.ts';
import {
  endExchange,
  failExchange,
  finishExchange,
  type Exchange,
  type ExchangeState,
  type Final,
} from './exchange.ts';
import {
  parseAtEngineOptions,
  parseDataModeOptions,
  type AtEngineOptions,
  type AtResponse,
  type CommandOptions,
  type DataModeOptions,
  type ExpectOptions,
  type ParsedAtEngineOptions,
} from './options.ts';
import { Timekeeper } from './timers.ts';
import { escapeRedacted, Transcript } from './transcript.ts';
import { describe, UrcRouter, type UrcPattern } from './urc-router.ts';
import { Receiver } from './receiver.ts';
import { commandPrefix, type Urc } from './urc.ts';

// The engine's options and call shapes live in options.ts; the engine is where they are imported from.
export * from './options.ts';
export { systemTimers, type AtTimers } from './timers.ts';
export { type UrcPattern } from './urc-router.ts';

const debug = createDebug('bx-hil:at');

export class AtEngine {
  readonly link: Link;
  readonly transcript: Transcript;
  readonly options: ParsedAtEngineOptions;
  readonly #time: Timekeeper;
  readonly #router: UrcRouter;
  readonly #rx: Receiver;
  /** What this engine and its receiver share: the exchange in flight and the link's mode. */
  readonly #s: ExchangeState = { exchange: undefined, echo: undefined, needsResync: false, inDataMode: false };
  /** One-entry cache of the last command's prefix (the same command is often repeated). */
  #lastPrefix: [string, string | undefined] = ['', undefined];
  #queue: Promise<unknown> = Promise.resolve();
  /** Tasks queued or running. */
  #queued = 0;
  #quietUntil = 0;
  #closed = false;
  /** Why the link ended, when it did. */
  #linkError: Error | undefined;
  readonly #onData = (chunk: Buffer): void => {
    if (!this.#closed) this.#rx.push(chunk);
  };
  readonly #onClose = (err: Error | undefined): void => this.#linkClosed(err);

  constructor(link: Link, options: AtEngineOptions = {}) {
    this.options = parseAtEngineOptions(options);
    this.link = link;
    this.transcript = new Transcript({
      now: this.options.now,
      path: this.options.transcriptPath,
      ...(this.options.transcriptMaxBytes !== undefined ? { maxBytes: this.options.transcriptMaxBytes } : {}),
      ...(this.options.secrets ? { secrets: this.options.secrets } : {}),
    });
    this.#time = new Timekeeper(this.options.timers, this.options.now);
    this.#router = new UrcRouter({
      time: this.#time,
      now: this.options.now,
      history: this.options.urcHistory,
      defaultTimeoutMs: this.options.defaultTimeoutMs,
      emit: (kind, summary, data) => this.#emit(kind, summary, data),
      tail: () => this.#tail(),
      transcriptPath: this.transcript.path,
    });
    this.#rx = new Receiver({
      state: this.#s,
      options: this.options,
      transcript: this.transcript,
      router: this.#router,
      emit: (kind, summary, data) => this.#emit(kind, summary, data),
    });
    link.on('data', this.#onData);
    link.on('close', this.#onClose);
  }

  /** Whether the last command was echoed (ATE1); undefined before the first answer. */
  get echo(): boolean | undefined {
    return this.#s.echo;
  }

  /** True between `CONNECT` and the final result of a data-mode command. */
  get inDataMode(): boolean {
    return this.#s.inDataMode;
  }

  /** True when the next command will first resynchronise (after a timeout or garbage). */
  get needsResync(): boolean {
    return this.#s.needsResync;
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
    return this.#rx.secretEchoes;
  }

  /** The sequence number of the last URC received: pass it as `since` to `expect`. */
  marker(): number {
    return this.#rx.seq;
  }

  /** Subscribe to every URC; returns the unsubscribe function. */
  onUrc(listener: (urc: Urc) => void): () => void {
    return this.#router.onUrc(listener);
  }

  /**
   * Every URC from now on, as an async iterator (buffered; at most `maxBuffered`, the oldest are
   * dropped beyond). Ends when the engine closes or `signal` aborts.
   */
  urcs(opts: { signal?: AbortSignal; maxBuffered?: number } = {}): AsyncIterableIterator<Urc> {
    return this.#router.urcs(opts, this.#closed);
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
        this.#s.inDataMode = true;
        this.#s.needsResync = true;
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
      this.#s.needsResync = true;
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
    const { guardTimeMs, chunkDelayMs, chunkSize, endPattern, timeoutMs } = parseDataModeOptions(
      opts,
      bytes.length,
      this.options.defaultTimeoutMs,
    );
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
      this.#s.inDataMode = true;
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
          if (chunkDelayMs > 0 && off + chunkSize < bytes.length) await this.#time.sleep(chunkDelayMs);
        }
        if (!ex.outcome) {
          await this.#time.sleep(guardTimeMs);
          if (!ex.outcome) {
            await this.#write(endPattern, 'tx');
            this.#quietUntil = this.options.now() + guardTimeMs;
          }
        }
        const final = await this.#wait(ex, timeoutMs);
        this.#s.inDataMode = false;
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
    if (this.#closed) return Promise.reject(new AtClosedError(`expect ${describe(pattern)}`));
    return this.#router.expect(pattern, opts, this.#linkError);
  }

  /** Detach from the link, reject what is pending, clear every timer. Idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.link.off('data', this.#onData);
    this.link.off('close', this.#onClose);
    this.#rx.flush();
    const ex = this.#s.exchange;
    if (ex) this.#fail(ex, new AtClosedError(ex.shown));
    this.#router.rejectAll(() => new AtClosedError('expect'));
    this.#time.close();
    this.#router.clearListeners();
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
    if (!this.#s.needsResync && this.#quietUntil - this.options.now() <= 0) return undefined;
    return this.#prepareSlow();
  }

  async #prepareSlow(): Promise<void> {
    const quiet = this.#quietUntil - this.options.now();
    if (quiet > 0) await this.#time.sleep(quiet);
    this.#assertUsable('command');
    if (!this.#s.needsResync) return;
    let escaped = false;
    if (this.#s.inDataMode) {
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
    await this.#time.sleep(this.options.escapeGuardMs);
    await this.#write('+++', 'tx');
    await this.#time.sleep(this.options.escapeGuardMs);
    this.#s.inDataMode = false;
  }

  /** One `AT`; true when any final result came back (the module parses commands again). */
  async #probe(): Promise<boolean> {
    this.#assertUsable('AT');
    const ex = await this.#send('AT', false);
    try {
      const final = await this.#wait(ex, this.options.resyncTimeoutMs, true);
      this.#end(ex);
      if (final.kind === 'OK' || final.kind === 'ERROR' || final.kind === 'CME') {
        this.#s.needsResync = false;
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
    this.#s.exchange = ex;
    this.#rx.sent(cmd);
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
      const deadline = this.#time.addDeadline(timeoutMs, () => {
        ex.waiter = undefined;
        const waited = this.options.now() - started;
        this.#s.needsResync = true;
        if (this.#s.exchange === ex) this.#s.exchange = undefined;
        if (!quietTimeout)
          this.#emit('timeout', `${ex.shown}: no final result within ${Math.round(waited)} ms`, { command: ex.shown });
        reject(new AtTimeoutError(ex.shown, waited, this.#tail(), this.transcript.path));
      });
      ex.waiter = {
        resolve: (f) => {
          this.#time.dropDeadline(deadline);
          resolve(f);
        },
        reject: (e) => {
          this.#time.dropDeadline(deadline);
          reject(e);
        },
      };
    });
  }

  #finish(ex: Exchange, final: Final, errorRemedy?: string): AtResponse {
    return finishExchange(this.#s, ex, final, errorRemedy);
  }

  #end(ex: Exchange): void {
    endExchange(this.#s, ex);
  }

  #fail(ex: Exchange, err: Error): void {
    failExchange(this.#s, ex, err);
  }

  #linkClosed(err: Error | undefined): void {
    this.#linkError =
      err ??
      new LinkError(
        'BXHIL_LINK_CLOSED',
        this.link.uri,
        `${this.link.uri} was closed under the AT engine; open the device again`,
      );
    const ex = this.#s.exchange;
    if (ex) this.#fail(ex, this.#linkError);
    const linkError = this.#linkError;
    this.#router.rejectAll(() => linkError);
    this.#time.wakeAll();
  }

  #tail(): string {
    const pending = this.#rx.pending();
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
}
