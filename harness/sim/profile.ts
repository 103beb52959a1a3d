/**
 * Firmware profiles: the virtual module's behaviour per firmware is DATA (docs/DESIGN.md), not forks
 * of code. A profile is a JSON object; every quirk names its source in `sources` (a map from the
 * dotted field to a reference tag such as `[BX-T ...]`, `[report]`, `[guess]`).
 *
 * `parseProfile(input)` validates at the edge (docs/STYLE.md §6): it merges the input over a shipped
 * base profile (`extends`, default `reference`), refuses unknown fields, wrong types and values
 * out of range with a `ConfigError` naming the dotted field, and checks every declared capability
 * against the knob it follows from. Below this edge the simulator assumes a valid profile.
 */
import { existsSync, readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import { INSTANT_TIMING, parseTiming, type Timing } from '../timing.ts';
import { checkExpectation, isExpectationProblem, type KnownIssue } from '../known-issue.ts';
import { CAPABILITIES, type Capability } from './capabilities.ts';

export type LineEnding = 'lf' | 'crlf' | 'cr';
export type KeyForm = 'pkcs1' | 'pkcs8' | 'sec1';
export type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

/** A known difference between this firmware and what a suite expects, and how the test fails. */
export type { KnownIssue } from '../known-issue.ts';

export interface Profile {
  /** Profile name (`2.6.3`, `legacy`, `reference`, or the user's own). */
  name: string;
  description: string;
  identity: {
    /** `ATI` answer. */
    ati: string;
    /** `AT+FMM` answer. */
    fmm: string;
    /** `AT+CGMR` answer (the firmware version). */
    cgmr: string;
    /** Station MAC shown by `AT+MACADDR?` and `AT+SRWCFG?`. */
    mac: string;
  };
  framing: {
    /** Echo on after boot (ATE1). */
    echoAtBoot: boolean;
    /** What an LF after the CR does: `ignore`, or `error` (read as an empty command). */
    lfAfterCr: 'ignore' | 'error';
    /** A line without an `AT` prefix: `error` answers ERROR, `ignore` answers nothing. */
    garbageLine: 'error' | 'ignore';
    /** Longest command line in bytes (without the CR); longer lines answer ERROR. */
    lineBytes: number;
    /**
     * Milliseconds from `OK` to `READY` after AT+RST / AT&F under the instant timing; a timing
     * in force with a longer `bootMs` (the realistic block) takes over (docs/sim.md §Timing).
     */
    bootMs: number;
  };
  params: {
    /** An empty optional parameter (`...,"id",`) takes its default, or answers `error` (916). */
    trailingEmptyOptional: 'default' | 'error';
    /** Most parameters AT+KMQTTCFG accepts; one more answers 915. */
    kmqttcfgMaxParams: number;
    /** Read form of the will topic: always `quoted`, or `as-given`. */
    willTopicEcho: 'quoted' | 'as-given';
  };
  uploads: {
    /** Largest certificate or key in bytes. */
    maxBytes: number;
    /** Line endings accepted inside an uploaded PEM; anything else answers ERROR. */
    lineEndings: LineEnding[];
    /** `none` stores any bytes, `armor` checks the BEGIN/END lines, `parse` parses the PEM (930). */
    check: 'none' | 'armor' | 'parse';
    /** When the byte count differs from NbData: `ignore`, or `error` (+CME ERROR: 931). */
    nbDataMismatch: 'ignore' | 'error';
    /** Silence in milliseconds that must follow `+++` to end data mode. */
    guardTimeMs: number;
    /** Whether `+++` must also follow a silence of guardTimeMs to count. */
    requirePreGuard: boolean;
  };
  keys: {
    /** `AT+KPRIVKSTORE?`: `list` (private_key,<i>,<len>) or `cme918` (+CME ERROR: 918). */
    readForm: 'list' | 'cme918';
    /** Private-key encodings the TLS stack can load. */
    forms: KeyForm[];
  };
  tls: {
    minVersion: TlsVersion;
    maxVersion: TlsVersion;
    /** OpenSSL cipher list (TLS 1.3 suite names are accepted in it too). */
    ciphers: string;
    /** Send the configured host as SNI. */
    sni: boolean;
    /** What is checked of the server certificate: chain to root slot 0, name, dates (module clock). */
    verify: { chain: boolean; name: boolean; dates: boolean };
    /** Accept SHA-1 signatures and small keys (OpenSSL SECLEVEL 0, docs/reference/dependencies.md P12). */
    allowWeakCrypto: boolean;
    /** Largest RSA key (server or client) the stack handles, in bits. */
    maxRsaBits: number;
    /** Present local certificate 0 + private key 0 when both are stored. */
    clientIdentity: boolean;
    /** Bound on the TCP connect + TLS handshake, in milliseconds. */
    handshakeTimeoutMs: number;
  };
  mqtt: {
    incomingUrc: 'kmqtt_data' | 'kmqttsub';
    indOnSubscribe: boolean;
    indOnQos0Publish: boolean;
    /** Accepted `<version>` values of AT+KMQTTCFG (3 = MQTT 3.1, 4 = 3.1.1). */
    versions: number[];
    maxQos: number;
    /** Most sessions; AT+KMQTTCFG beyond it answers +CME ERROR: 912. */
    sessions: number;
    /** Most subscriptions per session; one more answers ERROR. */
    subscriptionsPerSession: number;
    /** Longest inline payload in bytes (916 beyond). */
    payloadBytes: number;
    /** Longest topic in bytes (916 beyond). */
    topicBytes: number;
    /** Bound on CONNECT → CONNACK, in milliseconds. */
    connectTimeoutMs: number;
    /** CME code for AT+KMQTTCNX on a session already connected or connecting. */
    cnxWhenConnected: number;
    /** CME code for PUB/SUB/UNSUB/CLOSE on a session that is not connected. */
    notConnected: number;
    /** AT+KMQTTDEL on a connected session: `close` it and delete, or `refuse` with notConnected's code. */
    delConnected: 'close' | 'refuse';
    /** secure=1 with no root certificate stored: `fail` the connect, or `noverify` (no server check). */
    noRootCa: 'fail' | 'noverify';
  };
  wifi: {
    /** The AT+SRW* commands exist. */
    enabled: boolean;
    /** The virtual module boots joined to a simulated access point. */
    joinedAtBoot: boolean;
    /** MQTT connects need Wi-Fi joined. */
    requiredForMqtt: boolean;
    /** CME code for AT+KMQTTCNX while not joined. */
    notJoined: number;
  };
  clock: {
    /**
     * `host`: the host's time; `1970`: counts from the epoch at boot until set; `sntp` [guess]:
     * counts from the epoch at boot until an SNTP server (`sim:...?sntp=`) answers, asked before
     * the first MQTT connect after boot (no source says the BX uses SNTP).
     */
    source: 'host' | '1970' | 'sntp';
    /** AT+CCLK sets and reads the clock. */
    settable: boolean;
  };
  /**
   * The realistic timing of this firmware (harness/timing.ts): line rate, boot, flash, TLS
   * costs, MQTT and Wi-Fi latencies, each value tagged in `timing.sources`. Applied only when
   * selected (`sim:…?timing=realistic`); the default is `INSTANT_TIMING`.
   */
  timing: Timing;
  capabilities: Capability[];
  knownIssues: KnownIssue[];
  /** Dotted field → where the value comes from (`[BX-T ...]`, `[report]`, `[guess] ...`). */
  sources: Record<string, string>;
}

/** A profile as written in a JSON file: any subset of the fields, over a shipped base. */
export type ProfileInput = { extends?: string } & DeepPartial<Profile>;
type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends unknown[] ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K];
};

