/**
 * `scriptedLink()`: a fake `Link` driven by a script, for unit tests of the AT engine and the
 * driver without the simulator (docs/STYLE.md §14: undici's MockAgent + serialport's binding-mock).
 *
 * ```ts
 * const s = scriptedLink();
 * s.expectWrite('AT+KMQTTCNX=1\r').respond('\r\nOK\r\n').thenEmit('\r\n+KMQTT_IND: 1,1\r\n', { delayMs: 20 });
 * s.expectWrite(/AT\+KCERTSTORE=0,\d+\r/).respond('\r\nCONNECT\r\n');
 * s.expectWrite(pem);                          // a data-mode run: may arrive in many writes
 * s.expectWrite('+++').respond('\r\nOK\r\n', { delayMs: 100 });
 * const at = new AtEngine(s.link);
 * ...
 * s.assertDone();                              // throws BXHIL_SCRIPT_PENDING with a table
 * ```
 *
 * Matching rules:
 * - Expectations are consumed **in order**. Written bytes accumulate in one buffer; the head
 *   expectation is matched against the start of that buffer each time bytes arrive, so a
 *   command may arrive in several writes and several commands may arrive in one write.
 * - A string or byte matcher (strings are latin1: one char = one byte) matches exactly those
 *   bytes. While the buffer is still a prefix of it, the link waits for more bytes; as soon as
 *   a byte differs, the whole buffer is recorded as **unexpected** and dropped.
 * - A RegExp is tested anchored at the first unconsumed byte (sticky) against the latin1 text.
 *   It cannot tell "not yet" from "never", so unmatched bytes simply wait; `assertDone()`
 *   reports them. End RegExps with the terminator (`\r`), or `\d+` may match too early.
 * - `expectBytes(n)` accepts any n bytes (a data-mode upload whose content you check later via
 *   `expectation.received`).
 * - A write when no expectation is left is recorded as unexpected.
 *
 * Replies: `.respond()` / `.thenEmit()` queue bytes to send after a match, in call order; each
 * `delayMs` counts from the previous reply of the same match (default 0). A 0 ms reply is
 * delivered on a microtask after the write resolves, so it needs no timer (works under
 * fake timers); later ones use `setTimeout`. Every timer is cleared by close/destroy.
 *
 * It shares no parsing code with the simulator (docs/DESIGN.md): it knows bytes, not AT.
 */
import { LinkBase } from './base.ts';
import { LinkError, LinkUnsupportedError, ScriptPendingError } from './errors.ts';
import type { LineSettings, Link, LinkSignals } from './types.ts';

/** What a write must look like: exact bytes, a sticky RegExp, or any `anyBytes` bytes. */
export type WriteMatcher = string | Uint8Array | RegExp | { anyBytes: number };

/** Reply bytes, or a function of the bytes that matched (e.g. echo a length back). */
export type ReplyBytes = string | Uint8Array | ((received: Buffer) => string | Uint8Array);

/** Options of a scripted reply: its delay. */
export interface ReplyOptions {
  /** Delay after the previous reply of the same match (or after the match). Default 0 ms. */
  delayMs?: number;
}

/** Options of a scripted expectation: the label `assertDone()` shows for it. */
export interface ExpectOptions {
  /** Shown in the `assertDone()` table instead of the matcher. */
  label?: string;
}

/** One expectation of a scripted link: what it matches and the replies it sends. */
export interface ScriptedExpectation {
  /** Send these bytes after the match (several calls queue several replies, in order). */
  respond(bytes: ReplyBytes, options?: ReplyOptions): ScriptedExpectation;
  /** Same as `respond`, for unsolicited lines (URCs) that follow later. */
  thenEmit(bytes: ReplyBytes, options?: ReplyOptions): ScriptedExpectation;
  /** Expect the same write `n` times in a row (default 1); replies repeat each time. */
  times(n: number): ScriptedExpectation;
  /** The bytes that matched, one Buffer per consumption. */
  readonly received: readonly Buffer[];
  /** True once consumed `times` times. */
  readonly done: boolean;
}

