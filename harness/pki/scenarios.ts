/**
 * The certificate scenario catalogue, as DATA (docs/reference/scenarios-and-anchors.md §5.5).
 *
 * Every applicable scenario of §5.5 keeps its id (S1-S27; variants get a letter: S2b, S6b ...),
 * device-side scenarios have ids of their own (D1 ...). Each entry says what the server
 * presents and requires, what the module is given, the SECURE expected outcome (a firmware
 * that connects where the entry says `refuse` has a finding) and where the scenario comes from.
 *
 * `pki` states what a standards-following X.509 verifier (the openssl CLI) concludes on each
 * side, so the catalogue can be checked with the real tool (scenarios.test.ts) and so the
 * broker and diagnose areas know which side is meant to refuse.
 *
 * The baseline every scenario deviates from is AWS-IoT-like mutual TLS: an RSA-2048 root →
 * intermediate → server leaf with SANs for the host, a device certificate issued by the root,
 * its key as PKCS#1 ([BX-T] KPRIVKSTORE_0001 uploads `BEGIN RSA PRIVATE KEY`; AWS hands out
 * PKCS#1, docs/reference/aws-iot-and-mosquitto.md T16), PEM with LF line endings and a final newline ([BX-T]).
 */
import type { HashName, KeyEncoding, KeySpec, PemLayout } from './factory.ts';
import { UnknownScenarioError } from './errors.ts';

export type Expected = 'connect' | 'refuse' | 'either';
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

const OK: VerifyOutcome = { result: 'ok' };

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

