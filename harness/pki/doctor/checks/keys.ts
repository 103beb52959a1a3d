/**
 * Key checks: each private key against the certificates given and the firmware profile, and
 * the strength of each certificate's key.
 */
import { describeKeyObject } from '../../inspect.ts';
import { finding } from '../catalogue.ts';
import { cn } from '../describe.ts';
import type { CertificateCheck, Check, DoctorContext, Finding, KeyEntry } from '../types.ts';

/** Whose key it is: a device key pairs with its certificate, a CA key is a warning. */
function pairing(ctx: DoctorContext, k: KeyEntry): Finding {
  const file = k.file.file;
  const match = k.match;
  if (match?.cert.ca) return finding('CA_KEY', file, { ca: cn(match.cert.subject), certFile: match.file });
  if (match) return finding('KEY_CERT_MATCH', file, { subject: cn(match.cert.subject), certFile: match.file });
  const leaves = ctx.certs.filter((c) => !c.cert.ca && !c.report.publicRoot);
  if (leaves.length)
    return finding('KEY_CERT_MISMATCH', file, {
      key: k.report.key,
      publicKeySha256: k.report.publicKeySha256,
      leaves: leaves.map((l) => cn(l.cert.subject)),
    });
  return finding('KEY_NO_CERT', file, { key: k.report.key });
}

/** Can the module's firmware use the key: encoding, type, size. */
function forProfile(ctx: DoctorContext, k: KeyEntry): Finding[] {
  const c = ctx.constraints;
  const file = k.file.file;
  const { encoding } = k.key;
  const key = describeKeyObject(k.key.publicKey);
  const source = c.sources.keyEncodings ?? 'profile';
  const out: Finding[] = [];
  if (encoding.endsWith('-encrypted')) {
    out.push(finding('KEY_ENCRYPTED', file, { file }));
  } else if (!c.keyEncodings.includes(encoding as never)) {
    const accepted = c.keyEncodings.filter((e) => !e.endsWith('encrypted'));
    out.push(finding('KEY_FORMAT', file, { file, encoding, keyType: key.type, accepted, profile: c.name, source }));
  }
  if (!encoding.endsWith('-encrypted') && encoding !== 'pkcs1' && c.keyEncodings.includes(encoding as never)) {
    out.push(finding('KEY_FORMAT_UNVERIFIED', file, { file, encoding, profile: c.name, source }));
  }
  if (key.type === 'RSA' && (key.bits ?? 0) > c.maxRsaBits) {
    const limit = { profile: c.name, max: c.maxRsaBits, source: c.sources.maxRsaBits ?? 'profile' };
    out.push(finding('KEY_TOO_LARGE', file, { kind: 'key', bits: key.bits, ...limit }));
  }
  if (key.type === 'EC' && !c.ecCurves.includes(key.curve as never)) {
    const curves = { curve: key.curve, curves: c.ecCurves, profile: c.name, source: c.sources.ecCurves ?? 'profile' };
    out.push(finding('KEY_TYPE', file, { kind: 'curve', ...curves }));
  }
  if (key.type !== 'RSA' && key.type !== 'EC') out.push(finding('KEY_TYPE', file, { kind: 'type', type: key.type }));
  return out;
}

/** Each private key: whose it is, then whether the profile can use it. */
export const keyChecks: Check = (ctx) => ctx.keys.flatMap((k) => [pairing(ctx, k), ...forProfile(ctx, k)]);

/** A certificate's signature and key: weak ones, and a key too large for the module to verify. */
export const certificateStrength: CertificateCheck = (ctx, c) => {
  const r = c.report;
  const label = cn(c.cert.subject);
  const out: Finding[] = [];
  if (!r.selfSigned && /^sha1|MD5|md5/i.test(r.signatureAlgorithm.replace('ecdsa-with-', '')))
    out.push(finding('WEAK_SIGNATURE', c.file, { label, algorithm: r.signatureAlgorithm }));
  const k = describeKeyObject(c.cert.publicKey);
  if (k.type === 'RSA' && (k.bits ?? 0) < 2048) out.push(finding('WEAK_KEY', c.file, { label, bits: k.bits }));
  if (!c.keyMatched && !r.isCa && k.type === 'RSA' && (k.bits ?? 0) > ctx.constraints.maxRsaBits) {
    const limit = { profile: ctx.constraints.name, max: ctx.constraints.maxRsaBits };
    out.push(finding('KEY_TOO_LARGE', c.file, { kind: 'certificate', label, bits: k.bits, ...limit }));
  }
  return out;
};
