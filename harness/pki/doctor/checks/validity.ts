/** Validity checks: each certificate's dates against now and against the module's clock. */
import { finding } from '../catalogue.ts';
import { cn } from '../describe.ts';
import type { CertificateCheck, Check, Finding } from '../types.ts';

const DAY_MS = 86_400_000;
const EXPIRY_WARNING_MS = 30 * DAY_MS;

export const certificateValidity: CertificateCheck = (ctx, c) => {
  const { now, clock } = ctx;
  const label = cn(c.cert.subject);
  const notBefore = new Date(c.cert.validFrom);
  const notAfter = new Date(c.cert.validTo);
  const out: Finding[] = [];
  if (now < notBefore) out.push(finding('NOT_YET_VALID', c.file, { label, notBefore, now }));
  else if (now > notAfter) out.push(finding('EXPIRED', c.file, { label, notAfter }));
  else if (notAfter.getTime() - now.getTime() < EXPIRY_WARNING_MS)
    out.push(finding('EXPIRES_SOON', c.file, { label, notAfter }));
  // Valid now but not at the module's clock: the clock is the problem.
  if (clock && now >= notBefore && now <= notAfter && (clock < notBefore || clock > notAfter))
    out.push(finding('DEVICE_CLOCK', c.file, { kind: 'outside', label, clock, notBefore, notAfter }));
  return out;
};

/** A module clock given with no certificate to check against it. */
export const clockWithoutCertificates: Check = (ctx) =>
  ctx.clock && ctx.certs.length === 0 ? [finding('DEVICE_CLOCK', undefined, { kind: 'no-certificates' })] : [];
