/**
 * Evidence bundles: one directory per test, written by the suites' fixtures and read by the HTML
 * report. Layout (`EVIDENCE_FILES` in types.ts): `events.jsonl`, `transcript.txt`,
 * `transcript.json`, `verdicts.json`, `meta.json`, `certs/<name>.pem`, `keylog.txt`.
 *
 * Writing refuses key material: every PEM private key (in certs, events, transcripts, verdicts,
 * meta) becomes a marker with its length and sha256, and password-like fields are blanked,
 * unless `includeSecrets: true` is passed (redact.ts). The key log is a secret by nature and is
 * written only when the caller hands one over (i.e. when a flag asked for it), mode 0600.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ConfigError } from '../errors.ts';
import type { EvidenceEvent } from '../evidence.ts';
import { PrivateKeyStreamRedactor, redactSecrets, redactValue } from './redact.ts';
import { EVIDENCE_FILES } from './types.ts';

/** What a test's evidence bundle holds: events, transcript, verdicts, certificates, meta, key log. */
export interface EvidenceBundle {
  /** Every evidence event of the test, module side and broker side, in emission order. */
  events?: EvidenceEvent[];
  /** The AT transcript as text. */
  transcriptText?: string;
  /** The AT transcript as structured data (whatever the AT layer's transcript serialises to). */
  transcriptJson?: unknown;
  /** The rig's verdicts for the test. */
  verdicts?: unknown[];
  /** Free-form facts about the test (device, firmware, scenario, broker port ...). */
  meta?: Record<string, unknown>;
  /** Certificates used; `name` becomes `certs/<name>.pem` (unsafe characters replaced by `_`). */
  certs?: { name: string; pem: string }[];
  /** NSS key log (SSLKEYLOGFILE format). Pass it only when the user asked for it. */
  keylog?: string;
}

/** Options of `writeEvidenceBundle`: whether secrets are written as given instead of redacted. */
export interface WriteBundleOptions {
  /** Write private keys and passwords as given instead of redacting them. Default false. */
  includeSecrets?: boolean;
}

/** Turns a certificate name into a safe file name (no path separators, no leading dots). */
export function certFileName(name: string, index: number): string {
  const base = name
    .replace(/\.pem$/i, '')
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^\.+/, '');
  if (base === '')
    throw new ConfigError(
      `certs[${index}].name`,
      name,
      `certificate name ${JSON.stringify(name)} is empty once unsafe characters are removed: name it with letters, digits, ".", "_" or "-" (e.g. "server" or "ca-root")`,
    );
  return `${base}.pem`;
}

/**
 * Redacts event strings, following a key split across chunks of one stream (same source, scope
 * and kind): the state is tracked on the summary and the data together, and an event that starts
 * inside a key is replaced whole (conservative: its tail after the END line is lost too).
 */
function redactEvents(events: EvidenceEvent[]): EvidenceEvent[] {
  const streams = new Map<string, PrivateKeyStreamRedactor>();
  return events.map((event) => {
    const key = `${event.source}|${event.scope ?? ''}|${event.kind}`;
    let stream = streams.get(key);
    if (!stream) streams.set(key, (stream = new PrivateKeyStreamRedactor()));
    const wasInside = stream.inside;
    stream.redact(`${event.summary}\n${event.data ? JSON.stringify(event.data) : ''}`);
    const redacted = redactValue(event);
    if (wasInside) {
      redacted.summary = `[REDACTED PRIVATE KEY (part of a key split over several events)]`;
      if (redacted.data) redacted.data = { redacted: 'part of a private key' };
    }
    return redacted;
  });
}

/**
 * Writes a test's evidence bundle into `dir` (created if needed). Only the parts given are
 * written; an existing bundle's other files are left alone.
 */
