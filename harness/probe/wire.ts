/**
 * The probe's exchanges with the module: raw bytes out, lines back, framed by `harness/at`'s
 * `AtFramer` and classified by its `finalKindOf`. The probe does not use `AtEngine.command()`:
 * it must send what the engine refuses to send (an LF after the CR, a line without `AT`, a line
 * longer than any buffer) and see what comes back byte for byte, echo included.
 *
 * Every exchange has a bound; one that ends without its answer throws `ProbeSilentError` naming
 * the step. Every exchange is recorded (what was sent, the lines that came back, how long it
 * took) and counted (wire bytes both ways), for the evidence file and the cost figure.
 */
import { AtFramer, defaultUrcRegistry, escapeBytes, finalKindOf } from '../at/index.ts';
import type { Link } from '../link/index.ts';
import { ProbeSilentError } from './errors.ts';

export interface Exchange {
  /** Index in the probe's list (the evidence file refers to it). */
  n: number;
  step: string;
  /** What was sent, with control bytes shown as `<CR>`, `<LF>` (long runs shortened). */
  sent: string;
  /** Non-empty lines that came back, in order (echo included, URCs excluded). */
  lines: string[];
  /** Milliseconds from the write to the last line needed. */
  ms: number;
}

export interface Answer {
  /** Information lines (echo of the command removed). */
  info: string[];
  /** The final result line: `OK`, `ERROR`, `+CME ERROR: <n>`, `CONNECT`. */
  final: string;
  /** The command was echoed. */
  echoed: boolean;
  exchange: Exchange;
}

export interface WireOptions {
  /** Bound of one exchange, ms, plus the line time of the bytes sent at `baud`. */
  timeoutMs: number;
  /** Line rate used to stretch the bound for long lines (bits per second). */
  baud: number;
  /** Called with each finished exchange (tests use it to fault the module mid-probe). */
  onExchange?: (e: Exchange) => void;
}

const SHOWN_MAX = 160; // characters of a sent line kept in the evidence: a 32 KiB line is "AT+...<x 32000>"

function shorten(text: string): string {
  const shown = escapeBytes(text);
  return shown.length <= SHOWN_MAX ? shown : `${shown.slice(0, 60)}<... ${text.length} bytes ...>${shown.slice(-40)}`;
}

const urcs = defaultUrcRegistry();

export class Wire {
  readonly exchanges: Exchange[] = [];
  txBytes = 0;
  rxBytes = 0;
  step = 'start';
  readonly #link: Link;
  readonly #options: WireOptions;
  readonly #framer = new AtFramer();
  /** Lines received and not yet taken by an exchange. */
  #lines: string[] = [];
  /** URC lines seen (kept for the steps that wait for one). */
  readonly urcLines: string[] = [];
  #wake: (() => void) | undefined;
  #closed: Error | undefined;