export const shippedProfiles = ['2.6.3', 'legacy', 'reference'] as const;
export type ShippedProfileName = (typeof shippedProfiles)[number];

// ---- schema -----------------------------------------------------------------------------------

type Spec =
  | { kind: 'string'; nonEmpty?: boolean }
  | { kind: 'bool' }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'intList'; values: readonly number[] }
  | { kind: 'enumList'; values: readonly string[] }
  | { kind: 'object'; fields: Record<string, Spec> }
  | { kind: 'issues' }
  | { kind: 'timing' }
  | { kind: 'sources' };

const str: Spec = { kind: 'string' };
const bool: Spec = { kind: 'bool' };
const int = (min: number, max: number): Spec => ({ kind: 'int', min, max });
const oneOf = (...values: string[]): Spec => ({ kind: 'enum', values });
const cme: Spec = int(0, 999);
const tlsVersions = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;

const schema: Record<string, Spec> = {
  name: { kind: 'string', nonEmpty: true },
  description: str,
  identity: { kind: 'object', fields: { ati: str, fmm: str, cgmr: str, mac: str } },
  framing: {
    kind: 'object',
    fields: {
      echoAtBoot: bool,
      lfAfterCr: oneOf('ignore', 'error'),
      garbageLine: oneOf('error', 'ignore'),
      lineBytes: int(16, 65_536),
      bootMs: int(0, 60_000),
    },
  },
  params: {
    kind: 'object',
    fields: {
      trailingEmptyOptional: oneOf('default', 'error'),
      kmqttcfgMaxParams: int(14, 16),
      willTopicEcho: oneOf('quoted', 'as-given'),
    },
  },
  uploads: {
    kind: 'object',
    fields: {
      maxBytes: int(1, 65_536),
      lineEndings: { kind: 'enumList', values: ['lf', 'crlf', 'cr'] },
      check: oneOf('none', 'armor', 'parse'),
      nbDataMismatch: oneOf('ignore', 'error'),
      guardTimeMs: int(1, 10_000),
      requirePreGuard: bool,
    },
  },
  keys: {
    kind: 'object',
    fields: { readForm: oneOf('list', 'cme918'), forms: { kind: 'enumList', values: ['pkcs1', 'pkcs8', 'sec1'] } },
  },
  tls: {
    kind: 'object',
    fields: {
      minVersion: oneOf(...tlsVersions),
      maxVersion: oneOf(...tlsVersions),
      ciphers: { kind: 'string', nonEmpty: true },
      sni: bool,
      verify: { kind: 'object', fields: { chain: bool, name: bool, dates: bool } },
      allowWeakCrypto: bool,
      maxRsaBits: int(512, 16_384),
      clientIdentity: bool,
      handshakeTimeoutMs: int(100, 120_000),
    },
  },
  mqtt: {
    kind: 'object',
    fields: {
      incomingUrc: oneOf('kmqtt_data', 'kmqttsub'),
      indOnSubscribe: bool,
      indOnQos0Publish: bool,
      versions: { kind: 'intList', values: [3, 4] },
      maxQos: int(0, 2),
      sessions: int(1, 65_535),
      subscriptionsPerSession: int(1, 1000),
      payloadBytes: int(1, 1_048_576),
      topicBytes: int(1, 65_535),
      connectTimeoutMs: int(100, 120_000),
      cnxWhenConnected: cme,
      notConnected: cme,
      delConnected: oneOf('close', 'refuse'),
      noRootCa: oneOf('fail', 'noverify'),
    },
  },
  wifi: {
    kind: 'object',
    fields: { enabled: bool, joinedAtBoot: bool, requiredForMqtt: bool, notJoined: cme },
  },
  clock: { kind: 'object', fields: { source: oneOf('host', '1970', 'sntp'), settable: bool } },
  timing: { kind: 'timing' },
  capabilities: { kind: 'enumList', values: Object.keys(CAPABILITIES) },
  knownIssues: { kind: 'issues' },
  sources: { kind: 'sources' },
};

