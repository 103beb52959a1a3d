/**
 * Chain checks: which root each certificate chains to, well-known public roots, the host name
 * a server certificate is for, and the root an AWS IoT endpoint needs.
 */
import { findPublicIssuer, PUBLIC_ROOTS } from '../../public-roots.ts';
import { finding } from '../catalogue.ts';
import { cn, dn, issuedBy } from '../describe.ts';
import type { CertEntry, CertificateCheck, Check, DoctorContext, Finding } from '../types.ts';

/** Issuer of AWS-generated device certificates (docs/reference/aws-iot-and-mosquitto.md T16). */
const AWS_DEVICE_CA = /OU=Amazon Web Services/;
/** Longest chain followed. */
const MAX_DEPTH = 8;

/** A well-known public root, named. */
export const publicRoot: CertificateCheck = (_ctx, c) => {
  if (!c.report.publicRoot) return [];
  const root = PUBLIC_ROOTS.find((p) => p.name === c.report.publicRoot)!;
  return [finding('PUBLIC_ROOT', c.file, { name: root.name, note: root.note, sha256: root.sha256 })];
};

/** Follow the issuers among the files up to a self-signed root, or say what is missing. */
export const chain: CertificateCheck = (ctx, c) => {
  if (c.report.selfSigned) return [];
  const label = cn(c.cert.subject);
  const all = ctx.unique;
  const path: CertEntry[] = [];
  let cur = c;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const parent = all.find((p) => p !== cur && issuedBy(cur.cert, p.cert));
    if (!parent) break;
    path.push(parent);
    if (parent.report.selfSigned) {
      const via = path.slice(0, -1).map((p) => cn(p.cert.subject));
      return [finding('CHAIN_OK', c.file, { label, root: cn(parent.cert.subject), rootFile: parent.file, via })];
    }
    cur = parent;
  }
  return [notChained(ctx, c, cur)];
};

/** `c` chains up to `top` among the files; `top`'s issuer is not among them. */
function notChained(ctx: DoctorContext, c: CertEntry, top: CertEntry): Finding {
  const label = cn(c.cert.subject);
  const missing = top.cert;
  const issuer = dn(missing.issuer);
  const roots = ctx.roots.map((r) => cn(r.cert.subject));
  const sameName = ctx.unique.find((p) => p !== top && dn(p.cert.subject) === issuer);
  if (sameName) {
    const name = cn(sameName.cert.subject);
    return finding('CHAIN_UNTRUSTED', c.file, {
      kind: 'same-name',
      label,
      file: sameName.file,
      name,
      signed: cn(missing.subject),
    });
  }
  if (c.report.role === 'client')
    return AWS_DEVICE_CA.test(issuer)
      ? finding('AWS_DEVICE_CERT', c.file, { label, issuer })
      : finding('CLIENT_CA_NOT_GIVEN', c.file, { label, issuer });
  const publicIssuer = findPublicIssuer(missing);
  if (publicIssuer)
    return roots.length
      ? finding('CHAIN_UNTRUSTED', c.file, { kind: 'public', label, publicRoot: publicIssuer.name, roots })
      : finding('CHAIN_PUBLIC', c.file, { label, publicRoot: publicIssuer.name });
  if (roots.length === 0) return finding('CHAIN_NOT_CHECKED', c.file, { label, issuer });
  const intermediate = c.report.role === 'intermediate';
  return finding('CHAIN_UNTRUSTED', c.file, {
    kind: 'issuer-missing',
    label,
    roots,
    issuer,
    issuerCn: cn(missing.issuer),
    intermediate,
  });
}

/** A server certificate (or a leaf with names) against the host the module dials. */
export const host: CertificateCheck = (ctx, c) => {
  const r = c.report;
  const h = ctx.host;
  if (!h || !(r.role === 'server' || (r.role === 'leaf' && r.subjectAltNames.length > 0))) return [];
  const label = cn(c.cert.subject);
  const ok = /^[\d.]+$|:/.test(h) ? c.cert.checkIP(h) : c.cert.checkHost(h);
  return ok
    ? [finding('HOST_OK', c.file, { label, host: h })]
    : [finding('HOST_MISMATCH', c.file, { label, host: h, names: r.subjectAltNames })];
};

/** An AWS IoT endpoint needs Amazon Root CA 1 or 3 as the root. */
export const awsRoot: Check = (ctx) => {
  const h = ctx.host;
  if (!h || !/\.amazonaws\.com$/i.test(h) || !ctx.roots.length) return [];
  const good = ctx.roots.some(
    (r) => r.report.publicRoot === 'Amazon Root CA 1' || r.report.publicRoot === 'Amazon Root CA 3',
  );
  if (good) return [];
  const roots = ctx.roots.map((r) => cn(r.cert.subject));
  return [finding('WRONG_ROOT', ctx.roots[0]!.file, { host: h, roots })];
};