/** Options of a scripted link: its `uri` and whether it has modem-control lines. */
export interface ScriptedLinkOptions {
  /** The link's `uri`. Default `scripted:`. */
  uri?: string;
  /**
   * Whether the fake has modem-control lines. Default true (calls are recorded in `signals`);
   * false makes `setSignals` reject with `LinkUnsupportedError`, as a PTY or tcp:// would.
   */
  modemLines?: boolean;
}

/** A link that answers from a script (`expect(...).reply(...)`), for testing a driver without a module. */
export interface ScriptedLink {
  /** The `Link` to hand to the code under test. */
  readonly link: Link;
  expectWrite(matcher: WriteMatcher, options?: ExpectOptions): ScriptedExpectation;
  /** Expect any `count` bytes (shorthand for `expectWrite({ anyBytes: count })`). */
  expectBytes(count: number, options?: ExpectOptions): ScriptedExpectation;
  /** Deliver bytes from the "device" now (synchronously), e.g. a URC. Ignored once closed. */
  emitData(bytes: string | Uint8Array): void;
  /** Simulate the far end going away (cable pulled): contract guarantee 6. */
  disconnect(cause?: Error): void;
  /** Observe every completed write (after matching). Returns the unsubscribe function. */
  onWrite(listener: (chunk: Buffer) => void): () => void;
  /** Every completed write, in order (binding-mock's `record`). */
  readonly writes: readonly Buffer[];
  /** All written bytes concatenated. */
  written(): Buffer;
  /** Writes (or runs of bytes) that matched no expectation. */
  readonly unexpected: readonly Buffer[];
  /** Every `setSignals` call, in order. */
  readonly signals: readonly LinkSignals[];
  /** Every `updateSettings` call, in order. */
  readonly settings: readonly Partial<LineSettings>[];
  /** One line per unconsumed expectation, unsent reply or unmatched byte run. */
  pending(): string[];
  /** Throws `ScriptPendingError` (code `BXHIL_SCRIPT_PENDING`) unless the script is used up. */
  assertDone(): void;
}

const PREVIEW_CHARS = 60;

/** A printable, bounded preview of bytes: latin1 in JSON quotes, truncated with the length. */
export function previewBytes(bytes: Uint8Array): string {
  const text = Buffer.from(bytes).toString('latin1');
  const shown = text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
  return `${JSON.stringify(shown)} (${bytes.length} B)`;
}

function toBuffer(bytes: string | Uint8Array): Buffer {
  return typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes);
}

type MatchResult = { consumed: number } | 'partial' | 'mismatch';

interface Reply {
  bytes: ReplyBytes;
  delayMs: number;
}

class Expectation implements ScriptedExpectation {
  readonly replies: Reply[] = [];
  readonly received: Buffer[] = [];
  readonly #matcher: Buffer | RegExp | { anyBytes: number };
  readonly #label: string | undefined;
  #times = 1;

  constructor(matcher: WriteMatcher, label: string | undefined) {
    if (typeof matcher === 'string' || matcher instanceof Uint8Array) {
      if (matcher.length === 0) throw new TypeError('expectWrite: the matcher must not be empty');
      this.#matcher = toBuffer(matcher);
    } else if (matcher instanceof RegExp) {
      this.#matcher = new RegExp(matcher.source, `${matcher.flags.replace(/[gy]/g, '')}y`);
    } else {
      if (!Number.isInteger(matcher.anyBytes) || matcher.anyBytes < 1) {
        throw new TypeError(`expectBytes: count must be a positive integer, got ${matcher.anyBytes}`);
      }
      this.#matcher = matcher;
    }
    this.#label = label;
  }

  respond(bytes: ReplyBytes, options: ReplyOptions = {}): ScriptedExpectation {
    const delayMs = options.delayMs ?? 0;
    if (!(delayMs >= 0)) throw new TypeError(`respond: delayMs must be >= 0, got ${delayMs}`);
    this.replies.push({ bytes, delayMs });
    return this;
  }

