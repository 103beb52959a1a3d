/**
 * Line options from a device URI's query string, validated once at the edge (docs/STYLE.md §6).
 * Shared by `serial:` and `rfc2217://`:
 *
 * `?baud=115200&databits=8&parity=none&stopbits=1&rtscts=1`
 *
 * - `baud` (alias `baudrate`): positive integer bits/s. Default 115200 (the BX310x default).
 * - `databits`: 5, 6, 7 or 8. Default 8.
 * - `parity`: none | even | odd | mark | space (or n/e/o/m/s). Default none.
 * - `stopbits`: 1, 1.5 or 2. Default 1.
 * - `rtscts`: 1/0, true/false, on/off. Default false (no hardware flow control).
 *
 * Unknown keys are rejected (a typo such as `?buad=9600` must not silently mean 115200).
 */
import { ConfigError } from '../errors.ts';
import type { LineSettings } from './types.ts';

/** 115200 8N1 without flow control: the module's factory setting. */
export const defaultLineSettings: Readonly<Required<LineSettings>> = Object.freeze({
  baudRate: 115_200,
  dataBits: 8,
  parity: 'none',
  stopBits: 1,
  rtscts: false,
});

const PARITIES: Record<string, LineSettings['parity']> = {
  none: 'none',
  n: 'none',
  even: 'even',
  e: 'even',
  odd: 'odd',
  o: 'odd',
  mark: 'mark',
  m: 'mark',
  space: 'space',
  s: 'space',
};

const LINE_KEYS = ['baud', 'baudrate', 'databits', 'parity', 'stopbits', 'rtscts'];

/** Options of `parseSerialOptions`: further query keys the caller handles itself. */
export interface ParseSerialOptionsOptions {
  /** Further query keys the caller handles itself (e.g. `timeoutMs`); not rejected here. */
  allow?: readonly string[];
}

function bad(field: string, value: string, expected: string, uri: string): ConfigError {
  return new ConfigError(field, value, `bad ${field}="${value}" in ${uri}: expected ${expected}`);
}

/** Parse the line settings of a `serial:` / `rfc2217://` URI; throws `ConfigError`. */
export function parseSerialOptions(url: URL | string, options: ParseSerialOptionsOptions = {}): Required<LineSettings> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const uri = u.href;
  const out: Required<LineSettings> = { ...defaultLineSettings };
  const allow = new Set([...LINE_KEYS, ...(options.allow ?? []).map((k) => k.toLowerCase())]);
  for (const [rawKey, value] of u.searchParams) {
    const key = rawKey.toLowerCase();
    if (!allow.has(key)) {
      throw new ConfigError(
        rawKey,
        value,
        `unknown option "${rawKey}" in ${uri}: known options are ${[...allow].join(', ')}`,
      );
    }
    switch (key) {
      case 'baud':
      case 'baudrate': {
        const n = Number(value);
        if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
          throw bad('baud', value, 'a positive integer number of bits/s, e.g. 115200', uri);
        }
        out.baudRate = n;
        break;
      }
      case 'databits': {
        if (!['5', '6', '7', '8'].includes(value)) throw bad('databits', value, '5, 6, 7 or 8', uri);
        out.dataBits = Number(value) as LineSettings['dataBits'];
        break;
      }
      case 'parity': {
        const p = PARITIES[value.toLowerCase()];
        if (!p) throw bad('parity', value, 'none, even, odd, mark or space', uri);
        out.parity = p;
        break;
      }
      case 'stopbits': {
        if (!['1', '1.5', '2'].includes(value)) throw bad('stopbits', value, '1, 1.5 or 2', uri);
        out.stopBits = Number(value) as LineSettings['stopBits'];
        break;
      }
      case 'rtscts': {
        const v = value.toLowerCase();
        if (['1', 'true', 'on', 'yes'].includes(v)) out.rtscts = true;
        else if (['0', 'false', 'off', 'no'].includes(v)) out.rtscts = false;
        else throw bad('rtscts', value, '1 or 0 (true/false)', uri);
        break;
      }
      default:
        break; // an allowed key the caller parses
    }
  }
  return out;
}

/** Validate a partial settings object passed to `updateSettings()` (same rules as the URI). */
export function checkLineSettings(settings: Partial<LineSettings>, uri: string): void {
  const { baudRate, dataBits, parity, stopBits } = settings;
  if (baudRate !== undefined && (!Number.isSafeInteger(baudRate) || baudRate <= 0)) {
    throw new ConfigError(
      'baudRate',
      baudRate,
      `bad baudRate ${String(baudRate)} for ${uri}: expected a positive integer`,
    );
  }
  if (dataBits !== undefined && ![5, 6, 7, 8].includes(dataBits)) {
    throw new ConfigError('dataBits', dataBits, `bad dataBits ${String(dataBits)} for ${uri}: expected 5, 6, 7 or 8`);
  }
  if (parity !== undefined && !Object.values(PARITIES).includes(parity)) {
    throw new ConfigError(
      'parity',
      parity,
      `bad parity ${String(parity)} for ${uri}: expected none, even, odd, mark or space`,
    );
  }
  if (stopBits !== undefined && ![1, 1.5, 2].includes(stopBits)) {
    throw new ConfigError('stopBits', stopBits, `bad stopBits ${String(stopBits)} for ${uri}: expected 1, 1.5 or 2`);
  }
}
