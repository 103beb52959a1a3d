/**
 * `bx-hil certs --scenario <id|all> --out <dir> [--host <name>] [--port <n>]`: write a scenario's
 * CA certificates, server and device certificates, keys, variants, `upload.at` and a README
 * (harness/pki/material.ts). Secret files get mode 0600; their contents are never printed.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { HarnessError } from '../errors.ts';
import { checkOutputDir, makeDirs, writeFileAtomic, type OutputMarker } from '../files.ts';
import { KeyPool, buildScenario, getScenario, scenarios } from '../pki/index.ts';
import { processIo, type CliIo } from './doctor.ts';

interface CertsFlags {
  scenario: string;
  out: string;
  host?: string;
  port?: string;
}

export function register(program: Command, io: CliIo = processIo): void {
  program
    .command('certs')
    .description('Write the certificates, keys and upload.at of a scenario (see `bx-hil scenarios`)')
    .requiredOption('--scenario <id>', 'scenario id, e.g. S1, or "all" (one sub-directory per scenario)')
    .requiredOption('--out <dir>', 'directory to write into (created if missing), e.g. certs/S1')
    .option('--host <name>', 'host name the server certificate is made for and the module dials', 'localhost')
    .option('--port <n>', 'port in the session example of upload.at', '8883')
    .action(async (flags: CertsFlags) => {
      io.exit(await certsCommand(flags, io));
    });
}

/** The file that makes a folder an earlier `bx-hil certs`/`bx-hil broker` output (docs/pki.md). */
export const CERTS_MARKER: OutputMarker = {
  name: '.bx-hil-certs',
  text: 'This folder holds certificates written by bx-hil certs or bx-hil broker; they overwrite their own files here.',
  what: 'an earlier bx-hil certs output',
};

export async function certsCommand(flags: CertsFlags, io: CliIo): Promise<number> {
  const port = Number(flags.port ?? 8883);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    io.err(`bx-hil certs: --port "${flags.port}" is not a port number (1..65535)\n`);
    return 2;
  }
  let ids: string[];
  try {
    ids = flags.scenario.toLowerCase() === 'all' ? scenarios.map((s) => s.id) : [getScenario(flags.scenario).id];
  } catch (err) {
    if (err instanceof HarnessError) {
      io.err(`bx-hil certs: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  try {
    // At start, before any key is made: a folder of someone else's files (a project's README.md) is refused.
    checkOutputDir(flags.out, '--out', { marker: CERTS_MARKER });
  } catch (err) {
    if (!(err instanceof HarnessError)) throw err;
    io.err(`bx-hil certs: ${err.message}\n`);
    return 2;
  }
  const pool = new KeyPool();
  const many = ids.length > 1;
  for (const id of ids) {
    let m;
    try {
      m = await buildScenario(id, { pool, hostName: flags.host, port });
    } catch (err) {
      if (!(err instanceof HarnessError)) throw err;
      io.err(`bx-hil certs: ${err.message}\n`);
      return 2;
    }
    const dir = many ? join(flags.out, id) : flags.out;
    try {
      makeDirs(dir, '--out');
      // Written beside and renamed: a symbolic link planted in the folder is replaced, not followed.
      for (const f of m.files) writeFileAtomic(join(dir, f.name), f.contents, { mode: f.secret ? 0o600 : 0o644 });
    } catch (err) {
      if (err instanceof HarnessError) {
        io.err(`bx-hil certs: ${err.message}\n`);
        return 2;
      }
      io.err(
        `bx-hil certs: cannot write into ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); choose another --out\n`,
      );
      return 2;
    }
    io.out(`${m.id}: ${m.entry.title} (expected: ${m.entry.expected}) -> ${dir}\n`);
    if (!many) {
      for (const f of m.files) io.out(`  ${f.name.padEnd(30)} ${f.secret ? '[secret, 0600] ' : ''}${f.description}\n`);
    }
  }
  return 0;
}
