/**
 * What a scenario catalogue entry is, and how one is built: an entry states only how it
 * deviates from the baseline (AWS-IoT-like mutual TLS, see scenarios.ts), `entry()` fills in the
 * rest and freezes it. The catalogue itself is data (scenario-catalogue.ts).
 */
import type { HashName, KeyEncoding, KeySpec, PemLayout } from './factory.ts';

/** What the module must do in a scenario: `connect`, `refuse`, or `either` (both are secure). */
export type Expected = 'connect' | 'refuse' | 'either';
/** The group of a scenario: server certificate, client authentication, TLS parameters, device input, transport. */
export type ScenarioCategory = 'server-cert' | 'client-auth' | 'tls-params' | 'device-input' | 'transport';
export type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

/** Which server certificate the harness issues. */
export type ServerCertKind =
  | 'valid'
  | 'expired'
  | 'not-yet-valid'
  | 'wrong-host'
  | 'san-only'
  | 'cn-only'
  | 'ip-san-only'
  | 'self-signed'
  | 'untrusted-root'
  | 'fake-root'
  | 'revoked'
  | 'large-sans';

/**
 * Which certificates the server sends after its leaf.
 * - `intermediate`: leaf, then the intermediate that signed it (the normal case).
 * - `leaf-only`: the intermediate is missing (incomplete chain).
 * - `wrong-intermediate`: leaf, then an alternate intermediate of the same root that did NOT sign it.
 * - `out-of-order`: root → A → B → leaf, sent as leaf, A, B.
 */
export type ServerChain = 'intermediate' | 'leaf-only' | 'wrong-intermediate' | 'out-of-order';

/**
 * How the TLS front door behaves beyond its certificate.
 * - `normal`: handshake, then MQTT.
 * - `require-sni`: refuse a ClientHello without SNI or with an SNI other than the host.
 * - `max-size-records`: after CONNACK, publish to the device in 16 KB TLS records.
 * - `close-after-handshake`: destroy the socket right after `secureConnection`.
 * - `stall-handshake`: accept TCP, never answer the ClientHello.
 * - `plain-tcp`: plain MQTT on the TLS port (no TLS at all).
 * - `psk`: TLS-PSK with `psk` from the material, no certificates.
 */
export type ServerBehaviour =
  'normal' | 'require-sni' | 'max-size-records' | 'close-after-handshake' | 'stall-handshake' | 'plain-tcp' | 'psk';

export interface ServerSide {
  /** The certificate the server presents; null when it presents none (plain TCP, PSK). */
  presents: null | {
    cert: ServerCertKind;
    /** Key of the server leaf. */
    key: KeySpec;
    /** Hash the issuer signs the leaf with. */
    hash: HashName;
    chain: ServerChain;
  };
  /** The server asks for a client certificate and refuses the handshake without a valid one. */
  requiresClientCert: boolean;
  /** The server checks the client certificate against `clientCrl` (the material has one). */
  checksClientCrl: boolean;
  /** Node `tls` options for the front door. `ciphers` with `@SECLEVEL=0` lets Node load weak material (docs/reference/dependencies.md P12). */
  tls: { minVersion?: TlsVersion; maxVersion?: TlsVersion; ciphers?: string };
  behaviour: ServerBehaviour;
}

/**
 * What the module is given.
 * - `root`: what goes into the root slot (`AT+KCERTSTORE=0`): the scenario root, Amazon Root CA 1
 *   (the wrong root for the local rig), or a CA bundle larger than one slot.
 * - `clientCert`/`key`: the device certificate and key (`AT+KCERTSTORE=1,..,0`, `AT+KPRIVKSTORE=0`).
 * - `clientKey`: the device key's type and size.
 * - `lineEndings`: layout of every PEM the module gets.
 * - `clock`: the module's clock when it is not "now" (ISO 8601).
 * - `connectTo`: whether the session dials the host name or 127.0.0.1.
 */
export interface DeviceSide {
  root: 'scenario-root' | 'amazon-root-ca-1' | 'ca-bundle';
  clientCert: 'valid' | 'other-ca' | 'expired' | 'revoked' | 'malformed' | 'none';
  key: 'matching' | 'other-key' | 'none';
  clientKey: KeySpec;
  keyEncoding: KeyEncoding;
  lineEndings: PemLayout;
  clock?: string;
  connectTo: 'name' | 'ip';
}