function describeType(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

function check(spec: Spec, value: unknown, field: string, source: string): void {
  const fail = (why: string): never => {
    throw new ConfigError(field, value, `profile ${source}: field "${field}" ${why}`);
  };
  switch (spec.kind) {
    case 'string':
      if (typeof value !== 'string') fail(`must be a string, not ${describeType(value)}`);
      if (spec.nonEmpty && value === '') fail('must not be empty');
      return;
    case 'bool':
      if (typeof value !== 'boolean') fail(`must be true or false, not ${JSON.stringify(value)}`);
      return;
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < spec.min || value > spec.max) {
        fail(`must be an integer from ${spec.min} to ${spec.max}, not ${JSON.stringify(value)}`);
      }
      return;
    case 'enum':
      if (typeof value !== 'string' || !spec.values.includes(value)) {
        fail(`must be one of ${spec.values.map((v) => JSON.stringify(v)).join(', ')}, not ${JSON.stringify(value)}`);
      }
      return;
    case 'intList':
    case 'enumList': {
      if (!Array.isArray(value)) fail(`must be an array, not ${describeType(value)}`);
      (value as unknown[]).forEach((item, i) => {
        if (!(spec.values as readonly unknown[]).includes(item)) {
          throw new ConfigError(
            `${field}[${i}]`,
            item,
            `profile ${source}: field "${field}[${i}]" must be one of ${spec.values.map((v) => JSON.stringify(v)).join(', ')}, not ${JSON.stringify(item)}`,
          );
        }
      });
      return;
    }
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        fail(`must be an object, not ${describeType(value)}`);
      const obj = value as Record<string, unknown>;
      for (const key of Object.keys(obj)) {
        if (!Object.hasOwn(spec.fields, key)) {
          const sub = field ? `${field}.${key}` : key;
          throw new ConfigError(
            sub,
            obj[key],
            `profile ${source}: unknown field "${sub}"; known fields here: ${Object.keys(spec.fields).join(', ')}`,
          );
        }
      }
      for (const [key, sub] of Object.entries(spec.fields)) {
        const path = field ? `${field}.${key}` : key;
        if (!Object.hasOwn(obj, key))
          throw new ConfigError(path, undefined, `profile ${source}: field "${path}" is missing`);
        check(sub, obj[key], path, source);
      }
      return;
    }
    case 'issues': {
      if (!Array.isArray(value))
        fail(`must be an array of { test, reason, source, expects }, not ${describeType(value)}`);
      (value as unknown[]).forEach((item, i) => {
        const path = `${field}[${i}]`;
        const { expects, ...rest } = isPlainObject(item) ? item : { expects: {} };
        check(
          { kind: 'object', fields: { test: { kind: 'string', nonEmpty: true }, reason: str, source: str } },
          isPlainObject(item) ? rest : item,
          path,
          source,
        );
        // How the test fails (harness/known-issue.ts): required, so no entry excuses every failure.
        const r = checkExpectation(expects);
        if (isExpectationProblem(r)) {
          const sub = r.key === undefined ? `${path}.expects` : `${path}.expects.${r.key}`;
          throw new ConfigError(sub, expects, `profile ${source}: field "${sub}" ${r.why}`);
        }
      });
      return;
    }
    case 'timing': {
      // parseTiming names the dotted field (`timing.tls.signMs.rsa4096`); the profile adds itself.
      try {
        parseTiming(value, field, REALISTIC_BASE);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        throw new ConfigError(err.field, err.value, `profile ${source}: ${err.message}`, { cause: err });
      }
      return;
    }
    case 'sources': {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        fail(`must be an object, not ${describeType(value)}`);
      for (const [key, text] of Object.entries(value as Record<string, unknown>)) {
        if (!knownPath(key)) {
          throw new ConfigError(
            `${field}.${key}`,
            key,
            `profile ${source}: "${field}" names "${key}", which is not a profile field`,
          );
        }
        if (typeof text !== 'string') fail(`entries must be strings; "${key}" is ${describeType(text)}`);
      }
      return;
    }
  }
}