function entry(input: EntryInput): ScenarioEntry {
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
function pkiWith(
  server: VerifyOutcome | undefined,
  client: VerifyOutcome = OK,
  ...keyMatches: [boolean | undefined] | []
): ScenarioEntry['pki'] {
  return { server, client, keyMatchesCert: keyMatches.length ? keyMatches[0] : true };
}

/** The catalogue, in id order. Frozen data: `bx-hil scenarios --json` prints it as is. */
export const scenarios: readonly ScenarioEntry[] = Object.freeze([
  entry({
    id: 'S1',
    title: 'Valid chain, correct name (RSA-2048)',
    category: 'server-cert',
    expected: 'connect',
    reason:
      'Nothing is wrong: root → intermediate → leaf with SANs for the host, a valid device certificate and key. The baseline every other scenario deviates from.',
    anchors: ['§5.5 S1', 'IDT ConnectDefault', 'DA TLS_Connect', 'badssl rsa2048'],
  }),
  entry({
    id: 'S2',
    title: 'ECDSA P-256 server certificate',
    category: 'server-cert',
    server: { presents: { key: { type: 'ec', curve: 'P-256' } } },
    expected: 'either',
    reason:
      'Connect if the firmware offers ECDHE-ECDSA suites (AWS serves ECDSA clients a chain to Amazon Root CA 3); a refusal is a capability gap, not a security fault.',
    anchors: ['§5.5 S2', 'badssl ecc256', 'FLIT EC recipe', 'docs/reference/aws-iot-and-mosquitto.md T11'],
  }),
  entry({
    id: 'S2b',
    title: 'ECDSA P-384 server certificate',
    category: 'server-cert',
    server: { presents: { key: { type: 'ec', curve: 'P-384' }, hash: 'SHA-384' } },
    expected: 'either',
    reason: 'As S2 with P-384: connect if the firmware supports the curve, otherwise fail cleanly.',
    anchors: ['§5.5 S2', 'badssl ecc384'],
  }),
  entry({
    id: 'S3',
    title: 'Expired server certificate',
    category: 'server-cert',
    server: { presents: { cert: 'expired' } },
    expected: 'refuse',
    reason: 'notAfter is 30 days in the past: a client that checks validity must refuse.',
    anchors: ['§5.5 S3', 'DA TLS_Expired_Server_Cert', 'badssl expired', 'Mosquitto server-expired'],
    pki: pkiWith({ result: 10 }),
  }),
  entry({
    id: 'S4',
    title: 'Not-yet-valid server certificate',
    category: 'server-cert',
    server: { presents: { cert: 'not-yet-valid' } },
    expected: 'refuse',
    reason: 'notBefore is 30 days in the future; refusing also shows the module has a real clock [inference].',
    anchors: ['§5.5 S4', 'x509-limbo rfc5280::validity'],
    pki: pkiWith({ result: 9 }),
  }),
  entry({
    id: 'S5',
    title: 'Wrong host name (CN and SAN for another name)',
    category: 'server-cert',
    server: { presents: { cert: 'wrong-host' } },
    expected: 'refuse',
    reason:
      'The certificate is valid but for wrong.bx-hil.invalid: a client that skips the name check is open to any man in the middle.',
    anchors: ['§5.5 S5', 'DA TLS_Incorrect_Subject_Name', 'badssl wrong.host', 'Paho 18887 MITM', 'IDT SNI test'],
    pki: pkiWith({ result: 62 }),
  }),
  entry({
    id: 'S6',
    title: 'SAN-only server certificate (no CN)',
    category: 'server-cert',
    server: { presents: { cert: 'san-only' } },
    expected: 'connect',
    reason: 'The subject has no CN; the name is in the SAN, which is where RFC 6125 says to look.',
    anchors: ['§5.5 S6', 'badssl no-common-name', 'Mosquitto 08-ssl-connect-san'],
  }),
  entry({
    id: 'S6b',
    title: 'CN-only server certificate (no SAN)',
    category: 'server-cert',
    server: { presents: { cert: 'cn-only' } },
    expected: 'either',
    reason: 'No SAN at all: modern clients reject, mbedTLS and OpenSSL fall back to the CN [inference]. Record which.',
    anchors: ['§5.5 S6', 'badssl no-san', 'BetterTLS failureIsWarning'],
  }),
  entry({
    id: 'S7',
    title: 'IP-address SAN only, module dials the host name',
    category: 'server-cert',
    server: { presents: { cert: 'ip-san-only' } },
    expected: 'refuse',
    reason:
      'The certificate names only 127.0.0.1 (CN too); the session dials the host name, so the name does not match.',
    anchors: ['§5.5 S7', 'Mosquitto 08-ssl-connect-san'],
    pki: pkiWith({ result: 62 }),
  }),
  entry({
    id: 'S7b',
    title: 'IP-address SAN, module dials 127.0.0.1',
    category: 'server-cert',
    server: { presents: { cert: 'ip-san-only' } },
    device: { connectTo: 'ip' },
    expected: 'connect',
    reason: 'The session dials 127.0.0.1 and the certificate carries IP:127.0.0.1: the name matches.',
    anchors: ['§5.5 S7', 'Mosquitto 08-ssl-connect-san (127.0.0.1)'],
  }),
  entry({
    id: 'S8',
    title: 'Self-signed server certificate',
    category: 'server-cert',
    server: { presents: { cert: 'self-signed', chain: 'leaf-only' } },
    expected: 'refuse',
    reason: 'The leaf signs itself and is not the stored root: nothing vouches for it.',
    anchors: ['§5.5 S8', 'badssl self-signed'],
    pki: pkiWith({ result: 18 }),
  }),
  entry({
    id: 'S9',
    title: 'Untrusted root (valid chain to a CA the module was not given)',
    category: 'server-cert',
    server: { presents: { cert: 'untrusted-root' } },
    expected: 'refuse',
    reason: 'The chain is complete and valid but ends at another root than the one stored in the module.',
    anchors: ['§5.5 S9', 'DA TLS_Unsecure_Server_Cert', 'badssl untrusted-root', 'IDT wrong-root test'],
    pki: pkiWith({ result: 20 }),
  }),
  entry({
    id: 'S10',
    title: 'Fake root: same DN as the stored root, different key',
    category: 'server-cert',
    server: { presents: { cert: 'fake-root', chain: 'leaf-only' } },
    expected: 'refuse',
    reason:
      'The issuer name matches the stored root but the signature was made with another key: matching by name alone is a hole.',
    anchors: ['§5.5 S10', 'Mosquitto 08-ssl-fake-cacert', 'Paho test-fake-root-ca'],
    pki: pkiWith({ result: 20 }),
  }),
  entry({
    id: 'S11',
    title: 'Wrong intermediate sent (alternate CA of the same root)',
    category: 'server-cert',
    server: { presents: { chain: 'wrong-intermediate' } },
    expected: 'refuse',
    reason: 'The intermediate sent did not sign the leaf, so no chain reaches the root (no AIA fetching on a module).',
    anchors: ['§5.5 S11', 'Mosquitto no-auth-wrong-ca', 'Mosquitto alternate intermediate'],
    pki: pkiWith({ result: 20 }),
  }),
  entry({
    id: 'S11b',
    title: 'Incomplete chain (intermediate missing)',
    category: 'server-cert',
    server: { presents: { chain: 'leaf-only' } },
    expected: 'refuse',
    reason: 'Only the leaf is sent; the module holds only the root, so the chain cannot be built.',
    anchors: ['§5.5 S11', 'badssl incomplete-chain'],
    pki: pkiWith({ result: 20 }),
  }),
  entry({
    id: 'S12',
    title: 'Chain sent out of order (two intermediates)',
    category: 'server-cert',
    server: { presents: { chain: 'out-of-order' } },
    expected: 'either',
    reason:
      'All certificates are there but not in issuing order; TLS 1.3 allows it, strict TLS 1.2 stacks may not (implementation-specific).',
    anchors: ['§5.5 S12', 'badssl reversed-chain'],
  }),
  entry({
    id: 'S13',
    title: 'Revoked server certificate (CRL available)',
    category: 'server-cert',
    server: { presents: { cert: 'revoked' } },
    expected: 'either',
    reason: 'Most embedded clients do not check revocation; record what the module does, do not fail hard [inference].',
    anchors: ['§5.5 S13', 'badssl revoked', 'Mosquitto crl'],
    pki: pkiWith({ result: 23, policy: 'crl-check' }),
  }),
  entry({
    id: 'S14',
    title: 'Weak signature: server leaf signed with SHA-1',
    category: 'server-cert',
    server: { presents: { hash: 'SHA-1' }, tls: { ciphers: 'DEFAULT:@SECLEVEL=0' } },
    expected: 'refuse',
    reason: 'SHA-1 signatures are forgeable in practice; AWS lists none (docs/reference/aws-iot-and-mosquitto.md T15).',
    anchors: ['§5.5 S14', 'badssl sha1-intermediate'],
    pki: pkiWith({ result: 68, policy: 'auth-level-2' }),
  }),
  entry({
    id: 'S14b',
    title: 'Weak key: RSA-1024 server leaf',
    category: 'server-cert',
    server: { presents: { key: { type: 'rsa', bits: 1024 } }, tls: { ciphers: 'DEFAULT:@SECLEVEL=0' } },
    expected: 'refuse',
    reason: 'RSA-1024 is below every current policy (AWS requires 2048, docs/reference/aws-iot-and-mosquitto.md T14).',
    anchors: ['§5.5 S14', 'badssl rsa1024'],
    pki: pkiWith({ result: 66, policy: 'auth-level-2' }),
  }),
  entry({
    id: 'S15',
    title: 'Large key: RSA-4096 server leaf',
    category: 'server-cert',
    server: { presents: { key: { type: 'rsa', bits: 4096 } } },
    expected: 'either',
    reason: 'Valid, but heavy for a module: connect, or fail gracefully; watch for memory exhaustion.',
    anchors: ['§5.5 S15', 'DA TLS_Large_Size_Server_Cert', 'badssl rsa4096'],
  }),
  entry({
    id: 'S15b',
    title: 'Large certificate: server leaf with 1000 SANs',
    category: 'server-cert',
    server: { presents: { cert: 'large-sans' } },
    expected: 'either',
    reason: 'A valid ~30 KB certificate: connect or fail gracefully; it must not hang or reboot the module.',
    anchors: ['§5.5 S15', 'badssl 1000-sans', 'DA TLS_Large_Size_Server_Cert'],
  }),
  entry({
    id: 'S16',
    title: 'Maximum-size TLS records (16 KB) towards the module',
    category: 'tls-params',
    server: { behaviour: 'max-size-records' },
    expected: 'connect',
    reason: 'Everything is valid; the module must receive full 16 KB records intact.',
    anchors: ['§5.5 S16', 'DA TLS_Receive_Maximum_Size_Fragments'],
  }),
  entry({
    id: 'S17',
    title: 'Server speaks only TLS 1.0-1.1',
    category: 'tls-params',
    server: { tls: { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' } },
    expected: 'refuse',
    reason:
      'TLS 1.0 and 1.1 are deprecated (RFC 8996); AWS accepts 1.2 and 1.3 only (T3). The module must not fall back.',
    anchors: ['§5.5 S17', 'badssl tls-v1-0', 'badssl tls-v1-1', 'TLS-Anvil'],
  }),
  entry({
    id: 'S17b',
    title: 'Server speaks only TLS 1.3',
    category: 'tls-params',
    server: { tls: { minVersion: 'TLSv1.3' } },
    expected: 'either',
    reason:
      'Secure either way: connect if the firmware has TLS 1.3, else fail cleanly (the BX is thought to be TLS 1.2 only [guess]).',
    anchors: ['§5.5 S17', 'DA TLS 1.3 support', 'docs/reference/bx310x-at.md §5.1'],
  }),
  entry({
    id: 'S17c',
    title: 'Server speaks only TLS 1.2',
    category: 'tls-params',
    server: { tls: { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } },
    expected: 'connect',
    reason: 'TLS 1.2 is what AWS policies and the module are expected to share (T3, T4).',
    anchors: ['§5.5 S17', 'docs/reference/aws-iot-and-mosquitto.md T3'],
  }),
  entry({
    id: 'S18',
    title: 'Weak cipher suites only (3DES)',
    category: 'tls-params',
    server: { tls: { maxVersion: 'TLSv1.2', ciphers: 'DES-CBC3-SHA:@SECLEVEL=0' } },
    expected: 'refuse',
    reason: 'The server offers only 3DES (Sweet32); the module must not agree to it.',
    anchors: ['§5.5 S18', 'badssl 3des', 'DA cipher-suites test'],
  }),
  entry({
    id: 'S18b',
    title: 'CBC-only cipher suites (no AEAD)',
    category: 'tls-params',
    server: { tls: { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-SHA:AES128-SHA' } },
    expected: 'either',
    reason:
      'Still in AWS TLS 1.2 policies (T5): connect if the module offers them, otherwise a clean handshake failure.',
    anchors: ['§5.5 S18', 'badssl cipher-suite group', 'docs/reference/aws-iot-and-mosquitto.md T5'],
  }),
  entry({
    id: 'S19',
    title: 'Server requires SNI for the host name',
    category: 'tls-params',
    server: { behaviour: 'require-sni' },
    expected: 'connect',
    reason:
      'The server refuses a ClientHello without SNI or with another name; a module that sends the host name connects.',
    anchors: ['§5.5 S19', 'DA FAQ (SNI required)', 'IDT SNI test', 'docs/reference/aws-iot-and-mosquitto.md T6-T8'],
  }),
  entry({
    id: 'S20',
    title: 'mTLS: module sends no client certificate',
    category: 'client-auth',
    device: { clientCert: 'none', key: 'none' },
    expected: 'refuse',
    reason:
      'The server requires a client certificate; without one the handshake fails and the module must say so (error URC).',
    anchors: [
      '§5.5 S20',
      'badssl client-cert-missing',
      'Paho mutual-ssl-broker-missing-client-cert',
      'Mosquitto cert-auth-without',
    ],
  }),
  entry({
    id: 'S21',
    title: 'mTLS: client certificate from another CA',
    category: 'client-auth',
    device: { clientCert: 'other-ca' },
    expected: 'refuse',
    reason:
      'The server trusts only the scenario root for devices; the module must surface the failure, not retry silently.',
    anchors: ['§5.5 S21', 'IDT UntrustedCert', 'Mosquitto no-auth-wrong-ca'],
    pki: pkiWith(OK, { result: 20 }),
  }),
  entry({
    id: 'S21b',
    title: 'mTLS: expired client certificate',
    category: 'client-auth',
    device: { clientCert: 'expired' },
    expected: 'refuse',
    reason: 'The server refuses an expired device certificate.',
    anchors: ['§5.5 S21', 'Mosquitto cert-auth-expired'],
    pki: pkiWith(OK, { result: 10 }),
  }),
  entry({
    id: 'S21c',
    title: 'mTLS: revoked client certificate (server checks its CRL)',
    category: 'client-auth',
    server: { checksClientCrl: true },
    device: { clientCert: 'revoked' },
    expected: 'refuse',
    reason: 'The server checks the CRL that lists the device certificate and refuses it.',
    anchors: ['§5.5 S21', 'Mosquitto cert-auth-revoked', 'Mosquitto crl'],
    pki: pkiWith(OK, { result: 23, policy: 'crl-check' }),
  }),
  entry({
    id: 'S22',
    title: 'Malformed client certificate uploaded',
    category: 'device-input',
    device: { clientCert: 'malformed' },
    expected: 'refuse',
    reason:
      'The PEM body is truncated: the upload should be rejected at the AT level (930/931 on HL [HL-T]) or the handshake must fail.',
    anchors: ['§5.5 S22', 'IDT ConnectMalformedCert', 'Mosquitto 08-ssl-bad-cacert'],
    pki: pkiWith(OK, { result: 'unreadable' }, undefined),
  }),
  entry({
    id: 'S23',
    title: 'Client certificate and key do not belong together',
    category: 'device-input',
    device: { key: 'other-key' },
    expected: 'refuse',
    reason: "The key is not the certificate's: CertificateVerify fails on the server (or the module rejects the pair).",
    anchors: ['§5.5 S23 [derived]'],
    pki: pkiWith(OK, OK, false),
  }),
  entry({
    id: 'S24',
    title: 'Server closes right after the handshake',
    category: 'transport',
    server: { behaviour: 'close-after-handshake' },
    expected: 'refuse',
    reason: 'No MQTT session is possible; the module must report the failure and reconnect with backoff.',
    anchors: ['§5.5 S24', 'FLIT RemoteDisconnect', 'DA unstable connection'],
  }),
  entry({
    id: 'S25',
    title: 'Server never answers the ClientHello',
    category: 'transport',
    server: { behaviour: 'stall-handshake' },
    expected: 'refuse',
    reason: 'The module must time out within its bound and report it.',
    anchors: ['§5.5 S25 [derived]'],
  }),
  entry({
    id: 'S26',
    title: 'Plain MQTT (no TLS) on the TLS port',
    category: 'transport',
    server: { presents: null, requiresClientCert: false, behaviour: 'plain-tcp' },
    expected: 'refuse',
    reason: 'A TLS session to a plain server must fail cleanly, never fall back to plain text.',
    anchors: ['§5.5 S26', 'Paho C test3-1 ssl-conn-to-non-SSL-broker'],
    pki: { server: undefined, client: OK, keyMatchesCert: true },
  }),
  entry({
    id: 'S27',
    title: 'TLS-PSK server',
    category: 'transport',
    server: { presents: null, requiresClientCert: false, behaviour: 'psk', tls: { maxVersion: 'TLSv1.2' } },
    expected: 'either',
    reason:
      'No BX source shows a PSK command (docs/reference/bx310x-at.md §5): a certificate-only module fails cleanly, a PSK-capable one connects as configured.',
    anchors: ['§5.5 S27', 'Paho 18888', 'Mosquitto 08-tls-psk'],
    pki: { server: undefined, client: OK, keyMatchesCert: true },
  }),
  entry({
    id: 'D1',
    title: 'Device key as PKCS#8 instead of PKCS#1',
    category: 'device-input',
    device: { keyEncoding: 'pkcs8' },
    expected: 'either',
    reason:
      'OpenSSL 3 writes PKCS#8 (`BEGIN PRIVATE KEY`); [BX-T] only shows PKCS#1. The module must use it or reject the upload, not accept it and fail later [guess].',
    anchors: ['[BX-T] KPRIVKSTORE_0001', 'docs/reference/aws-iot-and-mosquitto.md key-format row'],
  }),
  entry({
    id: 'D2',
    title: 'Upload with CR LF line endings',
    category: 'device-input',
    device: { lineEndings: 'crlf' },
    expected: 'either',
    reason:
      '[BX-T] and [BX-L] send LF; a forum answer suspected CR LF is expected (docs/reference/field-report-2.6.3.md). Record which the firmware takes.',
    anchors: ['docs/reference/field-report-2.6.3.md', '[BX-T] KCERTSTORE_0001', '[BX-L] setCA'],
  }),
  entry({
    id: 'D3',
    title: 'More than 3000 bytes for one slot (CA bundle in the root slot)',
    category: 'device-input',
    device: { root: 'ca-bundle' },
    expected: 'refuse',
    reason:
      'NbData is 1..3000 on the BX ([BX-T] 3001 gives +CME ERROR: 916): the upload is refused and the module has no root to trust.',
    anchors: ['[BX-T] KCERTSTORE_0001', 'docs/reference/bx310x-at.md §3.1'],
  }),
  entry({
    id: 'D4',
    title: 'Wrong root stored (Amazon Root CA 1 for a server under another root)',
    category: 'device-input',
    device: { root: 'amazon-root-ca-1' },
    expected: 'refuse',
    reason:
      'The module trusts Amazon Root CA 1 but the server chain ends at the scenario root: the classic "wrong root CA" field failure.',
    anchors: ['docs/reference/aws-iot-and-mosquitto.md wrong-root row', 'docs/reference/field-report-2.6.3.md'],
    pki: pkiWith({ result: 20 }),
  }),
  entry({
    id: 'D5',
    title: 'Module clock at 1970-01-01',
    category: 'device-input',
    device: { clock: '1970-01-01T00:00:00Z' },
    expected: 'refuse',
    reason:
      'At 1970 every certificate is not yet valid; a module that connects does not check validity at all. No BX command sets the clock (docs/reference/bx310x-at.md §8).',
    anchors: ['docs/reference/bx310x-at.md §8', 'x509-limbo rfc5280::validity', '§5.5 S4'],
    pki: pkiWith({ result: 9 }, { result: 'ok' }),
  }),
  entry({
    id: 'D6',
    title: 'Encrypted PKCS#8 device key',
    category: 'device-input',
    device: { keyEncoding: 'pkcs8-encrypted' },
    expected: 'refuse',
    reason:
      'The AT interface has no passphrase parameter: the module cannot use the key, so the upload or the handshake must fail.',
    anchors: ['docs/reference/bx310x-at.md §3.3', 'Mosquitto client-encrypted-key'],
  }),
  entry({
    id: 'D7',
    title: 'EC P-256 device key as SEC1',
    category: 'device-input',
    device: { clientKey: { type: 'ec', curve: 'P-256' }, keyEncoding: 'sec1' },
    expected: 'either',
    reason: 'AWS accepts P-256 device keys (T14); whether the BX reads `BEGIN EC PRIVATE KEY` is unknown [guess].',
    anchors: ['docs/reference/aws-iot-and-mosquitto.md T14', 'docs/reference/aws-iot-and-mosquitto.md key-format row'],
  }),
  entry({
    id: 'D8',
    title: 'PEM copied from JSON (literal \\n instead of line breaks)',
    category: 'device-input',
    device: { lineEndings: 'json-escaped' },
    expected: 'refuse',
    reason: 'No PEM reader accepts a one-line PEM with backslash-n sequences; the upload must be rejected.',
    anchors: ['PEM variants (factory pemLayout)', 'docs/reference/aws-iot-and-mosquitto.md key-format row'],
    pki: pkiWith({ result: 'unreadable' }, { result: 'unreadable' }, undefined),
  }),
  entry({
    id: 'D9',
    title: 'PEM without a final newline',
    category: 'device-input',
    device: { lineEndings: 'lf-no-final-newline' },
    expected: 'connect',
    reason:
      '[BX-L] uploads PEM with no newline after the END line and it works; the stored length counts every byte sent.',
    anchors: ['[BX-L] secure TCP-client example', 'docs/reference/bx310x-at.md §3.1'],
  }),
  entry({
    id: 'D10',
    title: 'RSA-4096 device key',
    category: 'device-input',
    device: { clientKey: { type: 'rsa', bits: 4096 } },
    expected: 'either',
    reason:
      'Valid, but may exhaust module memory (mbedTLS -0x7f00), and its PKCS#1 PEM (~3.2 KB) is over the 3000-byte slot [BX-T]: connect or fail cleanly.',
    anchors: ['docs/reference/aws-iot-and-mosquitto.md out-of-memory row'],
  }),
  entry({
    id: 'D11',
    title: 'RSA-1024 device key',
    category: 'client-auth',
    // OpenSSL security level 2 refuses RSA keys under 2048 bits in the client chain.
    server: { tls: { ciphers: 'DEFAULT:@SECLEVEL=2' } },
    device: { clientKey: { type: 'rsa', bits: 1024 } },
    expected: 'refuse',
    reason: 'The server (like AWS, T14) refuses device keys under 2048 bits.',
    anchors: ['docs/reference/aws-iot-and-mosquitto.md T14', 'docs/reference/dependencies.md §2.8 (SECLEVEL 2)'],
    pki: pkiWith(OK, { result: 66, policy: 'auth-level-2' }),
  }),
]);

const byId = new Map(scenarios.map((s) => [s.id, s]));

/** The catalogue entry with this id (case-insensitive); throws UnknownScenarioError (BXHIL_PKI_SCENARIO). */
export function getScenario(id: string): ScenarioEntry {
  const found = byId.get(id) ?? scenarios.find((s) => s.id.toLowerCase() === id.toLowerCase());
  if (!found)
    throw new UnknownScenarioError(
      id,
      scenarios.map((s) => s.id),
    );
  return found;
}

export { buildScenario } from './material.ts';
export type { BuildScenarioOptions, ScenarioFile, ScenarioMaterial } from './material.ts';
