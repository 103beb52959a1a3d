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
  readonly #entries: TranscriptEntry[] = [];
  readonly #secrets = new Set<string>();
  #dropped = 0;

  constructor(options: TranscriptOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#t0 = this.#now();
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.path = options.path;
    if (this.path) writeFileSync(this.path, '');
  }

  /** Register a string that must never appear (a password): it is replaced in every later entry. */
  addSecret(secret: string): void {
    if (secret.length > 0) this.#secrets.add(secret);
  }

  /** Replace registered secrets in a text (also used by the engine for evidence and errors). */
  redact(text: string): string {
    let out = text;
    for (const s of this.#secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  }

  tx(bytes: string | Uint8Array): void {
    this.#add({ t: this.#elapsed(), dir: 'tx', text: this.redact(toLatin1(bytes)) });
  }

  rx(bytes: string | Uint8Array): void {
    this.#add({ t: this.#elapsed(), dir: 'rx', text: this.redact(toLatin1(bytes)) });
  }

  /** Record a secret write: only its length and SHA-256 are kept. Returns the marker. */
  txSecret(bytes: Uint8Array): string {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    this.#add({ t: this.#elapsed(), dir: 'tx', secret: { bytes: bytes.length, sha256 } });
    return secretMarker(bytes.length, sha256);
  }

  entries(): readonly TranscriptEntry[] {
    return this.#entries;
  }

  /** The whole transcript as text. */
  toText(): string {
    const head = this.#dropped > 0 ? `[... ${this.#dropped} earlier entries dropped ...]\n` : '';
    return head + this.#entries.map(renderEntry).join('');
  }

  toJSON(): { dropped: number; entries: TranscriptEntry[] } {
    return { dropped: this.#dropped, entries: [...this.#entries] };
  }

  /** The last `chars` characters of the rendered transcript, on one line (for error messages). */
  tail(chars = 200): string {
    let text = '';
    for (let i = this.#entries.length - 1; i >= 0 && text.length < chars; i--) {
      const e = this.#entries[i]!;
      text = `${e.dir === 'tx' ? '>' : '<'} ${entryBody(e)} ` + text;
    }
    text = text.trimEnd();
    return text.length > chars ? `…${text.slice(text.length - chars)}` : text;
  }

  #elapsed(): number {
    return this.#now() - this.#t0;
  }

  #add(entry: TranscriptEntry): void {
    this.#entries.push(entry);
    if (this.#entries.length > this.#maxEntries) {
      // Drop the oldest tenth at once: amortised O(1), where one shift() per entry is O(n).
      const drop = this.#entries.length - Math.floor(this.#maxEntries * 0.9);
      this.#entries.splice(0, drop);
      this.#dropped += drop;
    }
    if (this.path) appendFileSync(this.path, renderEntry(entry));
  }
}

function toLatin1(bytes: string | Uint8Array): string {
  return typeof bytes === 'string'
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
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