export async function writeEvidenceBundle(
  dir: string,
  bundle: EvidenceBundle,
  options: WriteBundleOptions = {},
): Promise<void> {
  const keep = options.includeSecrets === true;
  const text = (s: string): string => (keep ? s : redactSecrets(s));
  const value = <T>(v: T): T => (keep ? v : redactValue(v));
  await mkdir(dir, { recursive: true });
  const writes: Promise<void>[] = [];
  if (bundle.events) {
    const events = keep ? bundle.events : redactEvents(bundle.events);
    const body = events.map((e) => JSON.stringify(e)).join('\n');
    writes.push(writeFile(join(dir, EVIDENCE_FILES.events), body === '' ? '' : `${body}\n`));
  }
  if (bundle.transcriptText !== undefined)
    writes.push(writeFile(join(dir, EVIDENCE_FILES.transcriptText), text(bundle.transcriptText)));
  if (bundle.transcriptJson !== undefined)
    writes.push(
      writeFile(join(dir, EVIDENCE_FILES.transcriptJson), `${JSON.stringify(value(bundle.transcriptJson), null, 2)}\n`),
    );
  if (bundle.verdicts)
    writes.push(writeFile(join(dir, EVIDENCE_FILES.verdicts), `${JSON.stringify(value(bundle.verdicts), null, 2)}\n`));
  if (bundle.meta)
    writes.push(writeFile(join(dir, EVIDENCE_FILES.meta), `${JSON.stringify(value(bundle.meta), null, 2)}\n`));
  if (bundle.certs && bundle.certs.length > 0) {
    const names = bundle.certs.map((c, i) => certFileName(c.name, i));
    const certDir = join(dir, EVIDENCE_FILES.certs);
    await mkdir(certDir, { recursive: true });
    bundle.certs.forEach((c, i) => writes.push(writeFile(join(certDir, names[i]!), text(c.pem))));
  }
  if (bundle.keylog !== undefined)
    writes.push(writeFile(join(dir, EVIDENCE_FILES.keylog), bundle.keylog, { mode: 0o600 }));
  await Promise.all(writes);
}

/** Size limits applied when a bundle is read into a report. */
export interface BundleLimits {
  /** Most events kept per test (the first half and the last half are kept). Default 600. */
  maxEvents?: number;
  /** Most bytes of transcript kept per test (head and tail). Default 204800 (200 KB). */
  maxTranscriptBytes?: number;
}

/** How much of a test's evidence a bundle keeps by default (events, transcript bytes). */
export const defaultBundleLimits: Readonly<Required<BundleLimits>> = Object.freeze({
  maxEvents: 600, // a handshake + MQTT exchange is ~50; keeps index.html small for big runs
  maxTranscriptBytes: 200 * 1024, // 200 KB
});

/** What the report embeds of one bundle. */
export interface LoadedBundle {
  events: EvidenceEvent[];
  /** Events in the file (kept + omitted). */
  eventsTotal: number;
  transcript?: string;
  /** Size of the transcript file in bytes. */
  transcriptBytes?: number;
  verdicts?: unknown[];
  meta?: Record<string, unknown>;
  /** File names under certs/. */
  certs: string[];
  /** Files at the top of the bundle directory (events.jsonl, transcript.txt, ...), sorted. */
  files: string[];
  /** Whether a key log / capture exists (never embedded). */
  hasKeylog: boolean;
  hasCapture: boolean;
  /** What was cut or could not be read, in words. */
  notes: string[];
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function readJson(path: string, notes: string[]): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      notes.push(`${path.split(/[\\/]/).pop()} could not be read: ${(err as Error).message}`);
    return undefined;
  }
}

