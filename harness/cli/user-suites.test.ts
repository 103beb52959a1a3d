/**
 * `bx-hil run --suites`: a user's own test files, found and checked before Vitest starts, then
 * run with the same fixtures, report and verdicts as the built-in suites. The end-to-end tests
 * run the real CLI in a child process from a scratch project whose `node_modules/bx-hil` points
 * at this checkout (as an installed package would; harness/cli/pack.test.ts installs the real
 * tarball).
 *
 * Glossary: a user suite = a `*.test.ts` file of the user's that imports `bx-hil/vitest`.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError } from '../errors.ts';
import { parseRunResults } from '../report/index.ts';
import { killCliChildren, runChild } from './testing.ts';
import { checkSuiteNames, checkSuitesCompile, findUserSuites, globToRegExp } from './user-suites.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bxhil-user-suites-'));
afterAll(() => {
  killCliChildren();
  rmSync(dir, { recursive: true, force: true });
});

function write(path: string, text: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

/** The CLI in `cwd`, to its end (bounded). */
function cli(args: string[], cwd: string, timeoutMs = 180_000): Promise<{ code: number; out: string }> {
  return runChild(process.execPath, [join(root, 'bin', 'bx-hil.js'), ...args], {
    cwd,
    timeoutMs,
    env: { BX_DEVICE: '' },
  });
}

describe('finding a user suite', () => {
  test('globs: ** spans folders, * stays in one, {a,b} and ? work', () => {
    expect(globToRegExp('hil/**/*.test.ts').test('hil/a.test.ts')).toBe(true);
    expect(globToRegExp('hil/**/*.test.ts').test('hil/x/y/a.test.ts')).toBe(true);
    expect(globToRegExp('hil/*.test.ts').test('hil/x/a.test.ts')).toBe(false);
    expect(globToRegExp('hil/{a,b}.test.ts').test('hil/b.test.ts')).toBe(true);
    expect(globToRegExp('hil/?.test.ts').test('hil/ab.test.ts')).toBe(false);
    expect(globToRegExp('hil/a.test.ts').test('hil/aXtest.ts')).toBe(false);
  });

  test('a folder, a file and a glob give absolute test files; node_modules is not searched', () => {
    const p = join(dir, 'find');
    write(join(p, 'hil', 'a.test.ts'), '');
    write(join(p, 'hil', 'deep', 'b.test.ts'), '');
    write(join(p, 'hil', 'helper.ts'), '');
    write(join(p, 'hil', 'node_modules', 'x', 'c.test.ts'), '');
    expect(findUserSuites(['hil'], p)).toEqual([join(p, 'hil', 'a.test.ts'), join(p, 'hil', 'deep', 'b.test.ts')]);
    expect(findUserSuites(['hil/*.test.ts', 'hil/a.test.ts'], p)).toEqual([join(p, 'hil', 'a.test.ts')]);
    expect(findUserSuites(['hil/**/b.test.ts'], p)).toEqual([join(p, 'hil', 'deep', 'b.test.ts')]);
  });

  test('bad input names the path: missing, a glob matching nothing, a folder without tests', () => {
    const p = join(dir, 'bad');
    write(join(p, 'empty', 'helper.ts'), '');
    expect(() => findUserSuites(['nope'], p)).toThrow(/--suites nope: no such file or folder/);
    expect(() => findUserSuites(['hil/**/*.test.ts'], p)).toThrow(
      /--suites hil\/\*\*\/\*\.test\.ts: the pattern matches no test file/,
    );
    expect(() => findUserSuites(['empty'], p)).toThrow(/--suites empty: the folder holds no test file/);
    expect(() => findUserSuites(['nope'], p)).toThrow(ConfigError);
  });

  test('a file that does not compile is named with its line and the compiler error', async () => {
    const p = join(dir, 'compile');
    const bad = write(
      join(p, 'broken.test.ts'),
      "import { test } from 'vitest';\n\ntest('x', () => {\n  const = 1;\n});\n",
    );
    const good = write(join(p, 'good.test.ts'), 'const n: number = 1;\nexport { n };\n');
    await expect(checkSuitesCompile([good], p)).resolves.toBeUndefined();
    const err = await checkSuitesCompile([good, bad], p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/^--suites: broken\.test\.ts:4:\d+ does not compile: Expected identifier/);
  });

  test('two files with one suite name, or one named like a built-in suite, are refused', () => {
    expect(() => checkSuiteNames(['/a/x.test.ts', '/b/x.test.ts'], [])).toThrow(/both suite "x"/);
    expect(() => checkSuiteNames(['/a/mqtt.test.ts'], ['mqtt'])).toThrow(/the built-in suite mqtt/);
    expect(() => checkSuiteNames(['/a/mqtt.test.ts', '/a/y.test.ts'], [])).not.toThrow();
  });
});

/** A scratch project with `node_modules/bx-hil` linked to this checkout. */
function project(name: string): string {
  const p = join(dir, name);
  mkdirSync(join(p, 'node_modules'), { recursive: true });
  symlinkSync(root, join(p, 'node_modules', 'bx-hil'), 'dir');
  writeFileSync(join(p, 'package.json'), '{"name":"user","private":true,"type":"module"}\n');
  return p;
}

const USER_SUITE = (secondPasses: boolean) => `
import net from 'node:net';
import { expect } from 'vitest';
import { hil, test } from 'bx-hil/vitest';

hil('identity is read', { scenario: '[user] identity' }, async ({ device }) => {
  const id = await device.identity();
  expect(id.model).toMatch(/^BX31/);
});

hil('the module answers AT with OK', { scenario: '[user] at' }, async ({ device, evidence }) => {
  evidence.note('expecting', ${secondPasses ? "'the BX3105'" : "'a model this module is not'"});
  const id = await device.identity();
  expect(id.model).toBe(${secondPasses ? 'id.model' : "'BX9999'"});
});

test('forgets to close its own server and connection', async ({ device }) => {
  await device.identity();
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => client.once('connect', resolve));
});
`;

