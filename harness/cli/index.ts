/**
 * `bx-hil`: the command line. Each command lives in its own file and exports
 * `register(program)`; this file only wires them. Commands call the same library the suites
 * use and never reach into Vitest internals (docs/STYLE.md §9).
 *
 * Exit codes, shared by every command (docs/exit-codes.md lists them per command): 0 success,
 * 1 a test/finding failed, 2 bad input or configuration (ONE line on stderr naming the field and
 * the fix; never a stack trace), 130 interrupted. An unexpected error is one line and exit 1; its
 * stack trace is printed only with DEBUG=bx-hil:* (or DEBUG=bx-hil:cli).
 */
import { Command, CommanderError } from 'commander';
import createDebug from 'debug';
import { readFileSync } from 'node:fs';
import { HarnessError } from '../errors.ts';
import { commandLoaders } from './commands.ts';
import { oneLine } from './console.ts';

const debug = createDebug('bx-hil:cli');

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Commander's own messages ("error: unknown option '--x'\n(Did you mean --y?)") as one line. */
function commanderLine(text: string, usage: string): string {
  const message = text
    .trim()
    .replace(/^error: /, '')
    .split(/\r?\n/)
    .join(' ');
  return `bx-hil: ${oneLine(message)} (${usage})\n`;
}

/**
 * Build the program for `argv`: only the command being run is loaded; with no known command
 * (`--help`, a typo) every command is loaded so the help lists them all.
 *
 * Commander's parse errors (unknown option or command, missing argument) throw a
 * `CommanderError` instead of exiting (`exitOverride`), print one line, and become exit 2 in
 * `reportCliError`; `--help` and `--version` stay exit 0.
 */
export async function buildProgram(argv: string[] = process.argv): Promise<Command> {
  const program = new Command('bx-hil')
    .description('Hardware-in-the-loop tests for Sierra Wireless BX310x modules: certificates, TLS and MQTT')
    .version(pkg.version)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(commanderLine(str, 'run bx-hil --help for usage')) });
  const args = argv.slice(2);
  const wanted = args.find((a) => !a.startsWith('-'));
  // `--version` or a bad option alone needs no command; help and a mistyped command need all
  // of them (to list them, and for commander's "did you mean").
  const names =
    wanted && wanted in commandLoaders
      ? [wanted]
      : wanted !== undefined || args.some((a) => a === '-h' || a === '--help')
        ? Object.keys(commandLoaders)
        : [];
  for (const mod of await Promise.all(names.map((n) => commandLoaders[n]!()))) mod.register(program);
  for (const sub of program.commands) {
    sub.exitOverride().configureOutput({
      outputError: (str, write) => write(commanderLine(str, `run bx-hil ${sub.name()} --help for usage`)),
    });
  }
  return program;
}

/** File-system error codes that mean "this path given on the command line cannot be used". */
const PATH_ERRORS = new Set([
  'ENOENT',
  'EACCES',
  'EPERM',
  'EISDIR',
  'ENOTDIR',
  'EEXIST',
  'ENAMETOOLONG',
  'ELOOP',
  'EROFS',
]);

/** An fs error about a path the user gave (not a missing tool: `spawn openssl` is not input). */
function isPathError(err: unknown): err is NodeJS.ErrnoException {
  const e = err as NodeJS.ErrnoException | null;
  return (
    typeof e?.code === 'string' &&
    PATH_ERRORS.has(e.code) &&
    typeof e.path === 'string' &&
    !String(e.syscall ?? '').startsWith('spawn')
  );
}

/** Print an error as ONE line (control characters escaped, no stack trace) and pick the exit code. */
export function reportCliError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Already printed by outputError (or it is --help / --version output).
    return err.exitCode === 0 ? 0 : 2;
  }
  debug('%O', err);
  if (err instanceof HarnessError) {
    process.stderr.write(`bx-hil: ${oneLine(err.message)}\n`);
    return err.code === 'BXHIL_CONFIG' ? 2 : 1;
  }
  if (isPathError(err)) {
    process.stderr.write(`bx-hil: ${oneLine(err.message)}; check the path\n`);
    return 2;
  }
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  process.stderr.write(
    `bx-hil: unexpected error: ${oneLine(message)} (please report it; DEBUG=bx-hil:* shows the stack trace)\n`,
  );
  return 1;
}

/** Run the CLI; resolves with the exit code (also set on `process.exitCode`). */
export async function main(argv: string[] = process.argv): Promise<number> {
  if (argv.length <= 2) {
    process.stderr.write(
      `bx-hil: no command given; run bx-hil --help for the list (${Object.keys(commandLoaders).join(', ')})\n`,
    );
    process.exitCode = 2;
    return 2;
  }
  try {
    await (await buildProgram(argv)).parseAsync(argv);
  } catch (err) {
    process.exitCode = reportCliError(err);
  }
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}
