/**
 * The driver's options: validated once, at the edge (docs/STYLE.md §6). driver.ts re-exports them.
 */
import { ConfigError } from '../errors.ts';
import type { EvidenceBus } from '../evidence.ts';
import type { AtEngineOptions } from '../at/index.ts';

/** Options of `Bx310x.open`: timeouts, upload guard time, the evidence bus, a transcript file. */
export interface Bx310xOptions {
  /** Evidence bus for the engine's (`source: 'at'`) events. Default: none. */
  bus?: EvidenceBus;
  /** Timeout of one AT command, ms. Default 5000 (5 s). */
  defaultTimeoutMs?: number;
  /** Write the AT transcript to this file. Default: none. */
  transcriptPath?: string;
  /** Evidence scope, e.g. `dev0`. Default: none. */
  scope?: string;
  /** Guard time before and after `+++` of uploads, ms. Default 1000 (1 s); [BX-T] 1500, [BX-L] 100. */
  guardTimeMs?: number;
  /** Wait for `READY` after AT+RST / AT&F, ms. Default 15000 (15 s). */
  resetTimeoutMs?: number;
  /** Wait for `+KMQTT_IND: <id>,1` after AT+KMQTTCNX's OK, ms. Default 30000 (30 s; [3P] HL7811 waits 30 s). */
  connectTimeoutMs?: number;
  /** Wait for `+KMQTT_IND: <id>,4` after a QoS >= 1 publish, ms. Default 12000 (12 s, as [BX-L]). */
  pubAckTimeoutMs?: number;
  /**
   * SUBACK/UNSUBACK URCs (`+KMQTT_IND: <id>,2/3`) are HL-confirmed but not seen in BX sources
   * [guess for BX]. `require`: wait for them (fail on timeout); `none`: do not wait; `auto`
   * (default): wait up to `subAckTimeoutMs` the first time, then keep waiting only if the
   * firmware sent one.
   */
  subAck?: 'auto' | 'require' | 'none';
  /** Bounded wait for SUBACK/UNSUBACK URCs, ms. Default 2000 (2 s). */
  subAckTimeoutMs?: number;
  /** Wait for the Wi-Fi join (`+SRWSTAIP`), ms. Default 30000 (30 s). */
  wifiTimeoutMs?: number;
  /** Send `AT` until `OK` when opening. Default true. */
  sync?: boolean;
  /** Lower-level engine options (timers, resync bounds, URC registry). */
  engine?: Omit<AtEngineOptions, 'bus' | 'scope' | 'defaultTimeoutMs' | 'transcriptPath'>;
}

/** Driver options with every default filled in (what `Bx310x.open` works with). */
export type ParsedBx310xOptions = Required<Omit<Bx310xOptions, 'bus' | 'transcriptPath' | 'scope' | 'engine'>> &
  Pick<Bx310xOptions, 'bus' | 'transcriptPath' | 'scope' | 'engine'>;

const DEFAULTS = Object.freeze({
  defaultTimeoutMs: 5_000, // 5 s
  guardTimeMs: 1_000, // 1 s
  resetTimeoutMs: 15_000, // 15 s
  connectTimeoutMs: 30_000, // 30 s
  pubAckTimeoutMs: 12_000, // 12 s
  subAck: 'auto' as const,
  subAckTimeoutMs: 2_000, // 2 s
  wifiTimeoutMs: 30_000, // 30 s
  sync: true,
});

/** Validate driver options once, at the edge. */
export function parseBx310xOptions(input: Bx310xOptions = {}): ParsedBx310xOptions {
  const o = {
    ...DEFAULTS,
    ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
  } as ParsedBx310xOptions;
  for (const f of [
    'defaultTimeoutMs',
    'guardTimeMs',
    'resetTimeoutMs',
    'connectTimeoutMs',
    'pubAckTimeoutMs',
    'subAckTimeoutMs',
    'wifiTimeoutMs',
  ] as const) {
    const v = o[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (f !== 'guardTimeMs' && v === 0)) {
      throw new ConfigError(f, v, `${f} must be a positive number of milliseconds, got ${String(v)}`);
    }
  }
  if (!['auto', 'require', 'none'].includes(o.subAck))
    throw new ConfigError('subAck', o.subAck, `subAck must be auto, require or none, got ${String(o.subAck)}`);
  return o;
}
