/**
 * What a firmware can take, for doctor: key sizes, key encodings, line endings, slot size.
 *
 * pki must not import the simulator's profiles (layering: pki imports base only), so the
 * limits doctor needs are a small type of their own, with built-in values for the shipped
 * profile names and a reader for the `constraints` object of a JSON profile file.
 * Every value names its source tag (docs/reference/bx310x-at.md): most are [guess], because no BX source
 * states them.
 */
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import type { EcCurve, KeyEncoding } from './factory.ts';

/** The line ending a module takes in uploaded PEM: `lf` or `crlf`. */
export type LineEnding = 'lf' | 'crlf';

/** What a firmware accepts in uploads (key types and encodings, curves, sizes, line endings): the material a scenario builds for it. */
export interface DeviceConstraints {
  /** Profile name, e.g. `2.6.3`. */
  name: string;
  /** Largest RSA key (bits) the module can use for its own key or verify in a chain. */
  maxRsaBits: number;
  /** EC curves the module supports; empty = no EC. */
  ecCurves: EcCurve[];
  /** Private-key encodings KPRIVKSTORE accepts. */
  keyEncodings: KeyEncoding[];
  /** Line endings a stored PEM may have. */
  lineEndings: LineEnding[];
  /** Largest `<NbData>` of one KCERTSTORE/KPRIVKSTORE upload, in bytes. */
  slotMaxBytes: number;
  /** Where each value comes from, by field name (reference tags). */
  sources: Record<string, string>;
}

const SLOT = { slotMaxBytes: 3000 }; // [BX-T] KCERTSTORE_0001/KPRIVKSTORE_0001: NbData 1..3000, 3001 gives 916

/**
 * Built-in constraints for the shipped firmware profile names. Frozen. The values follow the
 * simulator's profiles (harness/sim/profiles/<name>.json: `uploads.maxBytes`,
 * `uploads.lineEndings`, `keys.forms`, `tls.maxRsaBits`) so doctor and the virtual module agree;
 * a test checks that they still do.
 */
export const BUILTIN_CONSTRAINTS: Readonly<Record<string, DeviceConstraints>> = Object.freeze({
  '2.6.3': Object.freeze({
    name: '2.6.3',
    maxRsaBits: 4096,
    ecCurves: ['P-256', 'P-384'] as EcCurve[],
    keyEncodings: ['pkcs1', 'pkcs8', 'sec1'] as KeyEncoding[],
    lineEndings: ['lf', 'crlf'] as LineEnding[],
    ...SLOT,
    sources: {
      maxRsaBits: '[guess] sim profile 2.6.3 (tls.maxRsaBits)',
      ecCurves: '[guess] mbedTLS defaults; the AWS ECDSA chain is P-256 (docs/reference/aws-iot-and-mosquitto.md T11)',
      keyEncodings: '[guess] sim profile 2.6.3 (keys.forms); [BX-T] only ever uploads PKCS#1',
      lineEndings:
        '[report] docs/reference/field-report-2.6.3.md: a pasted certificate answered ERROR; LF and CR LF accepted [guess]',
      slotMaxBytes: '[BX-T] KCERTSTORE_0001 (NbData 1..3000)',
    },
  }),
  legacy: Object.freeze({
    name: 'legacy',
    maxRsaBits: 2048,
    ecCurves: [] as EcCurve[],
    keyEncodings: ['pkcs1', 'pkcs8', 'sec1'] as KeyEncoding[],
    lineEndings: ['lf'] as LineEnding[],
    ...SLOT,
    sources: {
      maxRsaBits: '[guess] sim profile legacy: RSA keys above 2048 bits are refused',
      ecCurves: '[guess] no EC material in any [BX-T] test',
      keyEncodings: '[guess] sim profile legacy (keys.forms); [BX-T] only ever uploads PKCS#1',
      lineEndings: '[BX-T, BX-L] both send LF line endings only',
      slotMaxBytes: '[BX-T] KCERTSTORE_0001 (NbData 1..3000)',
    },
  }),
  reference: Object.freeze({
    name: 'reference',
    maxRsaBits: 4096,
    ecCurves: ['P-256', 'P-384', 'P-521'] as EcCurve[],
    keyEncodings: ['pkcs1', 'pkcs8', 'sec1'] as KeyEncoding[],
    lineEndings: ['lf', 'crlf'] as LineEnding[],
    ...SLOT,
    sources: {
      maxRsaBits: '[guess] sim profile reference: a well-behaved module',
      ecCurves: '[guess] AWS accepts P-256/384/521 device keys (docs/reference/aws-iot-and-mosquitto.md T14)',
      keyEncodings: '[guess] every unencrypted encoding OpenSSL writes',
      lineEndings: '[BX-T, BX-L] LF with or without a final LF; CR LF [guess]',
      slotMaxBytes: '[BX-T] KCERTSTORE_0001 (NbData 1..3000)',
    },
  }),
});

