/** Layout checks: how each file is written (PEM, line endings), its size, and bundles. */
import type { LoadedFile } from '../../inspect.ts';
import { finding } from '../catalogue.ts';
import type { Check, DoctorContext, Finding } from '../types.ts';

/** The encoding and line endings the module takes; one finding at most. */
function encoding(ctx: DoctorContext, f: LoadedFile): Finding | undefined {
  const c = ctx.constraints;
  const file = f.file;
  const limit = { profile: c.name, source: c.sources.lineEndings ?? 'profile' };
  if (f.format === 'pem-json-escaped') return finding('PEM_JSON_ESCAPED', file, {});
  if (f.format === 'der') return finding('PEM_REQUIRED', file, { file, isKey: f.keys.length > 0 });
  if (f.lineEndings === 'mixed') return finding('LINE_ENDINGS', file, { kind: 'mixed', file });
  if (f.lineEndings === 'crlf' && !c.lineEndings.includes('crlf'))
    return finding('LINE_ENDINGS', file, { kind: 'crlf', file, accepted: c.lineEndings, ...limit });
  if (f.lineEndings === 'lf' && !c.lineEndings.includes('lf'))
    return finding('LINE_ENDINGS', file, { kind: 'lf', file, ...limit });
  return undefined;
}

function size(ctx: DoctorContext, f: LoadedFile): Finding | undefined {
  const c = ctx.constraints;
  if (f.bytes <= c.slotMaxBytes || (!f.certs.length && !f.keys.length)) return undefined;
  return finding('SLOT_TOO_LARGE', f.file, {
    kind: 'file',
    bytes: f.bytes,
    max: c.slotMaxBytes,
    source: c.sources.slotMaxBytes ?? 'profile',
    certificates: f.certs.length,
  });
}

function bundle(f: LoadedFile): Finding | undefined {
  if (f.certs.length <= 1) return undefined;
  return finding('CHAIN_IN_FILE', f.file, { certificates: f.certs.length, firstIsCa: f.certs[0]!.cert.ca });
}

export const layoutChecks: Check = (ctx) =>
  ctx.loaded.flatMap((f) => [encoding(ctx, f), size(ctx, f), bundle(f)].filter((x) => x !== undefined));
