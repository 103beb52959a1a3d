/**
 * The module's own check of the server certificate, done after the handshake with Node's check
 * turned off, so it can use the MODULE's clock (not the host's) and the profile's knobs:
 * chain to root slot 0 [BX-L: root_cert 0 is the trust anchor], host name [guess], dates
 * [guess], weak signatures and key sizes [guess]. Returns a stable reason for the evidence.
 */
import type { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

export interface VerifyOptions {
  /** Certificates the server sent, leaf first. */
  presented: X509Certificate[];
  /** Root slot 0, or undefined when nothing is stored. */
  root: X509Certificate | undefined;
  /** The configured host name (not the address it was resolved to). */
  host: string;
  /** The module clock's time. */
  now: Date;
  checks: { chain: boolean; name: boolean; dates: boolean };
  allowWeakCrypto: boolean;
  maxRsaBits: number;
}

export type VerifyResult = { ok: true } | { ok: false; reason: string; message: string };

const MAX_DEPTH = 8;

// DER encodings of weak signature algorithm OIDs (the OID TLV, tag 06).
const WEAK_SIGNATURE_OIDS: Array<[string, Buffer]> = [
  ['md5WithRSAEncryption', Buffer.from('06092a864886f70d010104', 'hex')],
  ['sha1WithRSAEncryption', Buffer.from('06092a864886f70d010105', 'hex')],
  ['ecdsa-with-SHA1', Buffer.from('06072a8648ce3d0401', 'hex')],
];

export function weakSignature(cert: X509Certificate): string | undefined {
  for (const [name, oid] of WEAK_SIGNATURE_OIDS) if (cert.raw.includes(oid)) return name;
  return undefined;
}

export function rsaBits(cert: X509Certificate): number | undefined {
  const details = cert.publicKey.asymmetricKeyDetails;
  return cert.publicKey.asymmetricKeyType === 'rsa' ? details?.modulusLength : undefined;
}

const fail = (reason: string, message: string): VerifyResult => ({ ok: false, reason, message });

function subjectOf(c: X509Certificate): string {
  return c.subject.replace(/\n/g, ', ');
}

/** Find the path from the leaf to the stored root; undefined when there is none. */
function buildPath(
  leaf: X509Certificate,
  intermediates: X509Certificate[],
  root: X509Certificate,
): X509Certificate[] | undefined {
  const path = [leaf];
  let cur = leaf;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    if (cur.fingerprint256 === root.fingerprint256) return path;
    if (cur.checkIssued(root) && cur.verify(root.publicKey)) return [...path, root];
    const next = intermediates.find((c) => !path.includes(c) && cur.checkIssued(c) && cur.verify(c.publicKey));
    if (!next) return undefined;
    path.push(next);
    cur = next;
  }
  return undefined;
}

export function verifyServer(o: VerifyOptions): VerifyResult {
  const [leaf, ...rest] = o.presented;
  if (!leaf) return fail('NO_CERTIFICATE', 'the server sent no certificate');
  const leafBits = rsaBits(leaf);
  if (leafBits !== undefined && leafBits > o.maxRsaBits) {
    return fail(
      'KEY_TOO_LARGE',
      `the server key is RSA-${leafBits}; this firmware handles at most RSA-${o.maxRsaBits}`,
    );
  }
  let path = [leaf, ...rest];
  if (o.checks.chain) {
    if (!o.root) return fail('NO_ROOT_CA', 'no root certificate is stored in slot 0 (AT+KCERTSTORE=0)');
    const found = buildPath(leaf, rest, o.root);
    if (!found) {
      const selfSigned = leaf.checkIssued(leaf);
      return fail(
        selfSigned ? 'SELF_SIGNED' : 'CERT_UNTRUSTED',
        `the server certificate (${subjectOf(leaf)}, issued by ${leaf.issuer.replace(/\n/g, ', ')}) does not chain to the stored root (${subjectOf(o.root)})`,
      );
    }
    path = found;
  }
  if (!o.allowWeakCrypto) {
    for (const c of path) {
      if (o.root && c.fingerprint256 === o.root.fingerprint256) continue; // a root's own signature is not checked
      const weak = weakSignature(c);
      if (weak) return fail('WEAK_SIGNATURE', `${subjectOf(c)} is signed with ${weak}, which this firmware refuses`);
      const bits = rsaBits(c);
      if (bits !== undefined && bits < 2048)
        return fail('KEY_TOO_SMALL', `${subjectOf(c)} has an RSA-${bits} key; at least RSA-2048 is required`);
    }
  }
  if (o.checks.dates) {
    const now = o.now.getTime();
    for (const c of path) {
      if (now < new Date(c.validFrom).getTime()) {
        return fail(
          'CERT_NOT_YET_VALID',
          `${subjectOf(c)} is not valid before ${c.validFrom}; the module clock says ${o.now.toISOString()}`,
        );
      }
      if (now > new Date(c.validTo).getTime()) {
        return fail(
          'CERT_EXPIRED',
          `${subjectOf(c)} expired on ${c.validTo}; the module clock says ${o.now.toISOString()}`,
        );
      }
    }
  }
  if (o.checks.name) {
    const matched = isIP(o.host) ? leaf.checkIP(o.host) : leaf.checkHost(o.host);
    if (matched === undefined) {
      return fail(
        'NAME_MISMATCH',
        `the server certificate (${subjectOf(leaf)}; SAN ${leaf.subjectAltName ?? 'none'}) is not for ${o.host}`,
      );
    }
  }
  return { ok: true };
}
