/**
 * `bx-hil run --suites <dir|file|glob>...`: a user's own test files, found and checked before
 * Vitest starts, so bad input is exit 2 naming the path (docs/exit-codes.md "run"): a path that
 * does not exist, a glob or folder with no test file, a file that does not compile (esbuild's
 * first error with its line), two files whose suite names collide (a test id is
 * `<file base name>/<title>`, so they would share ids in results.json and in `compare`).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ConfigError } from '../errors.ts';

/** What a test file is called: Vitest's default pattern, narrowed to what the harness names suites by. */
const TEST_FILE = /\.test\.[cm]?[jt]s$/;
/** Folders never searched for test files. */
const SKIP_DIRS = new Set(['node_modules', '.git']);

/** A test file's suite name: its base name without `.test.ts` (harness/run/meta.ts `testIdFor`). */
export function suiteNameOf(file: string): string {
  return basename(file).replace(TEST_FILE, '');
}

function testFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) out.push(...testFilesUnder(p));
    } else if (TEST_FILE.test(e.name)) out.push(p);
  }
  return out;
}

/**
 * A glob (`*`, `**`, `?`, `{a,b}`, `[...]`) as a regular expression over `/`-separated paths.
 * Written here because no glob library is a direct dependency and Node 20's `path.matchesGlob`
 * is experimental (it prints a warning, which would break the one-line stderr contract).
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        re += '(?:[^/]*/)*'; // `**/`: any number of folders, none included
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end < 0) re += '\\{';
      else {
        re += `(?:${glob
          .slice(i + 1, end)
          .split(',')
          .map((a) => a.replace(/[.+^$()|\\[\]]/g, '\\$&').replace(/\*/g, '[^/]*'))
          .join('|')})`;
        i = end;
      }
    } else if (c === '[') {
      const end = glob.indexOf(']', i);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob.slice(i + 1, end).replace(/^!/, '^')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^$()|\\\]/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

const isGlob = (p: string): boolean => /[*?{[]/.test(p);

/** The folder a glob's matches live under: its path up to the first part with a wildcard. */
function globBase(glob: string): string {
  const parts = glob.split('/');
  const i = parts.findIndex(isGlob);
  return parts.slice(0, i).join('/') || (glob.startsWith('/') ? '/' : '.');
}

/**
 * The test files `--suites` names, absolute, sorted, each once. `cwd` resolves relative
 * entries. Throws `ConfigError` naming the entry that matched nothing.
 */
export function findUserSuites(entries: ReadonlyArray<string>, cwd = process.cwd()): string[] {
  const files = new Set<string>();
  for (const entry of entries) {
    const abs = resolve(cwd, entry);
    let found: string[];
    if (existsSync(abs)) {
      if (statSync(abs).isDirectory()) {
        found = testFilesUnder(abs);
        if (found.length === 0)
          throw new ConfigError(
            '--suites',
            entry,
            `--suites ${entry}: the folder holds no test file (*.test.ts); write one, or run \`bx-hil init\` for an example`,
          );
      } else found = [abs];
    } else if (isGlob(entry)) {
      const pattern = (isAbsolute(entry) ? entry : join(cwd, entry)).split(sep).join('/');
      const base = globBase(pattern);
      const re = globToRegExp(pattern);
      found = existsSync(base) ? testFilesUnder(base).filter((f) => re.test(f.split(sep).join('/'))) : [];
      if (found.length === 0)
        throw new ConfigError('--suites', entry, `--suites ${entry}: the pattern matches no test file (*.test.ts)`);
    } else {
      throw new ConfigError('--suites', entry, `--suites ${entry}: no such file or folder`);
    }
    for (const f of found) files.add(f);
  }
  return [...files].sort();
}

/**
 * Compile each file as Vitest will (esbuild, through Vite): a syntax error is bad input named
 * with its file, line and esbuild's message, before anything starts. Types are not checked
 * (Vitest does not check them either).
 */
export async function checkSuitesCompile(files: ReadonlyArray<string>, cwd = process.cwd()): Promise<void> {
  const { transformWithEsbuild } = await import('vite');
  for (const file of files) {
    try {
      await transformWithEsbuild(readFileSync(file, 'utf8'), file, { logLevel: 'silent' });
    } catch (cause) {
      const first = (cause as { errors?: Array<{ text: string; location?: { line: number; column: number } }> })
        .errors?.[0];
      const where = first?.location ? `:${first.location.line}:${first.location.column + 1}` : '';
      const why = first?.text ?? (cause instanceof Error ? cause.message : String(cause));
      const shown = relative(cwd, file) || file;
      throw new ConfigError('--suites', shown, `--suites: ${shown}${where} does not compile: ${why}`, { cause });
    }
  }
}

/**
 * Two test files with one suite name would share test ids: refuse, naming both.
 * `builtin`: the built-in suite names when they run too.
 */
export function checkSuiteNames(files: ReadonlyArray<string>, builtin: ReadonlyArray<string>): void {
  const seen = new Map<string, string>(builtin.map((n) => [n, `the built-in suite ${n}`]));
  for (const f of files) {
    const name = suiteNameOf(f);
    const other = seen.get(name);
    if (other)
      throw new ConfigError(
        '--suites',
        f,
        `--suites: ${f} and ${other} are both suite "${name}" (a test id starts with the file's base name); rename one`,
      );
    seen.set(name, f);
  }
}