const KEY_ENCODINGS: KeyEncoding[] = ['pkcs1', 'pkcs8', 'sec1', 'pkcs8-encrypted'];
const CURVES: EcCurve[] = ['P-256', 'P-384', 'P-521'];

/**
 * Resolve `--profile`: a built-in name (`2.6.3`, `legacy`, `reference`) or a path to a JSON
 * profile file with a `constraints` object; fields it omits come from the built-in profile of
 * the same `name` (or `reference`). Throws ConfigError (BXHIL_CONFIG) naming the bad field.
 */
export function loadConstraints(nameOrPath: string): DeviceConstraints {
  const builtin = BUILTIN_CONSTRAINTS[nameOrPath];
  if (builtin) return builtin;
  let text: string;
  try {
    if (statSync(nameOrPath).size > 1_048_576) throw new Error('larger than 1 MiB');
    text = readFileSync(nameOrPath, 'utf8');
  } catch (err) {
    throw new ConfigError(
      'profile',
      nameOrPath,
      `--profile ${nameOrPath}: not a built-in profile (${Object.keys(BUILTIN_CONSTRAINTS).join(', ')}) and not a readable JSON file (${(err as Error).message})`,
      { cause: err },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      'profile',
      nameOrPath,
      `--profile ${nameOrPath}: not valid JSON (${(err as Error).message}); fix the file or use a built-in profile name`,
      { cause: err },
    );
  }
  const obj = (json ?? {}) as Record<string, unknown>;
  const c = (obj.constraints ?? fromSimProfile(obj)) as Record<string, unknown>;
  if (typeof c !== 'object' || Array.isArray(c))
    throw new ConfigError('profile.constraints', c, `--profile ${nameOrPath}: "constraints" must be an object`);
  const baseName = typeof c.name === 'string' ? c.name : typeof obj.name === 'string' ? obj.name : 'reference';
  const base = BUILTIN_CONSTRAINTS[baseName] ?? BUILTIN_CONSTRAINTS.reference!;
  const field = <T>(key: string, check: (v: unknown) => v is T, what: string): T | undefined => {
    if (c[key] === undefined) return undefined;
    if (!check(c[key]))
      throw new ConfigError(
        `constraints.${key}`,
        c[key],
        `--profile ${nameOrPath}: constraints.${key} must be ${what}`,
      );
    return c[key];
  };
  const posInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;
  const listOf =
    <T extends string>(allowed: readonly T[]) =>
    (v: unknown): v is T[] =>
      Array.isArray(v) && v.every((x) => allowed.includes(x as T));
  return {
    name:
      baseName === base.name && typeof obj.name !== 'string'
        ? `${base.name} (${nameOrPath})`
        : String(obj.name ?? baseName),
    maxRsaBits: field('maxRsaBits', posInt, 'a positive integer (bits)') ?? base.maxRsaBits,
    ecCurves: field('ecCurves', listOf(CURVES), `a list of ${CURVES.join('/')}`) ?? base.ecCurves,
    keyEncodings:
      field('keyEncodings', listOf(KEY_ENCODINGS), `a list of ${KEY_ENCODINGS.join('/')}`) ?? base.keyEncodings,
    lineEndings: field('lineEndings', listOf<LineEnding>(['lf', 'crlf']), 'a list of lf/crlf') ?? base.lineEndings,
    slotMaxBytes: field('slotMaxBytes', posInt, 'a positive integer (bytes)') ?? base.slotMaxBytes,
    sources: { ...base.sources, ...((c.sources as Record<string, string> | undefined) ?? {}), file: nameOrPath },
  };
}

/**
 * A simulator profile (harness/sim/profiles/*.json) has no `constraints` object; its limits
 * live in `uploads`, `keys` and `tls`. Read them by shape (pki may not import sim).
 */
function fromSimProfile(obj: Record<string, unknown>): Record<string, unknown> {
  const sub = (k: string) => (obj[k] && typeof obj[k] === 'object' ? (obj[k] as Record<string, unknown>) : {});
  const src = sub('sources') as Record<string, string>;
  const out: Record<string, unknown> = {};
  if (sub('uploads').maxBytes !== undefined) out.slotMaxBytes = sub('uploads').maxBytes;
  if (sub('uploads').lineEndings !== undefined) out.lineEndings = sub('uploads').lineEndings;
  if (sub('keys').forms !== undefined) out.keyEncodings = sub('keys').forms;
  if (sub('tls').maxRsaBits !== undefined) out.maxRsaBits = sub('tls').maxRsaBits;
  const sources: Record<string, string> = {};
  for (const [field, key] of [
    ['slotMaxBytes', 'uploads.maxBytes'],
    ['lineEndings', 'uploads.lineEndings'],
    ['keyEncodings', 'keys.forms'],
    ['maxRsaBits', 'tls.maxRsaBits'],
  ] as const) {
    if (typeof src[key] === 'string') sources[field] = src[key];
  }
  out.sources = sources;
  return out;
}
