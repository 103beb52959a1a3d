/**
 * Certificate factory: keys and X.509 certificates generated at run time with @peculiar/x509
 * on Node's WebCrypto, key encodings by Node itself (docs/reference/dependencies.md §2.5). Nothing here is
 * ever checked in; validity is relative to a clock so nothing in CI expires.
 *
 * Why not selfsigned: it cannot sign across key types (an EC leaf under an RSA CA) and
 * defaults to SHA-1 (docs/reference/dependencies.md P6).
 */
import 'reflect-metadata'; // @peculiar/x509 v2 needs it before import (docs/reference/dependencies.md P5)
import * as x509 from '@peculiar/x509';
import {
  X509Certificate,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  webcrypto,
  type KeyObject,
} from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const generateKeyPairAsync = promisify(generateKeyPair);

/** RSA key sizes the factory makes. */
export type RsaBits = 1024 | 2048 | 3072 | 4096;
/** EC curves the factory makes. */
export type EcCurve = 'P-256' | 'P-384' | 'P-521';
/** A key to generate: RSA with its size, or EC with its curve. */
export type KeySpec = { type: 'rsa'; bits: RsaBits } | { type: 'ec'; curve: EcCurve };
/** Signature hash of an issued certificate. */
export type HashName = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';
/** How a private key is written as PEM: PKCS#1, PKCS#8, SEC1, or encrypted PKCS#8. */
export type KeyEncoding = 'pkcs1' | 'pkcs8' | 'sec1' | 'pkcs8-encrypted';

/** A generated key pair: Node's `KeyObject`s and the spec they were made for. */
export interface KeyPair {
  readonly spec: KeySpec;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** A certificate and the key it was issued for. */
export interface Issued {
  /** Subject DN as given, e.g. `CN=bx-hil Root CA,O=bx-hil`. */
  readonly subject: string;
  readonly certPem: string;
  readonly certDer: Buffer;
  readonly cert: X509Certificate;
  readonly key: KeyPair;
  /** The private key as PKCS#8 PEM (LF line endings). Secret: never log it. */
  readonly keyPem: string;
  /** The issuer's Issued, or undefined when self-signed. */
  readonly issuer?: Issued;
}

/** What `issueCertificate` makes: subject, issuer, key, validity, names, extensions. */
export interface CertificateOptions {
  /** A DN (`CN=x,O=y`) or a bare common name. */
  subject: string;
  key: KeyPair;
  /** Signing CA; omit for a self-signed certificate. */
  issuer?: Issued;
  /** Reference time for relative validity. Default: now. */
  now?: Date;
  /** Default: `now` minus 1 hour (tolerates small clock skew between peers). */
  notBefore?: Date;
  /** Default: `now` plus 30 days. */
  notAfter?: Date;
  /** Signature hash. Default 'SHA-256'. */
  hash?: HashName;
  /** A CA certificate (basicConstraints CA:TRUE, keyCertSign). Default false. */
  isCa?: boolean;
  /** Path length constraint for a CA. Default: none. */
  pathLength?: number;
  /** Subject alternative names. Entries that are IP addresses become IP SANs. */
  altNames?: string[];
  /** Extended key usages. Default: none for CAs, otherwise none (callers say what they mean). */
  extendedKeyUsage?: Array<'serverAuth' | 'clientAuth'>;
  /** Hex serial number. Default: random. */
  serialNumber?: string;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** A key spec in words: `RSA-2048`, `EC P-256`. */
export function describeKeySpec(spec: KeySpec): string {
  return spec.type === 'rsa' ? `RSA-${spec.bits}` : `EC ${spec.curve}`;
}

/** Generate a fresh key pair (slow for large RSA keys: use a KeyPool where a fresh key is not needed). */
export async function generateKey(spec: KeySpec): Promise<KeyPair> {
  const { privateKey, publicKey } =
    spec.type === 'rsa'
      ? await generateKeyPairAsync('rsa', { modulusLength: spec.bits, publicExponent: 0x10001 })
      : await generateKeyPairAsync('ec', { namedCurve: spec.curve });
  return { spec, privateKey, publicKey };
}

/**
 * Generates each kind of key once and hands out the same key to every caller asking for the
 * same (spec, label): key generation is the slow part of building a scenario catalogue.
 */
export class KeyPool {
  readonly #keys = new Map<string, Promise<KeyPair>>();

