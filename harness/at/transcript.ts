/**
 * The timestamped transcript of every byte both ways between the engine and the module.
 *
 * `tx` entries are what the engine wrote (one entry per write), `rx` entries what the module
 * sent, grouped per line (every received byte is in exactly one entry, terminators included).
 * Times are monotonic ms since the transcript started. Key uploads are never stored: a secret
 * write is replaced by a marker `<<secret: 1675 bytes, sha256=…>>`. Every entry goes through the
 * one redaction pass (`redactSecrets`, harness/secrets.ts) with the engine's `SecretRegistry`
 * before it is rendered: a registered password becomes `<<redacted>>` (in an entry that ends
 * without a line end, also a prefix of 4+ characters at its end), a run of a registered key's
 * body `[REDACTED KEY MATERIAL]`, and AT password arguments are redacted even when unregistered.
 *
 * Memory is bounded by bytes (`maxBytes`, default 8 MiB) and by entries (`maxEntries`): beyond
 * either, the oldest entries are dropped (a rolling window) and the text starts with a marker
 * line saying how many entries and bytes went. The file, when there is one, is a rolling window
 * too: once it grows past twice `maxBytes` (or twice its size after the last rewrite, when
 * escaping made the window render larger) it is rewritten as the marker plus the window kept.
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
import { AT_REDACTED, processSecrets, redactSecrets, type SecretRegistry } from '../secrets.ts';

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
  /**
   * Bytes kept in memory (the module's bytes, plus `ENTRY_OVERHEAD` per entry); the oldest
   * entries are dropped beyond this. Default 8 MiB: a 115200-baud line running flat out for
   * 12 minutes, far more than any test sends, while a peer that floods the link (a tcp:// port
   * can deliver hundreds of MB/s) cannot grow the process beyond it.
   */
  maxBytes?: number;
  /** Secrets to redact. Default `processSecrets` (harness/secrets.ts). */
  secrets?: SecretRegistry;
}

/** Default of `maxBytes`. */
export const DEFAULT_TRANSCRIPT_MAX_BYTES = 8 * 1024 * 1024; // 8 MiB
/** What an entry costs beyond its bytes (object, timestamps), counted against `maxBytes`. */
const ENTRY_OVERHEAD = 64;

const REDACTED = AT_REDACTED;

interface RawEntry {
  t: number;
  dir: 'tx' | 'rx';
  data?: string | Uint8Array | Uint8Array[];
  secret?: { bytes: number; sha256: string };
  /** What the entry counts against `maxBytes`. */
  size: number;
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
  /** The registry this transcript redacts with. */
  readonly secrets: SecretRegistry;
  readonly #now: () => number;
  readonly #t0: number;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  /** Stored raw (decoded and redacted only when rendered: recording stays cheap). */
  #entries: RawEntry[] = [];
  /** Index of the oldest kept entry in `#entries` (dropping moves it; the array is compacted now and then). */
  #head = 0;
  #bytes = 0;
  #dropped = 0;
  #droppedBytes = 0;
  #fileBytes = 0;
  /** Length of the file after its last rewrite. */
  #fileFloor = 0;

