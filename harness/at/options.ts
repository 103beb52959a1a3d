/**
 * The AT engine's options and the shapes of its calls: validated once, at the edge (docs/STYLE.md §6).
 * `AtEngine` (engine.ts) re-exports all of it.
 */
import { ConfigError } from '../errors.ts';
import type { EvidenceBus } from '../evidence.ts';
import type { SecretRegistry } from '../secrets.ts';
import type { AtFramerOptions } from './framer.ts';
import { systemTimers, type AtTimers } from './timers.ts';
import { defaultUrcRegistry, type UrcRegistry } from './urc.ts';

export interface AtEngineOptions {
  /** Evidence bus to publish to (`source: 'at'`). Default: none. */
  bus?: EvidenceBus;
  /** `scope` of the evidence events, e.g. `dev0`. Default: none. */
  scope?: string;
  /** Timeout of one command (from sending to the final result), ms. Default 5000 (5 s). */
  defaultTimeoutMs?: number;
  /** Write the transcript text to this file as it grows. Default: no file. */
  transcriptPath?: string;
  /** Bytes of transcript kept in memory (a rolling window, see `Transcript`). Default 8 MiB. */
  transcriptMaxBytes?: number;
  /** Where secrets sent are registered and redacted from. Default `processSecrets` (harness/secrets.ts). */
  secrets?: SecretRegistry;
  /** Which lines are URCs. Default `defaultUrcRegistry()`. */
  urcs?: UrcRegistry;
  /** Timers for timeouts and guard times. Default the global ones. */
  timers?: AtTimers;
  /** Monotonic clock, ms. Default the bus's clock, else `performance.now()`. */
  now?: () => number;
  /** `AT` attempts when resynchronising. Default 3. */
  resyncAttempts?: number;
  /** Wait for `OK` per resync attempt, ms. Default 1000 (1 s). */
  resyncTimeoutMs?: number;
  /** Guard time around the `+++` sent to leave a data mode the engine was left in, ms. Default 1000 (1 s). */
  escapeGuardMs?: number;
  /**
   * When `AT` gets no answer `resyncAttempts` times, try one guarded `+++` and one more `AT`
   * before giving up (the module may be stuck in data mode). Default true.
   */
  resyncEscape?: boolean;
  /** URCs remembered for `expect(..., { since })`. Default 256. */
  urcHistory?: number;
  /** Framer options (counted inline-data prefixes, max line length). */
  framer?: AtFramerOptions;
}

export type ParsedAtEngineOptions = Required<
  Omit<AtEngineOptions, 'bus' | 'scope' | 'transcriptPath' | 'transcriptMaxBytes' | 'secrets' | 'framer' | 'now'>
> &
  Pick<AtEngineOptions, 'bus' | 'scope' | 'transcriptPath' | 'transcriptMaxBytes' | 'secrets' | 'framer'> & {
    now: () => number;
  };

const DEFAULTS = Object.freeze({
  defaultTimeoutMs: 5_000, // 5 s
  resyncAttempts: 3,
  resyncTimeoutMs: 1_000, // 1 s
  escapeGuardMs: 1_000, // 1 s
  resyncEscape: true,
  urcHistory: 256,
});

function positiveMs(field: string, value: unknown, min = 0): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new ConfigError(field, value, `${field} must be a number >= ${min} (milliseconds), got ${String(value)}`);
  }
  return value;
}

