/**
 * `runDoctor`: what each certificate, key and AT file is, and what is wrong with them, in plain
 * words, before anything is uploaded. Used by `bx-hil doctor` (text or --json).
 *
 * Loading (load.ts) reads the files and the AT file; describing (describe.ts) reports each
 * certificate and key; then each family of checks (checks/*.ts) reads that context and states
 * its findings from the catalogue (catalogue.ts), which holds every code's severity, message
 * and fix. Key material is never printed: keys are described by type, size and the SHA-256 of
 * their public key.
 * Exit code: 2 when an input cannot be used, else 1 when a finding is an error, else 0.
 */
import { loadConstraints } from '../constraints.ts';
import { DEFAULT_MAX_FILE_BYTES, type DoctorInput } from '../inspect.ts';
import { atDataChecks, atFileChecks } from './checks/at-file.ts';
import { awsRoot, chain, host, publicRoot } from './checks/chain.ts';
import { certificateStrength, keyChecks } from './checks/keys.ts';
import { layoutChecks } from './checks/layout.ts';
import { certificateValidity, clockWithoutCertificates } from './checks/validity.ts';
import { describe } from './describe.ts';
import { load } from './load.ts';
import type {
  CertificateCheck,
  Check,
  DoctorContext,
  DoctorOptions,
  DoctorResult,
  FileReport,
  Severity,
} from './types.ts';

export type { DoctorInput } from '../inspect.ts';
export type { CertReport, DoctorOptions, DoctorResult, FileReport, Finding, KeyReport, Severity } from './types.ts';
export type { FindingCode } from './catalogue.ts';

/** Run the certificate checks for each certificate in turn (its findings stay together). */
function eachCertificate(...checks: CertificateCheck[]): Check {
  return (ctx) => ctx.unique.flatMap((c) => checks.flatMap((check) => check(ctx, c)));
}

/** The checks, in the order their findings are listed within a severity. */
export const CHECKS: readonly Check[] = [
  atDataChecks,
  keyChecks,
  layoutChecks,
  eachCertificate(publicRoot, certificateValidity, certificateStrength, chain, host),
  awsRoot,
  clockWithoutCertificates,
  atFileChecks,
];

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** Run every check on the given files. Never throws for bad input: unusable files are reported (exit code 2). */
export async function runDoctor(inputs: DoctorInput[], options: DoctorOptions = {}): Promise<DoctorResult> {
  const constraints =
    typeof options.profile === 'object' ? options.profile : loadConstraints(options.profile ?? '2.6.3');
  const now = options.now ?? new Date();
  const loadOptions = { maxFileBytes: options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, passphrase: options.passphrase };
  const input = await load(inputs, options, loadOptions);
  const described = describe(input.loaded);

  // Reports keep the order of the inputs (inline uploads after them), the AT file last.
  const files = input.slots.map((s) => ('usable' in s ? s : described.reports[input.loaded.indexOf(s)]!));
  if (input.atReport) files.push(input.atReport);

  const ctx: DoctorContext = {
    constraints,
    now,
    clock: options.clock,
    host: input.host,
    loaded: input.loaded,
    certs: described.certs,
    unique: described.unique,
    roots: described.unique.filter((c) => c.report.selfSigned),
    keys: described.keys,
    at: input.at,
    unreadableAtData: input.unreadableAtData,
  };
  const findings = CHECKS.flatMap((check) => check(ctx));
  findings.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
  const unusable = files.some((f: FileReport) => !f.usable);
  return {
    files,
    findings,
    exitCode: unusable ? 2 : findings.some((f) => f.severity === 'error') ? 1 : 0,
    profile: constraints.name,
    host: input.host,
    hostSource: input.hostSource,
    clock: options.clock?.toISOString(),
  };
}