  thenEmit(bytes: ReplyBytes, options?: ReplyOptions): ScriptedExpectation {
    return this.respond(bytes, options);
  }

  times(n: number): ScriptedExpectation {
    if (!Number.isInteger(n) || n < 1) throw new TypeError(`times: n must be a positive integer, got ${n}`);
    this.#times = n;
    return this;
  }

  get done(): boolean {
    return this.received.length >= this.#times;
  }

  match(buf: Buffer): MatchResult {
    const m = this.#matcher;
    if (Buffer.isBuffer(m)) {
      const n = Math.min(m.length, buf.length);
      if (!m.subarray(0, n).equals(buf.subarray(0, n))) return 'mismatch';
      return buf.length >= m.length ? { consumed: m.length } : 'partial';
    }
    if (m instanceof RegExp) {
      m.lastIndex = 0;
      const found = m.exec(buf.toString('latin1'));
      return found && found[0].length > 0 ? { consumed: found[0].length } : 'partial';
    }
    return buf.length >= m.anyBytes ? { consumed: m.anyBytes } : 'partial';
  }

  describe(): string {
    if (this.#label) return this.#label;
    const m = this.#matcher;
    if (Buffer.isBuffer(m)) return previewBytes(m);
    if (m instanceof RegExp) return `/${m.source}/`;
    return `any ${m.anyBytes} bytes`;
  }

  progress(): string {
    return `${this.received.length}/${this.#times}`;
  }
}

class ScriptedLinkImpl extends LinkBase implements ScriptedLink {
  readonly writes: Buffer[] = [];
  readonly unexpected: Buffer[] = [];
  readonly signals: LinkSignals[] = [];
  readonly settings: Partial<LineSettings>[] = [];
  readonly #queue: Expectation[] = [];
  readonly #all: Expectation[] = [];
  readonly #timers = new Map<ReturnType<typeof setTimeout>, string>();
  readonly #writeListeners = new Set<(chunk: Buffer) => void>();
  #buffer: Buffer = Buffer.alloc(0);
  /** Replies whose timer was still running when the link closed. */
  readonly #unsent: string[] = [];
  /** Replies due on a microtask, not yet delivered. */
  #immediate = 0;

  readonly #modemLines: boolean;

  constructor(options: ScriptedLinkOptions) {
    super(options.uri ?? 'scripted:');
    this.#modemLines = options.modemLines ?? true;
  }

  get link(): Link {
    return this;
  }