/** Validate engine options once, at the edge (docs/STYLE.md §6). */
export function parseAtEngineOptions(input: AtEngineOptions = {}): ParsedAtEngineOptions {
  const o = {
    ...DEFAULTS,
    ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
  } as AtEngineOptions & typeof DEFAULTS;
  positiveMs('defaultTimeoutMs', o.defaultTimeoutMs, 1);
  positiveMs('resyncTimeoutMs', o.resyncTimeoutMs, 1);
  positiveMs('escapeGuardMs', o.escapeGuardMs);
  if (!Number.isInteger(o.resyncAttempts) || o.resyncAttempts < 1) {
    throw new ConfigError(
      'resyncAttempts',
      o.resyncAttempts,
      `resyncAttempts must be an integer >= 1, got ${String(o.resyncAttempts)}`,
    );
  }
  if (!Number.isInteger(o.urcHistory) || o.urcHistory < 0) {
    throw new ConfigError(
      'urcHistory',
      o.urcHistory,
      `urcHistory must be an integer >= 0, got ${String(o.urcHistory)}`,
    );
  }
  const bus = o.bus;
  return {
    bus,
    scope: o.scope,
    transcriptPath: o.transcriptPath,
    transcriptMaxBytes: o.transcriptMaxBytes,
    secrets: o.secrets,
    framer: o.framer,
    defaultTimeoutMs: o.defaultTimeoutMs,
    resyncAttempts: o.resyncAttempts,
    resyncTimeoutMs: o.resyncTimeoutMs,
    escapeGuardMs: o.escapeGuardMs,
    resyncEscape: o.resyncEscape,
    urcHistory: o.urcHistory,
    urcs: o.urcs ?? defaultUrcRegistry(),
    timers: o.timers ?? systemTimers,
    now: o.now ?? (bus ? () => bus.clock.now() : () => performance.now()),
  };
}

export interface CommandOptions {
  /** From sending the command to its final result, ms. Default the engine's `defaultTimeoutMs`. */
  timeoutMs?: number;
  /** The command resets the module (AT+RST, AT&F): `READY` completes it instead of failing it. Default false. */
  expectReset?: boolean;
}

export interface AtResponse {
  /** The command as sent (secrets redacted), without CR. */
  command: string;
  /** Information lines in order, URCs and echo excluded. */
  lines: string[];
  final: 'OK';
}

export interface DataModeOptions {
  /** Bytes per write; the data is written in one piece when absent. */
  chunkSize?: number;
  /** Pause between chunks, ms (pacing for slow UARTs [3P]). Default 0. */
  chunkDelayMs?: number;
  /**
   * Silence kept before and after the end pattern, ms. Default 1000 (1 s). The BX tests use
   * 1500 [BX-T], Libelium 100 [BX-L].
   */
  guardTimeMs?: number;
  /** What ends the data phase, sent without CR. Default `+++` [BX-T, BX-L]; HL uses `--EOF--Pattern--` [HL-T]. */
  endPattern?: string;
  /** The data is a secret (a private key): only its length and SHA-256 reach the transcript and the bus. Default false. */
  secret?: boolean;
  /** Per wait (for `CONNECT`, then for the final result after the end pattern), ms. Default the engine's `defaultTimeoutMs`. */
  timeoutMs?: number;
}

export interface ExpectOptions {
  /** How long to wait, ms. Default the engine's `defaultTimeoutMs`. */
  timeoutMs?: number;
  /** A `marker()`: URCs received after it count too, not only the next ones. Default: only URCs arriving after the call. */
  since?: number;
}

/** `DataModeOptions` with the defaults filled in and every field checked. */
export interface ParsedDataModeOptions {
  guardTimeMs: number;
  chunkDelayMs: number;
  chunkSize: number;
  endPattern: string;
  timeoutMs: number;
  secret: boolean;
}

/** Validate a `dataMode()` call's options against the data it sends (`byteLength` bytes). */
export function parseDataModeOptions(
  opts: DataModeOptions,
  byteLength: number,
  defaultTimeoutMs: number,
): ParsedDataModeOptions {
  const guardTimeMs = positiveMs('guardTimeMs', opts.guardTimeMs ?? 1_000); // 1 s
  const chunkDelayMs = positiveMs('chunkDelayMs', opts.chunkDelayMs ?? 0);
  const chunkSize = opts.chunkSize ?? Math.max(1, byteLength);
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw new ConfigError('chunkSize', chunkSize, `chunkSize must be an integer >= 1, got ${String(chunkSize)}`);
  const endPattern = opts.endPattern ?? '+++';
  if (endPattern.length === 0) throw new ConfigError('endPattern', endPattern, 'endPattern must not be empty');
  const timeoutMs = opts.timeoutMs ?? defaultTimeoutMs;
  return { guardTimeMs, chunkDelayMs, chunkSize, endPattern, timeoutMs, secret: opts.secret ?? false };
}
