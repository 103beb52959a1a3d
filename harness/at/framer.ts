/**
 * Framers for the byte stream coming from the module (docs/STYLE.md §3), modelled on serialport's
 * `DelimiterParser`: an options type with documented defaults, constructor checks that throw
 * `TypeError` naming the option, one remainder buffer, and `flush()` handing out the tail.
 * Variants derive from the base instead of copying it (as `ReadlineParser extends
 * DelimiterParser`):
 *
 * - `DelimiterFramer`: frames end at one exact byte sequence.
 * - `LineFramer`: frames end at CRLF, bare CR or bare LF (a CR at the end of a chunk ends the
 *   frame at once, and an LF that follows it in the next chunk is swallowed).
 * - `AtFramer`: `LineFramer` plus counted inline data (`+KTCP_DATA: <id>,<n>,<n bytes>`, [BX-L]:
 *   the BX sends TCP data inline in the URC, so those bytes may hold CR/LF and must not be
 *   split), and classification of final results and the `CONNECT` prompt.
 *
 * Text is decoded as latin1, so all 256 byte values survive unchanged (`Buffer.from(text,
 * 'latin1')` gives the bytes back). Every byte pushed in is accounted for in exactly one frame's
 * `raw` (leading swallowed LFs included), so a transcript built from `raw` is complete.
 * No timers are used: nothing to clear.
 */

export interface Frame {
  /** The frame's content without its terminator, latin1-decoded. */
  text: string;
  /** Every byte consumed for this frame, including the terminator and any swallowed LF. */
  raw: Buffer;
  /** False for the tail handed out by `flush()` and for frames cut at `maxFrameBytes`. */
  terminated: boolean;
}

export interface DelimiterFramerOptions {
  /** The byte sequence that ends a frame. Required; at least one byte. */
  delimiter: string | Uint8Array | number[];
  /**
   * Longest run of bytes kept without a delimiter, in bytes. A longer run is emitted as one
   * unterminated frame so garbage without line ends cannot grow memory. Default 65536 (64 KiB).
   */
  maxFrameBytes?: number;
}

const EMPTY = Buffer.alloc(0);

interface Boundary {
  /** Index where the frame's text starts (after swallowed bytes). */
  textStart: number;
  /** Index where the frame's text ends (its terminator starts). */
  textEnd: number;
  /** Index after the terminator. */
  end: number;
}

export class DelimiterFramer {
  /** The one remainder buffer: bytes received but not yet framed. */
  protected remainder: Buffer = EMPTY;
  protected readonly maxFrameBytes: number;
  readonly #delimiter: Buffer;

  constructor(options: DelimiterFramerOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('"options" must be an object');
    const d = options.delimiter;
    if (d === undefined || d === null) throw new TypeError('"delimiter" is not a bufferable object');
    const buf = typeof d === 'string' ? Buffer.from(d, 'latin1') : Buffer.from(d);
    if (buf.length === 0) throw new TypeError('"delimiter" has a 0 or undefined length');
    this.#delimiter = buf;
    const max = options.maxFrameBytes ?? 65_536; // 64 KiB
    if (!Number.isInteger(max) || max < 1)
      throw new TypeError(`"maxFrameBytes" must be a positive integer, got ${String(max)}`);
    this.maxFrameBytes = max;
  }

  /** Bytes held back waiting for a terminator. */
  get pending(): number {
    return this.remainder.length;
  }

  /** Feed a chunk; returns the frames it completed (possibly none). */
  push(chunk: Uint8Array): Frame[] {
    // No copy when nothing is buffered: frames are views of the chunk, which is never mutated.
    this.remainder =
      this.remainder.length === 0
        ? Buffer.isBuffer(chunk)
          ? chunk
          : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
        : Buffer.concat([this.remainder, chunk]);
    const frames: Frame[] = [];
    let start = 0;
    for (;;) {
      const b = this.findBoundary(this.remainder, start);
      if (!b) break;
      frames.push({
        text: this.remainder.toString('latin1', b.textStart, b.textEnd),
        raw: this.remainder.subarray(start, b.end),
        terminated: true,
      });
      start = b.end;
    }
    this.remainder = this.remainder.subarray(start);
    if (this.remainder.length > this.maxFrameBytes) {
      frames.push(this.#tail());
    }
    return frames;
  }

  /** The buffered bytes, without consuming them (for diagnostics). */
  peek(): Buffer {
    return this.remainder;
  }

  /** Hand out whatever is buffered as one unterminated frame (none if empty) and reset. */
  flush(): Frame[] {
    return this.remainder.length === 0 ? [] : [this.#tail()];
  }

  /** Drop buffered bytes without framing them; returns them. */
  discard(): Buffer {
    const r = this.remainder;
    this.remainder = EMPTY;
    this.resetState();
    return r;
  }

  #tail(): Frame {
    const raw = this.remainder;
    this.remainder = EMPTY;
    const textStart = this.textStartOf(raw, 0);
    this.resetState();
    return { text: raw.toString('latin1', textStart), raw, terminated: false };
  }

  /** Where the text of a frame starting at `start` begins (variants skip swallowed bytes). */
  protected textStartOf(_buf: Buffer, start: number): number {
    return start;
  }

  /** Forget inter-frame state (e.g. a pending LF to swallow). */
  protected resetState(): void {}

  /** Find the end of the frame starting at `start`, or undefined when it is not complete yet. */
  protected findBoundary(buf: Buffer, start: number): Boundary | undefined {
    const d = this.#delimiter;
    const i = buf.indexOf(d, start);
    if (i < 0) return undefined;
    return { textStart: start, textEnd: i, end: i + d.length };
  }
}

const CR = 0x0d;
const LF = 0x0a;

export type LineFramerOptions = Omit<DelimiterFramerOptions, 'delimiter'>;

/** Lines ended by CRLF, bare CR or bare LF. */
export class LineFramer extends DelimiterFramer {
  /** The previous frame ended in a CR that was the last byte of its chunk: a leading LF belongs to it. */
  #swallowLf = false;