describe('bx-hil run --suites', () => {
  test('a user suite: a failing test with its outcome and evidence as a built-in one, a test that left a server open named, then compare finds the regression', async () => {
    const p = project('e2e');
    write(join(p, 'hil', 'mine.test.ts'), USER_SUITE(true));
    const base = await cli(['run', '--suites', 'hil/', '--device', 'sim:2.6.3', '--no-preflight', '--out', 'base'], p);
    expect(base.code, base.out).toBe(1); // the server left open
    expect(base.out).toMatch(/PASS {2}mine\/identity is read/);
    expect(base.out).toMatch(/PASS {2}mine\/the module answers AT with OK/);
    expect(base.out).toMatch(/FAIL {2}mine\/forgets to close its own server and connection/);
    const baseResults = parseRunResults(JSON.parse(readFileSync(join(p, 'base', 'results.json'), 'utf8')));
    const leak = baseResults.tests.find((t) => t.id === 'mine/forgets to close its own server and connection')!;
    expect(leak.outcome).toBe('fail');
    const port = /left open what it opened: a server listening on 127\.0\.0\.1:(\d+)/.exec(leak.error ?? '')?.[1];
    expect(port, leak.error).toBeDefined();
    // The test's own line where the stack shows it (a connect does; a listen finishes in a later tick).
    expect(leak.error).toMatch(
      new RegExp(`a connection 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${port}, opened at mine\\.test\\.ts:\\d+`),
    );
    expect(baseResults.tests.map((t) => t.id).sort()).toEqual([
      'mine/forgets to close its own server and connection',
      'mine/identity is read',
      'mine/the module answers AT with OK',
    ]);
    expect(baseResults.tests.find((t) => t.id === 'mine/identity is read')?.scenario).toBe('[user] identity');

    // The same suite, now failing one test: a FAIL with its evidence, and a regression for compare.
    write(join(p, 'hil', 'mine.test.ts'), USER_SUITE(false));
    const cand = await cli(
      [
        'run',
        '--suites',
        'hil/',
        '--device',
        'sim:2.6.3',
        '--no-preflight',
        '--out',
        'cand',
        '--baseline',
        'base/results.json',
      ],
      p,
    );
    expect(cand.code, cand.out).toBe(1);
    expect(cand.out).toMatch(/FAIL {2}mine\/the module answers AT with OK[^\n]*\n\s+expected 'BX3105' to be 'BX9999'/);
    const results = parseRunResults(JSON.parse(readFileSync(join(p, 'cand', 'results.json'), 'utf8')));
    const failed = results.tests.find((t) => t.id === 'mine/the module answers AT with OK')!;
    expect(failed).toMatchObject({ outcome: 'fail', status: 'failed', suite: 'mine', scenario: '[user] at' });
    const bundle = join(p, 'cand', failed.evidenceDir!);
    expect(readFileSync(join(bundle, 'transcript.txt'), 'utf8')).toContain('AT+CGMR');
    expect(JSON.parse(readFileSync(join(bundle, 'meta.json'), 'utf8'))).toMatchObject({
      test: 'mine/the module answers AT with OK',
      expecting: 'a model this module is not',
    });
    expect(readFileSync(join(p, 'cand', 'junit.xml'), 'utf8')).toContain('the module answers AT with OK');
    expect(existsSync(join(p, 'cand', 'index.html'))).toBe(true);

    const cmp = await cli(['compare', 'base/results.json', 'cand/results.json'], p);
    expect(cmp.code, cmp.out).toBe(1);
    expect(cmp.out).toMatch(/regression/i);
    expect(cmp.out).toContain('mine/the module answers AT with OK');
  }, 400_000);

  test('next to the built-in suites (--with-builtin, --suite picks one of each); the scenario fixture stages S1 and the module connects', async () => {
    const p = project('with-builtin');
    write(
      join(p, 'hil', 'own.test.ts'),
      USER_SUITE(true).replace(/test\('forgets[\s\S]*$/, '') +
        `
hil('scenario S1 through the scenario fixture connects', { scenario: 'S1' }, async ({ device, scenario }) => {
  const { material, rig, endpoint } = await scenario('S1');
  await device.storeCert('root', material.rootForDevice);
  await device.storeCert('local', material.clientCert!, { index: 0 });
  await device.storeKey(0, material.clientKey!);
  const id = await device.mqttConfigure({ secure: true, server: endpoint.host, port: endpoint.port, version: 4, clientId: 'own-s1' });
  await device.mqttConnect(id, { timeoutMs: 20_000 });
  expect((await rig.waitForVerdict(undefined, 5_000)).code).toBe('OK');
});
`,
    );
    const r = await cli(
      [
        'run',
        '--suites',
        'hil/**/*.test.ts',
        '--with-builtin',
        '--suite',
        'own',
        'cert-upload',
        '--test',
        'identity is read|store with LF line endings|scenario S1 through',
        '--device',
        'sim:2.6.3',
        '--no-preflight',
        '--out',
        'rep',
      ],
      p,
    );
    expect(r.code, r.out).toBe(0);
    const ids = parseRunResults(JSON.parse(readFileSync(join(p, 'rep', 'results.json'), 'utf8')))
      .tests.filter((t) => t.outcome !== 'skip')
      .map((t) => t.id);
    expect(ids).toContain('own/identity is read');
    expect(ids).toContain('own/scenario S1 through the scenario fixture connects');
    expect(ids.some((id) => id.startsWith('cert-upload/') && id.includes('store with LF line endings'))).toBe(true);
  }, 300_000);
});
