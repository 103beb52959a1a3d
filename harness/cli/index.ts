/**
 * `bx-hil`: the command line. Each command lives in its own file and exports
 * `register(program)`; this file only wires them. Commands call the same library the suites
 * use and never reach into Vitest internals (STYLE.md §9).
 *
 * Exit codes, shared by every command: 0 success, 1 a test/finding failed, 2 bad input or
 * configuration (the message names the field and the fix), 130 interrupted.
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { HarnessError } from '../errors.ts';
import { commandLoaders } from './commands.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/**
 * Build the program for `argv`: only the command being run is loaded; with no known command
 * (`--help`, a typo) every command is loaded so the help lists them all.
 */
export async function buildProgram(argv: string[] = process.argv): Promise<Command> {
  const program = new Command('bx-hil')
    .description('Hardware-in-the-loop tests for Sierra Wireless BX310x modules: certificates, TLS and MQTT')
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)');
  const wanted = argv.slice(2).find((a) => !a.startsWith('-'));
  const names = wanted && wanted in commandLoaders ? [wanted] : Object.keys(commandLoaders);
  for (const mod of await Promise.all(names.map((n) => commandLoaders[n]!()))) mod.register(program);
  return program;
}

/** Print a harness error as one clear line (no stack trace) and pick the exit code. */
export function reportCliError(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode;
  if (err instanceof HarnessError) {
    process.stderr.write(`bx-hil: ${err.message}\n`);
    return err.code === 'BXHIL_CONFIG' ? 2 : 1;
  }
  process.stderr.write(
    `bx-hil: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  return 1;
}

/** Run the CLI; resolves with the exit code (also set on `process.exitCode`). */
export async function main(argv: string[] = process.argv): Promise<number> {
  try {
    await (await buildProgram(argv)).parseAsync(argv);
  } catch (err) {
    process.exitCode = reportCliError(err);
  }
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}
