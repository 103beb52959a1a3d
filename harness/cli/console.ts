/**
 * The console sink. Text that a module, a network peer or an input file controls (a firmware
 * string, an error line quoted from the module, a TLS client's SNI, a test title in a
 * results.json, a certificate subject) must never reach the terminal raw: an ESC sequence can
 * clear the screen or recolour a line, and a CR or LF can forge a "PASS" line. The HTML and JSON
 * sinks escape by construction; this file is the same guarantee for stdout and stderr.
 *
 * Two tools, used together:
 * - `oneLine(text)` for a field inside a line the CLI composes: every control character,
 *   CR and LF included, becomes visible text (`\x1b`, `\r`, `\n`).
 * - `writeOut` / `writeErr` (and `consoleSafe`) for whole lines: control characters other than
 *   the CLI's own line breaks and tabs are escaped, so nothing a caller forgot to wrap in
 *   `oneLine` can drive the terminal.
 *
 * Hand-written rather than a library: it is one regular expression, and the escapes must match
 * what the JSON sink shows for the same bytes.
 */
import type { RunResults } from '../report/index.ts';

/**
 * C0 controls, DEL, C1 controls, and the Unicode bidirectional overrides/isolates (which can
 * reorder what a reader sees, "Trojan Source"). LF and TAB are listed too: `consoleSafe` keeps them.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\r': '\\r', '\n': '\\n', '\t': '\\t' };

function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** A field for one console line: every control character (CR, LF, TAB, ESC...) escaped. */
export function oneLine(text: string): string {
  return text.replace(CONTROL, escapeChar);
}

/** Whole console text: control characters escaped except the line breaks (LF) and tabs it is made of. */
export function consoleSafe(text: string): string {
  return text.replace(CONTROL, (c) => (c === '\n' || c === '\t' ? c : escapeChar(c)));
}

/** Write to stdout through the sink. */
export function writeOut(text: string): void {
  process.stdout.write(consoleSafe(text));
}

/** Write to stderr through the sink. */
export function writeErr(text: string): void {
  process.stderr.write(consoleSafe(text));
}

/** A copy of `o` with its own string properties (one level, not nested objects) passed through `oneLine`. */
function oneLineFields<T extends object>(o: T): T {
  const copy = { ...o } as Record<string, unknown>;
  for (const [k, v] of Object.entries(copy)) if (typeof v === 'string') copy[k] = oneLine(v);
  return copy as T;
}

/**
 * A results.json for console text: every string a test or device record carries (titles,
 * errors, verdicts, firmware strings, all written from what the module and the network said)
 * made one line. Walks only the schema's fields, so an input nested deep elsewhere costs nothing.
 */
export function resultsForConsole(results: RunResults): RunResults {
  return {
    ...oneLineFields(results),
    devices: results.devices.map((d) => {
      const device = oneLineFields(d);
      if (d.profile) device.profile = oneLineFields(d.profile);
      return device;
    }),
    tests: results.tests.map((t) => {
      const test = oneLineFields(t);
      if (t.verdict) {
        test.verdict = oneLineFields(t.verdict);
        if (t.verdict.evidence) test.verdict.evidence = t.verdict.evidence.map(oneLine);
      }
      if (t.knownIssue) test.knownIssue = oneLineFields(t.knownIssue);
      return test;
    }),
  };
}