  get(spec: KeySpec, label = 'default'): Promise<KeyPair> {
    const id = `${describeKeySpec(spec)}/${label}`;
    let key = this.#keys.get(id);
    if (!key) {
      key = generateKey(spec);
      this.#keys.set(id, key);
    }
    return key;
  }

  get size(): number {
    return this.#keys.size;
  }
}

function signingAlgorithm(spec: KeySpec, hash: HashName): { name: string; hash: string; namedCurve?: string } {
  return spec.type === 'rsa' ? { name: 'RSASSA-PKCS1-v1_5', hash } : { name: 'ECDSA', hash, namedCurve: spec.curve };
}

/** WebCrypto imports per key and use: importing an RSA key is a large share of the cost of signing. */
const cryptoKeys = new WeakMap<KeyPair, Map<string, Promise<CryptoKey>>>();
/** Key identifier (SHA-1 of the public key, RFC 5280 §4.2.1.2 method 1) per key, hex. */
const keyIds = new WeakMap<KeyPair, Promise<string>>();
/** PKCS#8 PEM per key. */
const pkcs8Pems = new WeakMap<KeyPair, string>();

function toCryptoKey(key: KeyPair, hash: HashName, which: 'private' | 'public'): Promise<CryptoKey> {
  let perKey = cryptoKeys.get(key);
  if (!perKey) cryptoKeys.set(key, (perKey = new Map()));
  const id = `${which}/${hash}`;
  let imported = perKey.get(id);
  if (!imported) {
    imported = importCryptoKey(key, hash, which);
    perKey.set(id, imported);
  }
  return imported;
}

async function importCryptoKey(key: KeyPair, hash: HashName, which: 'private' | 'public'): Promise<CryptoKey> {
  const alg =
    key.spec.type === 'rsa' ? { name: 'RSASSA-PKCS1-v1_5', hash } : { name: 'ECDSA', namedCurve: key.spec.curve };
  const subtle = webcrypto.subtle;
  if (which === 'private') {
    const der = key.privateKey.export({ type: 'pkcs8', format: 'der' });
    return (await subtle.importKey('pkcs8', der, alg, true, ['sign'])) as unknown as CryptoKey;
  }
  const der = key.publicKey.export({ type: 'spki', format: 'der' });
  return (await subtle.importKey('spki', der, alg, true, ['verify'])) as unknown as CryptoKey;
}

function keyIdOf(key: KeyPair): Promise<string> {
  let id = keyIds.get(key);
  if (!id) {
    id = toCryptoKey(key, 'SHA-256', 'public').then(
      async (pub) => (await x509.SubjectKeyIdentifierExtension.create(pub)).keyId,
    );
    keyIds.set(key, id);
  }
  return id;
}

function pkcs8Pem(key: KeyPair): string {
  let pem = pkcs8Pems.get(key);
  if (!pem) pkcs8Pems.set(key, (pem = encodeKey(key, 'pkcs8')));
  return pem;
}

function toDn(subject: string): string {
  return subject.includes('=') ? subject : `CN=${subject}`;
}

/** Issue a certificate for `options.key`, signed by `options.issuer` (or self-signed). */
export async function issueCertificate(options: CertificateOptions): Promise<Issued> {
  const now = options.now ?? new Date();
  const hash = options.hash ?? 'SHA-256';
  const signer = options.issuer?.key ?? options.key;
  const extensions: x509.Extension[] = [];
  if (options.isCa) {
    extensions.push(new x509.BasicConstraintsExtension(true, options.pathLength, true));
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true));
  } else {
    extensions.push(new x509.BasicConstraintsExtension(false, undefined, false));
    const usage =
      options.key.spec.type === 'rsa'
        ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
        : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement;
    extensions.push(new x509.KeyUsagesExtension(usage, true));
  }
  if (options.altNames?.length) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        options.altNames.map((value) => ({ type: isIP(value) ? ('ip' as const) : ('dns' as const), value })),
      ),
    );
  }
  if (options.extendedKeyUsage?.length) {
    extensions.push(
      new x509.ExtendedKeyUsageExtension(
        options.extendedKeyUsage.map((u) =>
          u === 'serverAuth' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
        ),
      ),
    );
  }
  const publicKey = await toCryptoKey(options.key, hash, 'public');
  extensions.push(new x509.SubjectKeyIdentifierExtension(await keyIdOf(options.key)));
  if (options.issuer) extensions.push(new x509.AuthorityKeyIdentifierExtension(await keyIdOf(options.issuer.key)));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: options.serialNumber ?? randomSerial(),
    subject: toDn(options.subject),
    issuer: options.issuer ? toDn(options.issuer.subject) : toDn(options.subject),
    notBefore: options.notBefore ?? new Date(now.getTime() - HOUR_MS),
    notAfter: options.notAfter ?? new Date(now.getTime() + 30 * DAY_MS),
    signingAlgorithm: signingAlgorithm(signer.spec, hash),
    publicKey,
    signingKey: await toCryptoKey(signer, hash, 'private'),
    extensions,
  });
  const certDer = Buffer.from(cert.rawData);
  const certPem = cert.toString('pem').replace(/\r\n/g, '\n') + '\n';
  return {
    subject: options.subject,
    certPem,
    certDer,
    cert: new X509Certificate(certDer),
    key: options.key,
    keyPem: pkcs8Pem(options.key),
    issuer: options.issuer,
  };
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive and non-zero leading byte (RFC 5280 §4.1.2.2)
  return Buffer.from(bytes).toString('hex');
}

