/**
 * The timestamped transcript of every byte both ways between the engine and the module.
 *
 * `tx` entries are what the engine wrote (one entry per write), `rx` entries what the module
 * sent, grouped per line (every received byte is in exactly one entry, terminators included).
 * Times are monotonic ms since the transcript started. Key uploads are never stored: a secret
 * write is replaced by a marker `<<secret: 1675 bytes, sha256=…>>`, and registered secret
 * strings (passwords) are replaced by `<<redacted>>` in every entry before it is stored.
 *
 * Rendered as text:
 * ```
 * [   +12.345 ms] > AT+KMQTTCNX=1<CR>
 * [   +20.118 ms] < <CR><LF>OK<CR><LF>
 * ```
 * with non-printable bytes escaped (`<CR>`, `<LF>`, `<xNN>`; a literal `<` is `<x3C>`).
 * When a file path is given the text is appended to it entry by entry (synchronously, so the
 * file is complete whenever an error names it); nothing is written otherwise.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';

export interface TranscriptEntry {
  /** Monotonic ms since the transcript started. */
  t: number;
  dir: 'tx' | 'rx';
  /** The bytes (redacted), latin1. Absent for a secret write. */
  text?: string;
  /** Present instead of `text` for a secret write. */
  secret?: { bytes: number; sha256: string };
}

export interface TranscriptOptions {
  /** Monotonic clock in ms. Default `performance.now()`. */
  now?: () => number;
  /** Append the rendered text here as entries arrive. Default: no file. */
  path?: string;
  /** Entries kept in memory; the oldest are dropped beyond this. Default 100000. */
  maxEntries?: number;
}

const REDACTED = '<<redacted>>';

interface RawEntry {
  t: number;
  dir: 'tx' | 'rx';
  data?: string | Uint8Array | Uint8Array[];
  secret?: { bytes: number; sha256: string };
}

/** Escape bytes (latin1 text) for one transcript line. */
export function escapeBytes(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0d) out += '<CR>';
    else if (c === 0x0a) out += '<LF>';
    else if (c === 0x3c || c < 0x20 || c >= 0x7f) out += `<x${c.toString(16).toUpperCase().padStart(2, '0')}>`;
    else out += text[i];
  }
  return out;
}

export function secretMarker(bytes: number, sha256: string): string {
  return `<<secret: ${bytes} bytes, sha256=${sha256}>>`;
}

export class Transcript {
  readonly path: string | undefined;
  readonly #now: () => number;
  readonly #t0: number;
  readonly #maxEntries: number;
  /** Stored raw (decoded and redacted only when rendered: recording stays cheap). */
  readonly #entries: RawEntry[] = [];
  readonly #secrets = new Set<string>();
  #dropped = 0;

  constructor(options: TranscriptOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#t0 = this.#now();
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.path = options.path;
    if (this.path) writeFileSync(this.path, '');
  }

  /**
   * Register a string that must never appear (a password). It is replaced wherever the
   * transcript is rendered, also in entries recorded before (a file already written keeps
   * what it had: register secrets before sending them).
   */
  addSecret(secret: string): void {
    if (secret.length > 0) this.#secrets.add(secret);
  }

  /** Replace registered secrets in a text (also used by the engine for evidence and errors). */
  redact(text: string): string {
    if (this.#secrets.size === 0) return text;
    let out = text;
    for (const s of this.#secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  }

  tx(bytes: string | Uint8Array): void {
    this.#add({ t: this.#elapsed(), dir: 'tx', data: bytes });
  }

  /** Bytes from the module; several parts make one entry (joined when rendered). */
  rx(bytes: string | Uint8Array | Uint8Array[]): void {
    this.#add({ t: this.#elapsed(), dir: 'rx', data: bytes });
  }

  /** Record a secret write: only its length and SHA-256 are kept. Returns the marker. */
  txSecret(bytes: Uint8Array): string {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    this.#add({ t: this.#elapsed(), dir: 'tx', secret: { bytes: bytes.length, sha256 } });
    return secretMarker(bytes.length, sha256);
  }

  /** The entries kept, decoded (latin1) and redacted. */
  entries(): TranscriptEntry[] {
    return this.#entries.map((e) => this.#entry(e));
  }

  /** The whole transcript as text. */
  toText(): string {
    const head = this.#dropped > 0 ? `[... ${this.#dropped} earlier entries dropped ...]\n` : '';
    return head + this.entries().map(renderEntry).join('');
  }

  toJSON(): { dropped: number; entries: TranscriptEntry[] } {
    return { dropped: this.#dropped, entries: this.entries() };
  }

  /** The last `chars` characters of the rendered transcript, on one line (for error messages). */
  tail(chars = 200): string {
    let text = '';
    for (let i = this.#entries.length - 1; i >= 0 && text.length < chars; i--) {
      const e = this.#entry(this.#entries[i]!);
      text = `${e.dir === 'tx' ? '>' : '<'} ${entryBody(e)} ` + text;
    }
    text = text.trimEnd();
    return text.length > chars ? `…${text.slice(text.length - chars)}` : text;
  }

  #elapsed(): number {
    return this.#now() - this.#t0;
  }

  #entry(e: RawEntry): TranscriptEntry {
    if (e.secret) return { t: e.t, dir: e.dir, secret: e.secret };
    return { t: e.t, dir: e.dir, text: this.redact(toLatin1(e.data ?? '')) };
  }

  #add(entry: RawEntry): void {
    this.#entries.push(entry);
    if (this.#entries.length > this.#maxEntries) {
      // Drop the oldest tenth at once: amortised O(1), where one shift() per entry is O(n).
      const drop = this.#entries.length - Math.floor(this.#maxEntries * 0.9);
      this.#entries.splice(0, drop);
      this.#dropped += drop;
    }
    if (this.path) appendFileSync(this.path, renderEntry(this.#entry(entry)));
  }
}

function toLatin1(bytes: string | Uint8Array | Uint8Array[]): string {
  if (typeof bytes === 'string') return bytes;
  if (Array.isArray(bytes)) return bytes.map((b) => toLatin1(b)).join('');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

function entryBody(e: TranscriptEntry): string {
  if (e.secret) return secretMarker(e.secret.bytes, e.secret.sha256);
  // The redaction marker is shown as is; everything around it is escaped.
  return (e.text ?? '').split(REDACTED).map(escapeBytes).join(REDACTED);
}

function renderEntry(e: TranscriptEntry): string {
  const stamp = `[${`+${e.t.toFixed(3)}`.padStart(11)} ms]`;
  return `${stamp} ${e.dir === 'tx' ? '>' : '<'} ${entryBody(e)}\n`;
}