  constructor(options: TranscriptOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#t0 = this.#now();
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#maxBytes = options.maxBytes ?? DEFAULT_TRANSCRIPT_MAX_BYTES;
    if (!Number.isFinite(this.#maxBytes) || this.#maxBytes < 1)
      throw new TypeError(`"maxBytes" must be a positive number of bytes, got ${String(options.maxBytes)}`);
    this.secrets = options.secrets ?? processSecrets;
    this.path = options.path;
    if (this.path) writeFileSync(this.path, '');
  }

  /**
   * Register a string that must never appear (a password) in the transcript's registry. It is
   * replaced wherever the transcript is rendered, also in entries recorded before (a file
   * already written keeps what it had: register secrets before sending them).
   */
  addSecret(secret: string): void {
    this.secrets.addPassword(secret);
  }

  /**
   * The one redaction pass with this transcript's registry (also used by the engine for
   * evidence and errors). `unterminated`: the text ends inside something (see `RedactOptions`).
   */
  redact(text: string, unterminated = false): string {
    return redactSecrets(text, { registry: this.secrets, marker: REDACTED, unterminated });
  }

  tx(bytes: string | Uint8Array): void {
    this.#add({ t: this.#elapsed(), dir: 'tx', data: bytes, size: sizeOf(bytes) });
  }

  /** Bytes from the module; several parts make one entry (joined when rendered). */
  rx(bytes: string | Uint8Array | Uint8Array[]): void {
    this.#add({ t: this.#elapsed(), dir: 'rx', data: bytes, size: sizeOf(bytes) });
  }

  /** Record a secret write: only its length and SHA-256 are kept. Returns the marker. */
  txSecret(bytes: Uint8Array): string {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    this.#add({ t: this.#elapsed(), dir: 'tx', secret: { bytes: bytes.length, sha256 }, size: ENTRY_OVERHEAD });
    return secretMarker(bytes.length, sha256);
  }

  /** Bytes held in memory now (what `maxBytes` bounds). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Entries dropped so far (the oldest, beyond `maxBytes` or `maxEntries`). */
  get dropped(): number {
    return this.#dropped;
  }

  /** The entries kept, decoded (latin1) and redacted. */
  entries(): TranscriptEntry[] {
    const out: TranscriptEntry[] = [];
    for (let i = this.#head; i < this.#entries.length; i++) out.push(this.#entry(this.#entries[i]!));
    return out;
  }

  /** The whole transcript as text (with the marker line first when entries were dropped). */
  toText(): string {
    return this.#dropMarker() + this.entries().map(renderEntry).join('');
  }

  toJSON(): { dropped: number; droppedBytes: number; entries: TranscriptEntry[] } {
    return { dropped: this.#dropped, droppedBytes: this.#droppedBytes, entries: this.entries() };
  }

  /** The last `chars` characters of the rendered transcript, on one line (for error messages). */
  tail(chars = 200): string {
    let text = '';
    for (let i = this.#entries.length - 1; i >= this.#head && text.length < chars; i--) {
      const e = this.#entry(this.#entries[i]!);
      text = `${e.dir === 'tx' ? '>' : '<'} ${entryBody(e)} ` + text;
    }
    text = text.trimEnd();
    return text.length > chars ? `…${text.slice(text.length - chars)}` : text;
  }

  #dropMarker(): string {
    return this.#dropped > 0
      ? `[... ${this.#dropped} earlier entries (${this.#droppedBytes} bytes) dropped: the transcript keeps the last ${this.#maxBytes} bytes and ${this.#maxEntries} entries ...]\n`
      : '';
  }

  #elapsed(): number {
    return this.#now() - this.#t0;
  }

  #entry(e: RawEntry): TranscriptEntry {
    if (e.secret) return { t: e.t, dir: e.dir, secret: e.secret };
    const text = toLatin1(e.data ?? '');
    // An entry without a line end was cut off (a flush at close, a frame cut at its maximum):
    // a password's first characters at its end are redacted too.
    return { t: e.t, dir: e.dir, text: this.redact(text, e.dir === 'rx' && !/[\r\n]$/.test(text)) };
  }

  #add(entry: RawEntry): void {
    this.#entries.push(entry);
    this.#bytes += entry.size;
    const kept = (): number => this.#entries.length - this.#head;
    if (this.#bytes > this.#maxBytes || kept() > this.#maxEntries) {
      // Drop down to 90 % of the limits at once, oldest first, always keeping the newest entry:
      // amortised O(1) per entry, where dropping one entry per new one would be O(n) each.
      const bytesGoal = Math.floor(this.#maxBytes * 0.9);
      const entriesGoal = Math.floor(this.#maxEntries * 0.9);
      while (kept() > 1 && (this.#bytes > bytesGoal || kept() > entriesGoal)) {
        const old = this.#entries[this.#head]!;
        this.#entries[this.#head] = undefined as unknown as RawEntry;
        this.#head++;
        this.#bytes -= old.size;
        this.#dropped++;
        this.#droppedBytes += old.size;
      }
      if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
        this.#entries = this.#entries.slice(this.#head);
        this.#head = 0;
      }
    }
    if (this.path) {
      const line = renderEntry(this.#entry(entry));
      this.#fileBytes += line.length;
      if (this.#fileBytes > 2 * Math.max(this.#maxBytes, this.#fileFloor)) {
        // The file is a rolling window too: rewritten as the marker and the entries kept. (The
        // window renders larger than its bytes when they are escaped: rewriting waits until the
        // file has doubled again, so the cost stays amortised O(1) per entry.)
        const text = this.toText();
        writeFileSync(this.path, text);
        this.#fileBytes = text.length;
        this.#fileFloor = text.length;
      } else {
        appendFileSync(this.path, line);
      }
    }
  }
}

function sizeOf(bytes: string | Uint8Array | Uint8Array[]): number {
  if (typeof bytes === 'string') return bytes.length + ENTRY_OVERHEAD;
  if (Array.isArray(bytes)) return bytes.reduce((n, b) => n + b.length, ENTRY_OVERHEAD);
  return bytes.length + ENTRY_OVERHEAD;
}

function toLatin1(bytes: string | Uint8Array | Uint8Array[]): string {
  if (typeof bytes === 'string') return bytes;
  if (Array.isArray(bytes)) return bytes.map((b) => toLatin1(b)).join('');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** `escapeBytes` for redacted text: the redaction marker is shown as is, everything around it is escaped. */
export function escapeRedacted(text: string): string {
  return text.split(REDACTED).map(escapeBytes).join(REDACTED);
}

function entryBody(e: TranscriptEntry): string {
  if (e.secret) return secretMarker(e.secret.bytes, e.secret.sha256);
  return escapeRedacted(e.text ?? '');
}

function renderEntry(e: TranscriptEntry): string {
  const stamp = `[${`+${e.t.toFixed(3)}`.padStart(11)} ms]`;
  return `${stamp} ${e.dir === 'tx' ? '>' : '<'} ${entryBody(e)}\n`;
}