/**
 * Encode a private key. 'pkcs1' is RSA only (`BEGIN RSA PRIVATE KEY`), 'sec1' is EC only
 * (`BEGIN EC PRIVATE KEY`), 'pkcs8' works for both (`BEGIN PRIVATE KEY`), 'pkcs8-encrypted'
 * needs a passphrase (`BEGIN ENCRYPTED PRIVATE KEY`, AES-256-CBC).
 */
export function encodeKey(key: KeyPair, encoding: KeyEncoding, passphrase?: string): string {
  switch (encoding) {
    case 'pkcs1':
      if (key.spec.type !== 'rsa') throw new TypeError('pkcs1 encoding is for RSA keys only');
      return key.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
    case 'sec1':
      if (key.spec.type !== 'ec') throw new TypeError('sec1 encoding is for EC keys only');
      return key.privateKey.export({ type: 'sec1', format: 'pem' }) as string;
    case 'pkcs8':
      return key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    case 'pkcs8-encrypted':
      if (!passphrase) throw new TypeError('pkcs8-encrypted encoding needs a passphrase');
      return key.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
  }
}

/** Read a private key from PEM (any encoding Node knows) back into a KeyPair. */
export function keyPairFromPem(pem: string, passphrase?: string): KeyPair {
  const privateKey = createPrivateKey({ key: pem, passphrase });
  const publicKey = createPublicKey(privateKey);
  const details = privateKey.asymmetricKeyDetails ?? {};
  const spec: KeySpec =
    privateKey.asymmetricKeyType === 'rsa'
      ? { type: 'rsa', bits: (details.modulusLength ?? 2048) as RsaBits }
      : {
          type: 'ec',
          curve:
            ({ prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' } as Record<string, EcCurve>)[
              details.namedCurve ?? ''
            ] ?? 'P-256',
        };
  return { spec, privateKey, publicKey };
}

/** A CA with a server certificate (for the given names) and a client certificate: what a default rig and a module need for mutual TLS. */
export interface BasicPki {
  ca: Issued;
  server: Issued;
  client: Issued;
}

/**
 * A valid CA, server and client set: the common case for rigs and tests.
 * Server SANs default to `localhost` and `127.0.0.1`.
 */
export async function createBasicPki(
  options: { pool?: KeyPool; serverNames?: string[]; clientCn?: string; keySpec?: KeySpec; now?: Date } = {},
): Promise<BasicPki> {
  const pool = options.pool ?? new KeyPool();
  const spec = options.keySpec ?? { type: 'ec', curve: 'P-256' };
  const now = options.now;
  const ca = await issueCertificate({
    subject: 'CN=bx-hil Test Root CA,O=bx-hil',
    key: await pool.get(spec, 'ca'),
    isCa: true,
    now,
  });
  const server = await issueCertificate({
    subject: `CN=${options.serverNames?.[0] ?? 'localhost'}`,
    key: await pool.get(spec, 'server'),
    issuer: ca,
    altNames: options.serverNames ?? ['localhost', '127.0.0.1'],
    extendedKeyUsage: ['serverAuth'],
    now,
  });
  const client = await issueCertificate({
    subject: `CN=${options.clientCn ?? 'bx-hil-device'}`,
    key: await pool.get(spec, 'client'),
    issuer: ca,
    extendedKeyUsage: ['clientAuth'],
    now,
  });
  return { ca, server, client };
}

/** A certificate revocation list and the certificates it lists. */
export interface IssuedCrl {
  readonly pem: string;
  readonly der: Buffer;
  /** Hex serial numbers listed as revoked. */
  readonly revokedSerials: string[];
}

/**
 * Issue a CRL signed by `issuer` that lists `revoked` (RFC 5280 §5). thisUpdate is `now` minus
 * 1 hour, nextUpdate `now` plus 7 days, so `openssl verify -crl_check` accepts the CRL itself.
 */
export async function issueCrl(options: {
  issuer: Issued;
  revoked: Issued[];
  now?: Date;
  hash?: HashName;
}): Promise<IssuedCrl> {
  const now = options.now ?? new Date();
  const hash = options.hash ?? 'SHA-256';
  const revokedSerials = options.revoked.map((c) => c.cert.serialNumber.toLowerCase());
  const crl = await x509.X509CrlGenerator.create({
    issuer: toDn(options.issuer.subject),
    thisUpdate: new Date(now.getTime() - HOUR_MS),
    nextUpdate: new Date(now.getTime() + 7 * DAY_MS),
    signingAlgorithm: signingAlgorithm(options.issuer.key.spec, hash),
    signingKey: await toCryptoKey(options.issuer.key, hash, 'private'),
    entries: revokedSerials.map((serialNumber) => ({
      serialNumber,
      revocationDate: new Date(now.getTime() - HOUR_MS),
      reason: x509.X509CrlReason.keyCompromise,
    })),
    extensions: [new x509.AuthorityKeyIdentifierExtension(await keyIdOf(options.issuer.key))],
  });
  const der = Buffer.from(crl.rawData);
  // RFC 7468 §5 label `X509 CRL`: @peculiar/x509 writes `CRL`, which OpenSSL and Node refuse.
  const body = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return { pem: `-----BEGIN X509 CRL-----\n${body}\n-----END X509 CRL-----\n`, der, revokedSerials };
}

/**
 * How a PEM text is laid out on its way to the module (the PEM variants a device may be given).
 * - `lf`: LF line endings with a final newline (what [BX-T] sends).
 * - `crlf`: CR LF line endings with a final CR LF.
 * - `lf-no-final-newline`: LF, nothing after the last `-----END ...-----` ([BX-L] examples).
 * - `json-escaped`: one line with literal backslash-n sequences, as copied out of a JSON
 *   credentials file; no PEM reader accepts it.
 */
export type PemLayout = 'lf' | 'crlf' | 'lf-no-final-newline' | 'json-escaped';

/** Re-lay a PEM text (one or several blocks) in the given layout. */
export function pemLayout(pem: string, layout: PemLayout): string {
  const lf = pem.replace(/\r\n/g, '\n').replace(/\n+$/, '') + '\n';
  switch (layout) {
    case 'lf':
      return lf;
    case 'crlf':
      return lf.replace(/\n/g, '\r\n');
    case 'lf-no-final-newline':
      return lf.slice(0, -1);
    case 'json-escaped':
      return lf.replace(/\n/g, '\\n') + '\n';
  }
}

/** Concatenate certificates into one PEM chain, in the order given. */
export function pemChain(certs: ReadonlyArray<Issued>): string {
  return certs.map((c) => c.certPem).join('');
}
