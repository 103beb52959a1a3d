/**
 * Parameter checks done BEFORE anything is sent (the driver's edge, docs/STYLE.md §6).
 *
 * The BX cannot carry a double quote inside a quoted string parameter: unbalanced quotes give
 * plain ERROR [BX-T], nested quotes `+CME ERROR: 3` [3P HL7811], and no source documents an
 * escape (docs/reference/bx310x-at.md §6.3). CR/LF would end the command line early.
 */
import { ParameterError } from './errors.ts';

/**
 * The largest `<NbData>` of a data-mode command (AT+KCERTSTORE, AT+KPRIVKSTORE, AT+KMQTTPUB):
 * 3000 bytes (docs/reference/bx310x-at.md §3.1/§3.3).
 */
export const MAX_NB_DATA = 3000;

/** UTF-8 bytes of `value` as a latin1 string: what the engine writes byte for byte. */
export function utf8AsLatin1(value: string): string {
  return Buffer.from(value, 'utf8').toString('latin1');
}

/** Check a string parameter and return it quoted for the command line. */
export function quoted(param: string, value: string, opts: { allowEmpty?: boolean; secret?: boolean } = {}): string {
  checkString(param, value, opts);
  return `"${utf8AsLatin1(value)}"`;
}

/** A string parameter that is sent as nothing when empty (`,,`), quoted otherwise. */
export function optionalQuoted(param: string, value: string | undefined, opts: { secret?: boolean } = {}): string {
  if (value === undefined || value === '') return '';
  return quoted(param, value, opts);
}

/** Assert a command parameter is a string a quoted AT argument can carry (not empty unless allowed, no double quote); throws `ParameterError` naming the parameter. */
export function checkString(
  param: string,
  value: unknown,
  opts: { allowEmpty?: boolean; secret?: boolean } = {},
): asserts value is string {
  const shown = opts.secret ? '<<redacted>>' : value;
  if (typeof value !== 'string')
    throw new ParameterError(param, shown, `${param} must be a string, got ${typeof value}`);
  if (!opts.allowEmpty && value.length === 0) throw new ParameterError(param, shown, `${param} must not be empty`);
  if (value.includes('"')) {
    throw new ParameterError(
      param,
      shown,
      `${param} contains a double quote ("): the BX310x cannot carry a double quote inside a quoted AT parameter (docs/reference/bx310x-at.md §6.3: plain ERROR or +CME ERROR: 3, no escape exists); encode the value, e.g. as base64, or use single quotes`,
    );
  }
  if (/[\r\n]/.test(value)) {
    throw new ParameterError(
      param,
      shown,
      `${param} contains CR or LF, which would end the AT command line early; encode the value (e.g. base64) or remove the line breaks`,
    );
  }
}

/** Check an integer parameter is within `[min, max]`; returns it or throws `ParameterError` naming the parameter. */
export function intIn(
  param: string,
  value: unknown,
  min: number,
  max: number,
  source = 'docs/reference/bx310x-at.md',
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ParameterError(
      param,
      value,
      `${param} must be an integer in ${min}..${max} (${source}), got ${String(value)}`,
    );
  }
  return value;
}

export function bit(value: boolean): 0 | 1 {
  return value ? 1 : 0;
}
