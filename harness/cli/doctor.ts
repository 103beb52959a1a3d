/**
 * `bx-hil doctor <files...> [--host <name>] [--profile <firmware>] [--at <file>] [--clock <iso-date>]
 * [--passphrase-env VAR] [--json]`: what each certificate, key and AT file is and what is wrong
 * with it, before anything is uploaded (harness/pki/doctor.ts does the work).
 *
 * Exit codes: 0 clean (notes and warnings only), 1 a finding is an error, 2 an input or an
 * option cannot be used (one line per problem, no stack trace). Key material is never printed.
 */
import type { Command } from 'commander';
import { HarnessError } from '../errors.ts';
import { oneLine, writeErr, writeOut } from './console.ts';
import { runDoctor, type DoctorResult, type FileReport, type Finding } from '../pki/index.ts';

/** Where a command writes and how it ends; injectable so tests need no process. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  exit(code: number): void;
}

/** Through the console sink (console.ts): file contents never drive the terminal. */
export const processIo: CliIo = {
  out: (t) => writeOut(t),
  err: (t) => writeErr(t),
  exit: (code) => {
    process.exitCode = code;
  },
};

interface DoctorFlags {
  host?: string;
  profile: string;
  at?: string;
  clock?: string;
  json?: boolean;
  passphraseEnv?: string;
}

export function register(program: Command, io: CliIo = processIo): void {
  program
    .command('doctor')
    .description('Check certificates, keys and an AT command file before uploading them to a module')
    .argument(
      '[files...]',
      'PEM or DER certificates and keys, - for standard input (optional with --at: its inline data is checked too)',
    )
    .option('--host <name>', 'host name or IP the module dials (default: the KMQTTCFG server in --at)')
    .option(
      '--profile <firmware>',
      'firmware profile: 2.6.3, legacy, reference, or a JSON profile file with "constraints"',
      '2.6.3',
    )
    .option('--at <file>', 'file of AT commands to check (upload.at format or a plain list)')
    .option('--clock <iso-date>', "the module's clock, e.g. 1970-01-01T00:00:00Z")
    .option('--passphrase-env <VAR>', 'environment variable holding the passphrase of an encrypted key')
    .option('--json', 'print the result as JSON')
    .action(async (files: string[], flags: DoctorFlags) => {
      io.exit(await doctorCommand(files, flags, io));
    });
}

/** The command body; resolves with the exit code. */
export async function doctorCommand(files: string[], flags: DoctorFlags, io: CliIo): Promise<number> {
  if (files.length === 0 && flags.at === undefined) {
    io.err('bx-hil doctor: give certificate/key files, an AT file with --at, or both\n');
    return 2;
  }
  if ([...files, flags.at].filter((f) => f === '-').length > 1) {
    io.err('bx-hil doctor: "-" (standard input) can be given once; save the other input to a file\n');
    return 2;
  }
  let clock: Date | undefined;
  if (flags.clock !== undefined) {
    clock = new Date(flags.clock);
    if (Number.isNaN(clock.getTime())) {
      io.err(`bx-hil doctor: --clock "${flags.clock}" is not a date; use ISO 8601, e.g. 1970-01-01T00:00:00Z\n`);
      return 2;
    }
  }
  let passphrase: string | undefined;
  if (flags.passphraseEnv !== undefined) {
    passphrase = process.env[flags.passphraseEnv];
    if (passphrase === undefined) {
      io.err(`bx-hil doctor: --passphrase-env ${flags.passphraseEnv}: the variable is not set; export it first\n`);
      return 2;
    }
  }
  let result: DoctorResult;
  try {
    result = await runDoctor(files, { host: flags.host, profile: flags.profile, at: flags.at, clock, passphrase });
  } catch (err) {
    if (err instanceof HarnessError) {
      io.err(`bx-hil doctor: ${oneLine(err.message)}\n`);
      return 2;
    }
    throw err;
  }
  if (flags.json) io.out(`${JSON.stringify(result, null, 2)}\n`);
  else io.out(formatDoctor(result));
  for (const f of result.files.filter((x) => !x.usable)) io.err(`bx-hil doctor: ${oneLine(f.problem!.message)}\n`);
  return result.exitCode;
}

function day(iso: string): string {
  return iso.slice(0, 10);
}

function describeFile(f: FileReport): string[] {
  if (!f.usable) return [`${f.file}: UNUSABLE (${f.problem!.code}; the reason is on stderr)`];
  const layout =
    f.kind === 'at-commands'
      ? `${f.lineEndings?.toUpperCase()}`
      : `${f.format?.toUpperCase()}, ${f.lineEndings === 'none' ? 'no line breaks' : f.lineEndings?.toUpperCase()}${f.finalNewline ? '' : ', no final newline'}`;
  const lines = [`${f.file}: ${f.kind.replace(/-/g, ' ')} (${layout}, ${f.bytes} bytes)`];
  for (const c of f.certificates) {
    lines.push(
      `  #${c.index} ${c.role}${c.publicRoot ? ` = ${c.publicRoot}` : ''}${c.selfSigned ? ', self-signed' : ''}`,
    );
    // Subjects, issuers and names are whatever the file says: one line each (console.ts).
    lines.push(`     subject  ${oneLine(c.subject)}`);
    lines.push(`     issuer   ${oneLine(c.issuer)}`);
    lines.push(`     valid    ${day(c.notBefore)} to ${day(c.notAfter)}`);
    lines.push(`     key      ${c.key}, signed ${c.signatureAlgorithm}`);
    if (c.subjectAltNames.length) {
      const shown = oneLine(c.subjectAltNames.slice(0, 6).join(', '));
      lines.push(
        `     SAN      ${shown}${c.subjectAltNames.length > 6 ? `, ... (${c.subjectAltNames.length} in all)` : ''}`,
      );
    }
    lines.push(`     SHA-256  ${c.sha256}`);
  }
  for (const k of f.keys) {
    lines.push(
      `  #${k.index} private key ${k.encoding.toUpperCase().replace('PKCS', 'PKCS#')}, ${k.key}${k.matches ? `, belongs to ${k.matches}` : ''}`,
    );
    lines.push(`     public key SHA-256 ${k.publicKeySha256}`);
  }
  return lines;
}

function describeFinding(f: Finding): string[] {
  return [
    `  ${f.severity.toUpperCase().padEnd(7)} ${f.code}${f.file ? `  ${f.file}` : ''}`,
    `          ${oneLine(f.message)}`,
    `          fix: ${oneLine(f.fix)}`,
  ];
}

/** Human-readable report: what each file is, then the findings, then the exit code. */
export function formatDoctor(r: DoctorResult): string {
  const head = [`bx-hil doctor: firmware profile ${r.profile}`];
  if (r.host) head.push(`host ${r.host}${r.hostSource === 'at-file' ? ' (from the AT file)' : ''}`);
  if (r.clock) head.push(`module clock ${r.clock}`);
  const lines = [head.join(', '), ''];
  for (const f of r.files) lines.push(...describeFile(f), '');
  const count = (s: string) => r.findings.filter((f) => f.severity === s).length;
  lines.push(r.findings.length ? 'Findings:' : 'Findings: none');
  for (const f of r.findings) lines.push(...describeFinding(f));
  const unusable = r.files.filter((f) => !f.usable).length;
  lines.push(
    '',
    `Result: ${count('error')} error(s), ${count('warning')} warning(s), ${count('info')} note(s)${unusable ? `, ${unusable} unusable file(s)` : ''}; exit code ${r.exitCode}.`,
    '',
  );
  return lines.join('\n');
}