/** Reads events.jsonl keeping the first and last `max / 2` events; bad lines are counted in notes. */
async function readEvents(
  path: string,
  max: number,
  notes: string[],
): Promise<{ events: EvidenceEvent[]; total: number }> {
  const head: EvidenceEvent[] = [];
  const tail: EvidenceEvent[] = [];
  const headMax = Math.ceil(max / 2);
  const tailMax = max - headMax;
  let total = 0;
  let bad = 0;
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    let event: EvidenceEvent;
    try {
      event = JSON.parse(line) as EvidenceEvent;
    } catch {
      bad++;
      continue;
    }
    if (
      typeof event !== 'object' ||
      event === null ||
      typeof event.t !== 'number' ||
      typeof event.source !== 'string'
    ) {
      bad++;
      continue;
    }
    total++;
    if (head.length < headMax) head.push(event);
    else if (tailMax > 0) {
      tail.push(event);
      if (tail.length > tailMax) tail.shift();
    }
  }
  if (bad > 0) notes.push(`${bad} line(s) of events.jsonl were not evidence events and were skipped`);
  const omitted = total - head.length - tail.length;
  if (omitted > 0)
    notes.push(
      `${omitted} of ${total} events omitted from the middle (limit ${max} per test); the full list is in events.jsonl`,
    );
  return { events: [...head, ...tail], total };
}

/** A bundle with nothing in it yet; `notes` say why when it stays empty. */
export function emptyBundle(notes: string[] = []): LoadedBundle {
  return { events: [], eventsTotal: 0, certs: [], files: [], hasKeylog: false, hasCapture: false, notes };
}

/**
 * Reads a bundle for the report, within `limits`, redacting again on the way in (a bundle
 * written with `includeSecrets` still gives a report without secrets). Missing parts are fine.
 */
export async function readEvidenceBundle(dir: string, limits: BundleLimits = {}): Promise<LoadedBundle> {
  const lim = { ...defaultBundleLimits, ...limits };
  const out = emptyBundle();
  const notes = out.notes;
  if (!(await exists(dir))) {
    notes.push('no evidence bundle was written for this test');
    return out;
  }
  const eventsPath = join(dir, EVIDENCE_FILES.events);
  if (await exists(eventsPath)) {
    const { events, total } = await readEvents(eventsPath, lim.maxEvents, notes);
    out.events = redactEvents(events);
    out.eventsTotal = total;
  }
  const transcriptPath = join(dir, EVIDENCE_FILES.transcriptText);
  if (await exists(transcriptPath)) {
    const buf = await readFile(transcriptPath);
    out.transcriptBytes = buf.length;
    let text: string;
    if (buf.length > lim.maxTranscriptBytes) {
      const headBytes = Math.floor(lim.maxTranscriptBytes / 4);
      const tailBytes = lim.maxTranscriptBytes - headBytes;
      text = `${buf.subarray(0, headBytes).toString('utf8')}\n\n[... ${buf.length - headBytes - tailBytes} bytes of transcript omitted (limit ${lim.maxTranscriptBytes} bytes per test); the full text is in transcript.txt ...]\n\n${buf.subarray(buf.length - tailBytes).toString('utf8')}`;
      notes.push(`transcript cut to ${lim.maxTranscriptBytes} bytes of ${buf.length}`);
    } else text = buf.toString('utf8');
    out.transcript = redactSecrets(text);
  }
  const verdicts = await readJson(join(dir, EVIDENCE_FILES.verdicts), notes);
  if (Array.isArray(verdicts)) out.verdicts = redactValue(verdicts);
  const meta = await readJson(join(dir, EVIDENCE_FILES.meta), notes);
  if (meta !== null && typeof meta === 'object' && !Array.isArray(meta))
    out.meta = redactValue(meta as Record<string, unknown>);
  try {
    out.certs = (await readdir(join(dir, EVIDENCE_FILES.certs))).sort();
  } catch {
    out.certs = [];
  }
  const entries = await readdir(dir, { withFileTypes: true });
  out.files = entries
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort();
  out.hasKeylog = await exists(join(dir, EVIDENCE_FILES.keylog));
  out.hasCapture = await exists(join(dir, EVIDENCE_FILES.capture));
  return out;
}