  constructor(options: LineFramerOptions = {}) {
    super({ ...options, delimiter: '\n' });
  }

  protected override resetState(): void {
    this.#swallowLf = false;
  }

  protected override textStartOf(buf: Buffer, start: number): number {
    return this.#swallowLf && buf[start] === LF ? start + 1 : start;
  }

  protected override findBoundary(buf: Buffer, start: number): Boundary | undefined {
    const textStart = this.textStartOf(buf, start);
    if (textStart >= buf.length) return undefined;
    return this.lineEndFrom(buf, textStart, textStart);
  }

  /** The first CR/LF at or after `from` ends the line whose text starts at `textStart`. */
  protected lineEndFrom(buf: Buffer, textStart: number, from: number): Boundary | undefined {
    for (let i = from; i < buf.length; i++) {
      const c = buf[i];
      if (c === LF) {
        this.#swallowLf = false;
        return { textStart, textEnd: i, end: i + 1 };
      }
      if (c === CR) {
        if (i + 1 < buf.length) {
          this.#swallowLf = false;
          return { textStart, textEnd: i, end: buf[i + 1] === LF ? i + 2 : i + 1 };
        }
        this.#swallowLf = true; // CRLF may be split across chunks: swallow an LF that comes next
        return { textStart, textEnd: i, end: i + 1 };
      }
    }
    return undefined;
  }
}

/** A final result code of an AT command, or the `CONNECT` prompt that enters data mode. */
export type FinalKind = 'OK' | 'ERROR' | 'CME' | 'CONNECT';

/** Classify a line as a final result (docs/reference/bx310x-at.md §1) or undefined for anything else. */
export function finalKindOf(text: string): { kind: FinalKind; cmeCode?: number; cmeText?: string } | undefined {
  if (text === 'OK') return { kind: 'OK' };
  if (text === 'ERROR') return { kind: 'ERROR' };
  if (text === 'CONNECT') return { kind: 'CONNECT' };
  const m = /^\+CME ERROR: ?(\d+)$/.exec(text);
  if (m) return { kind: 'CME', cmeCode: Number(m[1]) };
  // Verbose form (AT+CMEE=2 on other Sierra modules): no number, the text is the meaning.
  const v = /^\+CME ERROR: ?(.+)$/.exec(text);
  if (v) return { kind: 'CME', cmeCode: -1, cmeText: v[1]!.trim() };
  return undefined;
}

export interface AtFramerOptions extends LineFramerOptions {
  /**
   * Line prefixes followed by a byte count and that many raw bytes which may contain CR/LF.
   * Each regex is matched at the start of a line and must capture the count in group 1 and end
   * right before the data. Default: `+KTCP_DATA: <id>,<n>,` and `+KUDP_DATA: <id>,<n>,` ([BX-L]
   * inline data).
   */
  countedPrefixes?: RegExp[];
}

/** The longest counted header looked at, in bytes (`+KTCP_DATA: 65535,65535,`). */
const COUNTED_HEADER_WINDOW = 64;

export class AtFramer extends LineFramer {
  readonly #counted: RegExp[];

  constructor(options: AtFramerOptions = {}) {
    super(options);
    const counted = options.countedPrefixes ?? [/^\+KTCP_DATA: ?\d+,(\d+),/, /^\+KUDP_DATA: ?\d+,(\d+),/];
    if (!Array.isArray(counted) || counted.some((r) => !(r instanceof RegExp))) {
      throw new TypeError('"countedPrefixes" must be an array of RegExp');
    }
    this.#counted = counted;
  }

  protected override findBoundary(buf: Buffer, start: number): Boundary | undefined {
    const textStart = this.textStartOf(buf, start);
    if (textStart >= buf.length) return undefined;
    if (buf[textStart] === 0x2b /* + */ && this.#counted.length > 0) {
      const head = buf.toString('latin1', textStart, Math.min(buf.length, textStart + COUNTED_HEADER_WINDOW));
      for (const re of this.#counted) {
        const m = re.exec(head);
        if (!m) continue;
        const n = Number(m[1]);
        const dataEnd = textStart + m[0].length + n;
        // The counted bytes are taken whole even if they hold CR/LF; the line ends after them.
        if (dataEnd > buf.length) return undefined;
        return this.lineEndFrom(buf, textStart, dataEnd);
      }
    }
    return this.lineEndFrom(buf, textStart, textStart);
  }
}