  /** Resolve when a line arrives (or the link closes: `#wake`) or after `ms`, whichever is first. */
  #nextLineOr(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(t);
        this.#wake = undefined;
        resolve();
      };
    });
  }
  readonly #onData = (chunk: Buffer): void => {
    this.rxBytes += chunk.length;
    for (const f of this.#framer.push(chunk)) {
      if (f.text.trim() === '') continue;
      if (urcs.match(f.text) && f.text !== 'READY') this.urcLines.push(f.text);
      else this.#lines.push(f.text);
    }
    this.#wake?.();
  };
  readonly #onClose = (err: Error | undefined): void => {
    this.#closed = err ?? new Error(`${this.#link.uri} closed`);
    this.#wake?.();
  };

  constructor(link: Link, options: WireOptions) {
    this.#link = link;
    this.#options = options;
    link.on('data', this.#onData);
    link.on('close', this.#onClose);
  }

  detach(): void {
    this.#link.off('data', this.#onData);
    this.#link.off('close', this.#onClose);
  }

  /** Drop lines nobody asked for (a late answer of a previous exchange). */
  drain(): void {
    this.#lines = [];
  }

  /**
   * Write `text` and collect lines until `done(lines)` says the answer is complete. Lines
   * are consumed; lines after the answer stay for the next exchange.
   */
  async transact(text: string, done: (lines: string[]) => number | undefined, timeoutMs?: number): Promise<Exchange> {
    const started = performance.now();
    const bound = (timeoutMs ?? this.#options.timeoutMs) + Math.ceil((text.length * 10_000) / this.#options.baud);
    this.txBytes += text.length;
    await this.#link.write(Buffer.from(text, 'latin1'));
    const deadline = started + bound;
    for (;;) {
      const used = done(this.#lines);
      if (used !== undefined) {
        const lines = this.#lines.slice(0, used);
        this.#lines = this.#lines.slice(used);
        const e: Exchange = {
          n: this.exchanges.length,
          step: this.step,
          sent: shorten(text),
          lines,
          ms: Math.round(performance.now() - started),
        };
        this.exchanges.push(e);
        this.#options.onExchange?.(e);
        return e;
      }
      if (this.#closed) throw new ProbeSilentError(this.step, shorten(text), bound, this.#closed);
      const left = deadline - performance.now();
      if (left <= 0) {
        this.exchanges.push({
          n: this.exchanges.length,
          step: this.step,
          sent: shorten(text),
          lines: [...this.#lines, `<no answer within ${bound} ms>`],
          ms: bound,
        });
        throw new ProbeSilentError(this.step, shorten(text), bound);
      }
      await this.#nextLineOr(left);
    }
  }

  /** One command line (CR added): up to and including its final result. */
  async command(line: string, opts: { timeoutMs?: number } = {}): Promise<Answer> {
    const e = await this.transact(`${line}\r`, firstFinal, opts.timeoutMs);
    return answerOf(e, line);
  }

  /**
   * Raw bytes that may get no answer at all, followed by `ATI` as a sentinel: the lines before
   * the sentinel's answer are the raw bytes' answer (none when the module ignored them). The
   * sentinel's info line is `ati` (learned first).
   */
  async withSentinel(raw: string, ati: string): Promise<{ lines: string[]; exchange: Exchange }> {
    const e = await this.transact(`${raw}ATI\r`, (lines) => {
      const i = lines.lastIndexOf(ati);
      if (i < 0) return undefined;
      const f = lines.findIndex((l, j) => j > i && finalKindOf(l) !== undefined);
      return f < 0 ? undefined : f + 1;
    });
    const i = e.lines.lastIndexOf(ati);
    // The sentinel's own echo (`ATI`) is not part of the answer.
    const before = e.lines.slice(0, i).filter((l) => l !== 'ATI');
    return { lines: before, exchange: e };
  }

  /**
   * The data phase of an upload after `CONNECT`: the bytes, `guardMs` of silence, `+++`, and
   * the final result. The silences are the guard times the protocol needs (docs/reference/bx310x-at.md §4).
   */
  async dataPhase(data: string, guardMs: number): Promise<Answer> {
    this.txBytes += data.length;
    await this.#link.write(Buffer.from(data, 'latin1'));
    await new Promise((r) => setTimeout(r, guardMs));
    const e = await this.transact('+++', firstFinal, this.#options.timeoutMs + guardMs);
    e.sent = `<${data.length} bytes>${e.sent}`;
    return answerOf(e, '');
  }

  /** Wait for a URC line matching `re` (already seen or arriving within `timeoutMs`). */
  async urc(re: RegExp, timeoutMs: number): Promise<string | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const i = this.urcLines.findIndex((l) => re.test(l));
      if (i >= 0) return this.urcLines.splice(i, 1)[0];
      const left = deadline - performance.now();
      if (left <= 0 || this.#closed) return undefined;
      await this.#nextLineOr(left);
    }
  }
}

/** How many lines make up the first answer: up to the first final result. */
export function firstFinal(lines: string[]): number | undefined {
  const i = lines.findIndex((l) => finalKindOf(l) !== undefined);
  return i < 0 ? undefined : i + 1;
}

export function answerOf(e: Exchange, line: string): Answer {
  const lines = [...e.lines];
  const final = lines.pop()!;
  const echoed = lines[0] === line;
  return { info: echoed ? lines.slice(1) : lines, final, echoed, exchange: e };
}