/** What a profile's timing block is parsed over: instant, named `realistic`. */
const REALISTIC_BASE: Timing = { ...INSTANT_TIMING, name: 'realistic' };

function knownPath(path: string): boolean {
  let fields: Record<string, Spec> | undefined = schema;
  for (const part of path.split('.')) {
    const spec: Spec | undefined = fields?.[part];
    if (!spec) return false;
    fields = spec.kind === 'object' ? spec.fields : undefined;
  }
  return true;
}

const versionRank: Record<TlsVersion, number> = { TLSv1: 0, 'TLSv1.1': 1, 'TLSv1.2': 2, 'TLSv1.3': 3 };

/** Capabilities that follow from a knob: the declaration must agree with the knob. */
const derived: Partial<Record<Capability, (p: Profile) => boolean>> = {
  'tls.1.2': (p) => versionRank[p.tls.minVersion] <= 2 && versionRank[p.tls.maxVersion] >= 2,
  'tls.1.3': (p) => p.tls.maxVersion === 'TLSv1.3',
  'tls.sni': (p) => p.tls.sni,
  'tls.verifyChain': (p) => p.tls.verify.chain,
  'tls.verifyName': (p) => p.tls.verify.name,
  'tls.verifyDates': (p) => p.tls.verify.dates,
  'tls.weakCrypto': (p) => p.tls.allowWeakCrypto,
  'tls.rsa4096': (p) => p.tls.maxRsaBits >= 4096,
  'tls.mutual': (p) => p.tls.clientIdentity,
  'mqtt.v31': (p) => p.mqtt.versions.includes(3),
  'mqtt.qos1': (p) => p.mqtt.maxQos >= 1,
  'mqtt.qos2': (p) => p.mqtt.maxQos >= 2,
  'mqtt.indOnSubscribe': (p) => p.mqtt.indOnSubscribe,
  'mqtt.indOnQos0': (p) => p.mqtt.indOnQos0Publish,
  'mqtt.dataUrc': (p) => p.mqtt.incomingUrc === 'kmqtt_data',
  'mqtt.subUrc': (p) => p.mqtt.incomingUrc === 'kmqttsub',
  'keys.readForm': (p) => p.keys.readForm === 'list',
  'keys.pkcs1': (p) => p.keys.forms.includes('pkcs1'),
  'keys.pkcs8': (p) => p.keys.forms.includes('pkcs8'),
  'keys.sec1': (p) => p.keys.forms.includes('sec1'),
  'uploads.lf': (p) => p.uploads.lineEndings.includes('lf'),
  'uploads.crlf': (p) => p.uploads.lineEndings.includes('crlf'),
  'uploads.pemCheck': (p) => p.uploads.check === 'parse',
  wifi: (p) => p.wifi.enabled,
  'clock.settable': (p) => p.clock.settable,
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over))
    out[k] = k === 'sources' ? { ...(base[k] as object), ...(v as object) } : merge(base[k], v);
  return out;
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

