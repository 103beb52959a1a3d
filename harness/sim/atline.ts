/**
 * The simulator's own reading of an AT command line. Deliberately independent of
 * `harness/at` (docs/DESIGN.md: the simulator and the driver must not share a parser).
 *
 * Rules, from docs/reference/bx310x-at.md §1:
 * - A line is ended by CR; `AT` (any case) starts the command. [BX-T, BX-L]
 * - `AT+X=?` test form, `AT+X?` read form, `AT+X` action form, `AT+X=<params>` set form.
 * - Parameters are separated by commas; a string may be quoted or not. [BX-T]
 * - An odd number of `"` (broken quoting: `euler"`, `""euler@123"`, `"Euler/Test`) makes the
 *   whole line plain `ERROR`, before any CME check. [BX-T]
 * - Balanced quotes with junk around them (`"broker.hivemq.com"-1-1-1-1`) make a malformed
 *   parameter, which each command judges (KMQTTCFG's server gives 916). [BX-T]
 */

export type CommandForm = 'action' | 'read' | 'test' | 'set';

export interface ParsedCommand {
  /** The command text from `AT` on, as received (for transcripts and resetAtCommand). */
  line: string;
  /** Upper-case name: `` (bare AT), `I`, `E`, `&F`, `&K`, `+KMQTTCFG`, ... */
  name: string;
  form: CommandForm;
  /** Text after `=` (set form), or the digits of a basic command (`E0` → `0`). */
  args: string;
}

export interface Param {
  /** The parameter as sent, quotes included. */
  raw: string;
  /** Sent as `"..."` with no other quote. */
  quoted: boolean;
  /** Quotes in the wrong place (`"a"b`). */
  malformed: boolean;
  /** The value: inside the quotes when quoted, else the raw text. */
  value: string;
  /** Nothing between the commas. */
  empty: boolean;
}

/** Read the command in a line that starts with `AT`. Undefined when it is not a command we can name. */
export function parseCommand(line: string): ParsedCommand | undefined {
  const body = line.slice(2);
  const ext = /^([+&][A-Za-z_][A-Za-z0-9_]*|&[A-Za-z])(.*)$/s.exec(body);
  if (ext) {
    const name = ext[1]!.toUpperCase();
    const rest = ext[2]!;
    if (name.startsWith('&') && name.length > 2) {
      // `AT&K3`: basic & command with a digit argument
      return { line, name: name.slice(0, 2), form: 'set', args: name.slice(2) + rest };
    }
    if (rest === '') return { line, name, form: 'action', args: '' };
    if (rest === '?') return { line, name, form: 'read', args: '' };
    if (rest === '=?') return { line, name, form: 'test', args: '' };
    if (rest.startsWith('=')) return { line, name, form: 'set', args: rest.slice(1) };
    if (name.startsWith('&')) return { line, name, form: 'set', args: rest };
    return undefined;
  }
  if (body === '') return { line, name: '', form: 'action', args: '' };
  const basic = /^([A-Za-z])(\d*)$/.exec(body);
  if (basic) return { line, name: basic[1]!.toUpperCase(), form: basic[2] ? 'set' : 'action', args: basic[2]! };
  return undefined;
}

/** Split set-form arguments. `undefined` means broken quoting (plain ERROR). */
export function splitParams(args: string): Param[] | undefined {
  let quotes = 0;
  for (const ch of args) if (ch === '"') quotes++;
  if (quotes % 2 !== 0) return undefined;
  const parts: string[] = [];
  let cur = '';
  let inQuote = false;
  for (const ch of args) {
    if (ch === '"') inQuote = !inQuote;
    if (ch === ',' && !inQuote) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((raw) => {
    const q = raw.split('"').length - 1;
    const quoted = q === 2 && raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"');
    const malformed = q > 0 && !quoted;
    return { raw, quoted, malformed, value: quoted ? raw.slice(1, -1) : raw, empty: raw === '' };
  });
}

/** A decimal integer in [min, max], unquoted; anything else (sign, letters, `#`) is undefined (→ 916). [BX-T] */
export function intParam(p: Param | undefined, min: number, max: number): number | undefined {
  if (!p || p.quoted || !/^\d{1,9}$/.test(p.raw)) return undefined;
  const n = Number(p.raw);
  return n >= min && n <= max ? n : undefined;
}