/**
 * What `openssl verify` says. `result`: 'ok', an openssl error number (10 expired, 9 not yet
 * valid, 18 self-signed leaf, 20 unable to get local issuer, 23 revoked, 62 hostname mismatch,
 * 64 IP mismatch, 66 EE key too weak, 68 CA md too weak), or 'unreadable' when the file cannot
 * even be loaded. `policy`: the stricter check that shows the fault (`auth-level-2` = OpenSSL
 * security level 2, `crl-check` = with the scenario's CRL).
 */
export interface VerifyOutcome {
  result: 'ok' | 'unreadable' | number;
  policy?: 'auth-level-2' | 'crl-check';
}

/** One entry of the scenario catalogue: id, title, category, what the module must do (`expected`), and how both sides are built. */
export interface ScenarioEntry {
  id: string;
  title: string;
  category: ScenarioCategory;
  server: ServerSide;
  device: DeviceSide;
  expected: Expected;
  /** Why that outcome is the secure one, in one or two sentences. */
  reason: string;
  /** Where the scenario comes from (docs/reference/scenarios-and-anchors.md §5.5, reference tags). */
  anchors: string[];
  pki: {
    /** The module checking the server chain against its root, host name and clock. Absent: no server certificate. */
    server?: VerifyOutcome;
    /** The server checking the device certificate against its client CA. Absent: no device certificate. */
    client?: VerifyOutcome;
    /** Whether the key the module gets belongs to its certificate. Absent: no key. */
    keyMatchesCert?: boolean;
  };
}

const RSA2048: KeySpec = { type: 'rsa', bits: 2048 };

const BASE_SERVER: ServerSide = {
  presents: { cert: 'valid', key: RSA2048, hash: 'SHA-256', chain: 'intermediate' },
  requiresClientCert: true,
  checksClientCrl: false,
  tls: {},
  behaviour: 'normal',
};

const BASE_DEVICE: DeviceSide = {
  root: 'scenario-root',
  clientCert: 'valid',
  key: 'matching',
  clientKey: RSA2048,
  keyEncoding: 'pkcs1',
  lineEndings: 'lf',
  connectTo: 'name',
};

export const OK: VerifyOutcome = { result: 'ok' };

interface EntryInput {
  id: string;
  title: string;
  category: ScenarioCategory;
  server?: Partial<Omit<ServerSide, 'presents'>> & { presents?: Partial<NonNullable<ServerSide['presents']>> | null };
  device?: Partial<DeviceSide>;
  expected: Expected;
  reason: string;
  anchors: string[];
  pki?: ScenarioEntry['pki'];
}

/** A catalogue entry: the baseline with `input`'s deviations, the PKI outcomes derived unless given, frozen. */
export function entry(input: EntryInput): ScenarioEntry {
  const { presents, ...serverRest } = input.server ?? {};
  const server: ServerSide = {
    ...BASE_SERVER,
    ...serverRest,
    presents: presents === null ? null : { ...BASE_SERVER.presents!, ...presents },
    tls: { ...(serverRest.tls ?? {}) },
  };
  const device: DeviceSide = { ...BASE_DEVICE, ...input.device };
  const noClient = device.clientCert === 'none';
  const pki: ScenarioEntry['pki'] = input.pki ?? {
    server: server.presents ? OK : undefined,
    client: noClient ? undefined : OK,
    keyMatchesCert: device.key === 'none' ? undefined : device.key === 'matching',
  };
  return deepFreeze({ ...input, server, device, pki });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** PKI outcomes for a scenario whose module has a certificate and key (pass `keyMatchesCert: undefined` explicitly when there is no usable pair). */
export function pkiWith(
  server: VerifyOutcome | undefined,
  client: VerifyOutcome = OK,
  ...keyMatches: [boolean | undefined] | []
): ScenarioEntry['pki'] {
  return { server, client, keyMatchesCert: keyMatches.length ? keyMatches[0] : true };
}
