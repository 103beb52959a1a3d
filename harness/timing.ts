/**
 * A module's timing model: how long a BX310x takes for what it does, as data. Shared by the
 * virtual module (harness/sim paces itself by it), the lab file (a real module's measured
 * speeds) and the runner (waits derive from it; each test's physical floor is computed from it),
 * which may not import each other, so it lives in the base.
 *
 * Every value carries a source tag in `sources` (dotted field → `[BX-T …]`, `[mbedTLS …]`,
 * `[report]`, `[guess]`, `[measured <date>]`), as the profile quirks do.
 *
 * `INSTANT_TIMING` is today's instant module: no pacing, no latencies. It is the default, so
 * `npm test` stays fast; a shipped profile carries a `realistic` block beside its quirks.
 */
import { ConfigError } from './errors.ts';

/** Key kinds whose cost the TLS model knows: the server chain's keys and the module's own key. */
export type TimingKeyKind = 'rsa2048' | 'rsa4096' | 'ecP256';
export const TIMING_KEY_KINDS: readonly TimingKeyKind[] = ['rsa2048', 'rsa4096', 'ecP256'];

export interface Timing {
  /** `instant`, `realistic`, or the name a file or lab file gives. */
  name: string;
  /** The UART. `baudRate: 0` means unpaced (the instant module). */
  line: { baudRate: number; bitsPerByte: number };
  /** From `OK` of AT+RST / AT&F to `READY`, ms. */
  bootMs: number;
  /** Writing a stored item to flash (AT+KCERTSTORE, AT+KPRIVKSTORE, deletes): per item plus per kB. */
  flash: { perItemMs: number; perKbMs: number };
  tls: {
    /** Key exchange on the module's CPU (ECDHE P-256 or RSA key transport), ms. */
    keyExchangeMs: number;
    /** Verifying one certificate of the server chain, by the signing key's kind, ms. */
    verifyPerCertMs: Record<TimingKeyKind, number>;
    /** Signing CertificateVerify with the module's own key (mutual TLS), by key kind, ms. */
    signMs: Record<TimingKeyKind, number>;
  };
  mqtt: {
    /** CONNACK received → `+KMQTT_IND: <id>,1` (the module's own processing), ms. */
    connackMs: number;
    /** AT+KMQTTPUB accepted → PUBLISH on the wire, ms. */
    publishMs: number;
  };
  wifi: {
    /** AT+SRWSTACON=1 → `+SRWSTASTATUS: 1,…`, ms. */
    joinMs: number;
  };
  /** Dotted field → source tag. */
  sources: Record<string, string>;
}

export const INSTANT_TIMING: Timing = Object.freeze({
  name: 'instant',
  line: { baudRate: 0, bitsPerByte: 10 },
  bootMs: 0,
  flash: { perItemMs: 0, perKbMs: 0 },
  tls: {
    keyExchangeMs: 0,
    verifyPerCertMs: { rsa2048: 0, rsa4096: 0, ecP256: 0 },
    signMs: { rsa2048: 0, rsa4096: 0, ecP256: 0 },
  },
  mqtt: { connackMs: 0, publishMs: 0 },
  wifi: { joinMs: 0 },
  sources: {},
}) as Timing;

/** Whether the model paces the line or adds latencies at all. */
export function isInstant(t: Timing): boolean {
  return t.line.baudRate === 0 && JSON.stringify({ ...t, name: '', sources: {}, line: 0 }) === INSTANT_SHAPE;
}
const INSTANT_SHAPE = JSON.stringify({ ...INSTANT_TIMING, name: '', sources: {}, line: 0 });

/** Line time of `bytes` bytes under `t` (0 when unpaced), ms. */
export function timingLineMs(t: Timing, bytes: number): number {
  return t.line.baudRate > 0 ? (bytes * t.line.bitsPerByte * 1000) / t.line.baudRate : 0;
}

/**
 * The module's TLS handshake work, ms: the key exchange, one check per signature it verifies
 * (`verified`: the kind of each verifying key — the server's own key for its signature over the
 * key exchange, then the issuer of each server certificate up to the trust anchor) and, for
 * mutual TLS when the server asked, one signature with its own key (`signed`). The virtual
 * module spends this before its Finished and reports `{ ms, verified, signed }` as a
 * `sim`/`tls-cpu` evidence event (docs/sim.md §Timing).
 */
export function tlsWorkMs(t: Timing, work: { verified: readonly TimingKeyKind[]; signed?: TimingKeyKind }): number {
  return (
    t.tls.keyExchangeMs +
    work.verified.reduce((sum, kind) => sum + t.tls.verifyPerCertMs[kind], 0) +
    (work.signed ? t.tls.signMs[work.signed] : 0)
  );
}