const profileDir = new URL('./profiles/', import.meta.url);
const shippedCache = new Map<string, Profile>();

function readJson(path: string | URL, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError('profile', String(path), `cannot read profile ${what}: ${(cause as Error).message}`, {
      cause,
    });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ConfigError('profile', String(path), `profile ${what} is not valid JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
}

function shipped(name: ShippedProfileName): Profile {
  let p = shippedCache.get(name);
  if (!p) {
    // Shipped profiles are complete on their own: validated without a base.
    p = validate(readJson(new URL(`${name}.json`, profileDir), `"${name}"`), `"${name}"`);
    shippedCache.set(name, p);
  }
  return p;
}

function validate(input: unknown, source: string, deriveCapabilities = false): Profile {
  check({ kind: 'object', fields: schema }, input, '', source);
  const p = input as Profile;
  // Missing timing fields take the instant value (0); the block gets its name.
  p.timing = parseTiming(p.timing, 'timing', REALISTIC_BASE);
  if (deriveCapabilities) {
    // A user profile that changes knobs without listing capabilities gets them recomputed from
    // the knobs; capabilities that follow from no knob are kept from the base.
    const kept = p.capabilities.filter((c) => !derived[c]);
    const fromKnobs = (Object.entries(derived) as Array<[Capability, (p: Profile) => boolean]>).filter(([, holds]) =>
      holds(p),
    );
    p.capabilities = [...kept, ...fromKnobs.map(([c]) => c)];
  }
  if (versionRank[p.tls.minVersion] > versionRank[p.tls.maxVersion]) {
    throw new ConfigError(
      'tls.minVersion',
      p.tls.minVersion,
      `profile ${source}: tls.minVersion is above tls.maxVersion (${p.tls.maxVersion})`,
    );
  }
  for (const [cap, holds] of Object.entries(derived) as Array<[Capability, (p: Profile) => boolean]>) {
    const declared = p.capabilities.includes(cap);
    if (declared !== holds(p)) {
      throw new ConfigError(
        'capabilities',
        cap,
        `profile ${source}: capability "${cap}" is ${declared ? 'declared but its knob says otherwise' : 'not declared but its knob enables it'} (${CAPABILITIES[cap]}); fix "capabilities" or the knob`,
      );
    }
  }
  return deepFreeze(structuredClone(p));
}

function isShippedName(name: string): name is ShippedProfileName {
  return (shippedProfiles as readonly string[]).includes(name);
}

/**
 * Validate a profile object: merged over its base (`extends`, default `reference`) and checked
 * field by field. Throws `ConfigError` naming the dotted field.
 */
export function parseProfile(input: unknown, source = 'input'): Required<Profile> {
  if (!isPlainObject(input)) {
    throw new ConfigError('profile', input, `profile ${source} must be a JSON object, not ${describeType(input)}`);
  }
  const { extends: base = 'reference', ...rest } = input;
  if (typeof base !== 'string' || !isShippedName(base)) {
    throw new ConfigError(
      'extends',
      base,
      `profile ${source}: "extends" must be one of ${shippedProfiles.join(', ')}, not ${JSON.stringify(base)}`,
    );
  }
  const merged = merge(structuredClone(shipped(base)), rest) as Record<string, unknown>;
  // A profile of its own that does not rename itself would pass as the shipped one.
  if (!Object.hasOwn(rest, 'name')) merged.name = `${base}+custom`;
  return validate(merged, source, !Object.hasOwn(rest, 'capabilities'));
}

/** A shipped profile by name (`2.6.3`, `legacy`, `reference`) or a JSON profile file by path. */
export function loadProfile(nameOrPath: string): Required<Profile> {
  if (isShippedName(nameOrPath)) return shipped(nameOrPath);
  if (!/[\\/]|\.json$/i.test(nameOrPath)) {
    throw new ConfigError(
      'profile',
      nameOrPath,
      `unknown profile "${nameOrPath}": use one of ${shippedProfiles.join(', ')} or a path to a JSON profile file`,
    );
  }
  if (!existsSync(nameOrPath)) {
    throw new ConfigError(
      'profile',
      nameOrPath,
      `profile file ${nameOrPath} does not exist: give a path to a JSON profile file`,
    );
  }
  return parseProfile(readJson(nameOrPath, nameOrPath), nameOrPath);
}

/** The source tag of a profile field (or of its nearest parent), e.g. for a skip reason. */
export function sourceOf(profile: Profile, field: string): string {
  for (let f = field; f; f = f.includes('.') ? f.slice(0, f.lastIndexOf('.')) : '') {
    const s = profile.sources[f];
    if (s) return s;
  }
  return '[guess] no source recorded';
}
