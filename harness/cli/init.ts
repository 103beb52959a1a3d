/**
 * `bx-hil init [dir]`: writes `<dir>/hil/` (default `./hil/`) with a Vitest config, one example
 * test and a short README, for a user's own HIL tests (docs/writing-tests.md). Run them with
 * `bx-hil run --suites hil/`.
 *
 * Never overwrites: when any of the files exists, nothing is written and the command exits 2
 * naming it (docs/exit-codes.md "init").
 */
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { createFileNoFollow, makeDirs, showPath } from '../files.ts';
import { writeOut } from './console.ts';

/** The files written, with their templates (harness/cli/init-template/, shipped in the package). */
const FILES: ReadonlyArray<{ name: string; template: string }> = [
  { name: 'vitest.config.ts', template: 'vitest.config.ts.tmpl' },
  { name: 'example.test.ts', template: 'example.test.ts.tmpl' },
  { name: 'hil.config.json', template: 'hil.config.json.tmpl' },
  { name: 'README.md', template: 'README.md.tmpl' },
];

const TEMPLATES = new URL('./init-template/', import.meta.url);

/** Write the `hil/` folder under `dir`; returns the paths written. Throws `ConfigError` naming a file that exists. */
export function initHilFolder(dir: string): string[] {
  const hil = join(resolve(dir), 'hil');
  for (const f of FILES) {
    const path = join(hil, f.name);
    // lstat-level: a dangling symbolic link there is refused too (createFileNoFollow would fail later).
    if (existsSync(path) || isLink(path))
      throw new ConfigError(
        'dir',
        path,
        `${showPath(path)} exists; bx-hil init never overwrites: move it away or choose another folder`,
      );
  }
  makeDirs(hil, 'dir');
  const written: string[] = [];
  for (const f of FILES) {
    const path = join(hil, f.name);
    createFileNoFollow(path, readFileSync(new URL(f.template, TEMPLATES), 'utf8'));
    written.push(path);
  }
  return written;
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

export function register(program: Command): void {
  program
    .command('init')
    .description('write a hil/ folder with a Vitest config, an example test and a README, for your own HIL tests')
    .argument('[dir]', 'the project folder to write hil/ into', '.')
    .action((dir: string) => {
      const written = initHilFolder(dir);
      for (const p of written) writeOut(`wrote ${relative(process.cwd(), p) || p}\n`);
      writeOut(`run them: npx bx-hil run --suites ${relative(process.cwd(), join(resolve(dir), 'hil')) || 'hil'}/\n`);
    });
}