/** Flash cost of storing `bytes` bytes as one item, ms. */
export function flashWriteMs(t: Timing, bytes: number): number {
  return t.flash.perItemMs + (t.flash.perKbMs * bytes) / 1024;
}

const MAX_MS = 600_000;

/** A source tag opens with a bracketed tag: `[report] …`, `[guess] …`, `[measured 2026-01-05]`. */
const SOURCE_TAG = /^\[[^\]\s][^\]]*\]/;

/** Every numeric field of a timing block, dotted (`line.baudRate`, `tls.signMs.ecP256`, …). */
export function timingFields(t: Timing = INSTANT_TIMING): string[] {
  const out: string[] = [];
  const walk = (v: unknown, prefix: string): void => {
    if (typeof v === 'number') out.push(prefix);
    else if (typeof v === 'object' && v !== null)
      for (const [k, sub] of Object.entries(v)) if (k !== 'sources') walk(sub, prefix ? `${prefix}.${k}` : k);
  };
  walk(t, '');
  return out;
}

/** Whether `path` names a timing field or a group of them (`tls`, `tls.signMs`). */
function timingFieldExists(path: string): boolean {
  return timingFields().some((f) => f === path || f.startsWith(`${path}.`));
}

/**
 * The source tag of a timing field, or of its nearest tagged parent (`tls.signMs` covers
 * `tls.signMs.rsa2048`); undefined when nothing says where the value comes from.
 */
export function timingSourceOf(t: Timing, field: string): string | undefined {
  for (let f = field; f; f = f.includes('.') ? f.slice(0, f.lastIndexOf('.')) : '') {
    const s = t.sources[f];
    if (s) return s;
  }
  return undefined;
}

/** Line time of one byte under `t`, ms (0 when unpaced). */
export function timingByteMs(t: Timing): number {
  return timingLineMs(t, 1);
}

/**
 * Validate a timing block at the edge, merged over `base` (default instant): every field
 * optional, unknown fields and values out of range refused with a `ConfigError` naming the
 * dotted field (`<field>.tls.signMs.rsa4096`).
 */
export function parseTiming(input: unknown, field = 'timing', base: Timing = INSTANT_TIMING): Timing {
  const fail = (f: string, value: unknown, why: string): never => {
    throw new ConfigError(f, value, `${f} ${why}`);
  };
  const obj = (v: unknown, f: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(f, v, 'must be an object');
    return v as Record<string, unknown>;
  };
  const walk = (spec: unknown, value: unknown, f: string): unknown => {
    if (typeof spec === 'number') {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_MS * 100) {
        fail(f, value, `must be a number >= 0, not ${JSON.stringify(value)}`);
      }
      return value;
    }
    if (typeof spec === 'string') {
      if (typeof value !== 'string' || value === '') fail(f, value, 'must be a non-empty string');
      return value;
    }
    const s = spec as Record<string, unknown>;
    const v = obj(value, f);
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v)) {
      if (!(key in s)) fail(`${f}.${key}`, v[key], `is not a timing field (known: ${Object.keys(s).join(', ')})`);
    }
    for (const [key, sub] of Object.entries(s)) out[key] = key in v ? walk(sub, v[key], `${f}.${key}`) : sub;
    return out;
  };
  const v = obj(input, field);
  const { sources, ...rest } = v;
  const { sources: baseSources, ...baseRest } = base;
  const merged = walk(baseRest, rest, field) as Omit<Timing, 'sources'>;
  const src: Record<string, string> = { ...baseSources };
  if (sources !== undefined) {
    for (const [k, tag] of Object.entries(obj(sources, `${field}.sources`))) {
      // A tag for a field that does not exist would document nothing (a typo hides a guess).
      if (!timingFieldExists(k))
        fail(`${field}.sources.${k}`, k, `names "${k}", which is not a timing field (e.g. tls.signMs.rsa2048)`);
      if (typeof tag !== 'string' || !SOURCE_TAG.test(tag))
        fail(`${field}.sources.${k}`, tag, 'must be a source tag such as "[guess] why" or "[measured 2026-01-05]"');
      src[k] = tag as string;
    }
  }
  const t: Timing = { ...merged, sources: src };
  if (t.line.baudRate > 0 && t.line.bitsPerByte < 1)
    fail(`${field}.line.bitsPerByte`, t.line.bitsPerByte, 'must be >= 1');
  return t;
}
