/**
 * Fault knobs for robustness tests: drop or corrupt a fraction of the serial bytes, delay
 * responses, emit spurious URCs, reset at a given command. Random choices come from a seeded
 * RNG so a failing run can be replayed with the same seed.
 */
import { ConfigError } from '../errors.ts';

export interface SimFaults {
  /** Fraction (0..1) of serial bytes dropped, in the directions given by `direction`. Default 0. */
  dropRate?: number;
  /** Fraction (0..1) of serial bytes replaced by a random byte. Default 0. */
  corruptRate?: number;
  /** Which serial direction the byte faults hit: `rx` (host → module), `tx`, or `both`. Default `both`. */
  direction?: 'rx' | 'tx' | 'both';
  /** Delay before every final result code, in milliseconds. Default 0. */
  responseDelayMs?: number;
  /** Emit `spuriousUrc` every this many milliseconds; 0 = never. Default 0. */
  spuriousUrcEveryMs?: number;
  /** The URC line emitted by `spuriousUrcEveryMs`. Default `+KTCP_NOTIF: 9,6` (an unknown session). */
  spuriousUrc?: string;
  /** Reset (as AT+RST, READY after boot) instead of answering the next command with this name, e.g. `AT+KMQTTCNX`. Default none. */
  resetAtCommand?: string;
  /** RNG seed. Default 1. */
  seed?: number;
}

export const defaultFaults: Readonly<Required<SimFaults>> = Object.freeze({
  dropRate: 0,
  corruptRate: 0,
  direction: 'both',
  responseDelayMs: 0,
  spuriousUrcEveryMs: 0,
  spuriousUrc: '+KTCP_NOTIF: 9,6',
  resetAtCommand: '',
  seed: 1,
});

const rate = (field: string, v: unknown): number => {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1))
    throw new ConfigError(
      `faults.${field}`,
      v,
      `faults.${field} must be a number from 0 to 1, not ${JSON.stringify(v)}`,
    );
  return v;
};
const ms = (field: string, v: unknown): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 3_600_000) {
    throw new ConfigError(
      `faults.${field}`,
      v,
      `faults.${field} must be whole milliseconds from 0 to 3600000, not ${JSON.stringify(v)}`,
    );
  }
  return v;
};

/** Validate a (partial) fault set over `base`; a key given as `undefined` returns to its default. */
export function parseSimFaults(input: SimFaults, base: Required<SimFaults> = defaultFaults): Required<SimFaults> {
  const out = { ...base };
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined) {
      // An explicit `undefined` restores the default (e.g. `resetAtCommand: undefined`).
      if (Object.hasOwn(defaultFaults, k)) (out as Record<string, unknown>)[k] = defaultFaults[k as keyof SimFaults];
      continue;
    }
    switch (k) {
      case 'dropRate':
      case 'corruptRate':
        out[k] = rate(k, v);
        break;
      case 'responseDelayMs':
      case 'spuriousUrcEveryMs':
        out[k] = ms(k, v);
        break;
      case 'seed':
        if (typeof v !== 'number' || !Number.isInteger(v))
          throw new ConfigError('faults.seed', v, `faults.seed must be an integer, not ${JSON.stringify(v)}`);
        out.seed = v;
        break;
      case 'direction':
        if (v !== 'rx' && v !== 'tx' && v !== 'both')
          throw new ConfigError(
            'faults.direction',
            v,
            `faults.direction must be rx, tx or both, not ${JSON.stringify(v)}`,
          );
        out.direction = v;
        break;
      case 'spuriousUrc':
      case 'resetAtCommand':
        if (typeof v !== 'string' || /[\r\n]/.test(v))
          throw new ConfigError(`faults.${k}`, v, `faults.${k} must be one line of text`);
        out[k] = v;
        break;
      default:
        throw new ConfigError(
          `faults.${k}`,
          v,
          `unknown fault knob "${k}": known are ${Object.keys(defaultFaults).join(', ')}`,
        );
    }
  }
  return out;
}

/** mulberry32: small, fast, seeded; good enough to pick which bytes to drop. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Apply drop/corrupt to a chunk. Returns the same buffer when no fault is active. */
export function applyByteFaults(chunk: Buffer, faults: Required<SimFaults>, random: () => number): Buffer {
  if (faults.dropRate === 0 && faults.corruptRate === 0) return chunk;
  const out: number[] = [];
  for (const byte of chunk) {
    if (faults.dropRate > 0 && random() < faults.dropRate) continue;
    out.push(
      faults.corruptRate > 0 && random() < faults.corruptRate ? (byte ^ (1 + Math.floor(random() * 255))) & 0xff : byte,
    );
  }
  return Buffer.from(out);
}