  expectWrite(matcher: WriteMatcher, options: ExpectOptions = {}): ScriptedExpectation {
    const e = new Expectation(matcher, options.label);
    this.#queue.push(e);
    this.#all.push(e);
    // Bytes that were waiting (e.g. a RegExp not yet satisfied) get another chance.
    if (this.#queue.length === 1 && this.#buffer.length > 0) this.#match();
    return e;
  }

  expectBytes(count: number, options?: ExpectOptions): ScriptedExpectation {
    return this.expectWrite({ anyBytes: count }, options);
  }

  emitData(bytes: string | Uint8Array): void {
    this.deliver(toBuffer(bytes));
  }

  onWrite(listener: (chunk: Buffer) => void): () => void {
    this.#writeListeners.add(listener);
    return () => this.#writeListeners.delete(listener);
  }

  written(): Buffer {
    return Buffer.concat(this.writes);
  }

  protected sendBytes(chunk: Buffer, done: () => void): void {
    // Complete asynchronously, like a real transport: a destroy() in the same tick cancels it.
    queueMicrotask(() => {
      if (this.linkState === 'closed') return done(); // canceled: the base already rejected it
      done();
      this.writes.push(chunk);
      for (const l of this.#writeListeners) l(chunk);
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#match();
    });
  }

  async setSignals(signals: LinkSignals): Promise<void> {
    this.#assertOpen('setSignals');
    if (!this.#modemLines) {
      throw new LinkUnsupportedError(
        this.uri,
        'setSignals',
        `${this.uri} has no modem-control lines (scripted: modemLines false)`,
      );
    }
    this.signals.push({ ...signals });
  }

  async updateSettings(settings: Partial<LineSettings>): Promise<void> {
    this.#assertOpen('updateSettings');
    this.settings.push({ ...settings });
  }

  protected async shutdown(): Promise<void> {}

  protected abort(): void {}

  disconnect(cause?: Error): void {
    this.lose(
      new LinkError(
        'BXHIL_LINK_DISCONNECTED',
        this.uri,
        `${this.uri} disconnected (scripted)${cause ? `: ${cause.message}` : ''}; reopen the link`,
        { cause },
      ),
    );
  }

  pending(): string[] {
    const lines: string[] = [];
    this.#all.forEach((e, i) => {
      if (!e.done) lines.push(`#${i + 1} write ${e.describe()}: matched ${e.progress()}`);
    });
    for (const what of this.#timers.values()) lines.push(`reply not yet sent: ${what}`);
    for (const what of this.#unsent) lines.push(`reply never sent (link closed first): ${what}`);
    if (this.#immediate > 0) lines.push(`${this.#immediate} reply(ies) due on the next microtask`);
    if (this.#buffer.length > 0) lines.push(`written bytes waiting for a match: ${previewBytes(this.#buffer)}`);
    return lines;
  }

  assertDone(): void {
    const pending = this.pending();
    if (pending.length === 0 && this.unexpected.length === 0) return;
    const table = [
      `scripted link ${this.uri}: the script was not used up exactly`,
      `  pending (${pending.length}):`,
      ...pending.map((l) => `    ${l}`),
      `  unexpected writes (${this.unexpected.length}):`,
      ...this.unexpected.map((b, i) => `    ${i + 1}. ${previewBytes(b)}`),
      '  fix: make the code write what the script expects, or add the missing expectWrite()/reply',
    ].join('\n');
    throw new ScriptPendingError(pending, [...this.unexpected], table);
  }

  #assertOpen(operation: string): void {
    if (!this.isOpen) throw this.closedError(`${operation} on`);
  }

  #match(): void {
    while (this.#buffer.length > 0) {
      const head = this.#queue[0];
      if (!head) {
        this.unexpected.push(this.#buffer);
        this.#buffer = Buffer.alloc(0);
        return;
      }
      const r = head.match(this.#buffer);
      if (r === 'partial') return;
      if (r === 'mismatch') {
        this.unexpected.push(this.#buffer);
        this.#buffer = Buffer.alloc(0);
        return;
      }
      const got = Buffer.from(this.#buffer.subarray(0, r.consumed));
      this.#buffer = this.#buffer.subarray(r.consumed);
      head.received.push(got);
      if (head.done) this.#queue.shift();
      this.#scheduleReplies(head, got);
    }
  }

  #scheduleReplies(e: Expectation, got: Buffer): void {
    let atMs = 0;
    for (const reply of e.replies) {
      atMs += reply.delayMs;
      const deliver = (): void => {
        const bytes = typeof reply.bytes === 'function' ? reply.bytes(got) : reply.bytes;
        this.emitData(bytes);
      };
      if (atMs === 0) {
        this.#immediate++;
        // Two hops: the writer's `await write()` resumes before the reply arrives.
        queueMicrotask(() =>
          queueMicrotask(() => {
            this.#immediate--;
            if (this.linkState !== 'closed') deliver();
          }),
        );
      } else {
        const what = `${typeof reply.bytes === 'function' ? 'computed bytes' : previewBytes(toBuffer(reply.bytes))} after ${atMs} ms (for ${e.describe()})`;
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          deliver();
        }, atMs);
        this.#timers.set(timer, what);
      }
    }
  }

  protected override onClosed(): void {
    for (const [t, what] of this.#timers) {
      clearTimeout(t);
      this.#unsent.push(what);
    }
    this.#timers.clear();
  }
}

/** Create a scripted fake link; see the module comment for the matching rules. */
export function scriptedLink(options: ScriptedLinkOptions = {}): ScriptedLink {
  return new ScriptedLinkImpl(options);
}
