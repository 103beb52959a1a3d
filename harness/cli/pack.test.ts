/**
 * The package as a user gets it: `npm pack`, installed into an empty project, then
 * `npx bx-hil init`, `npx bx-hil run --suites hil/` against the virtual module, and the same test
 * straight through `npx vitest` with the config `init` wrote.
 *
 * Offline and outside the repository: the tarball and the project live in a scratch folder;
 * the dependencies are copied from this checkout's node_modules (the production ones the lock
 * file lists), so `npm install --offline --no-package-lock <tarball>` finds every dependency
 * already satisfied and downloads nothing (the npm cache alone does not hold them all).
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { parseRunResults } from '../report/index.ts';
import { killCliChildren, runChild } from './testing.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bxhil-pack-'));
afterAll(() => {
  killCliChildren();
  rmSync(dir, { recursive: true, force: true });
});

/** `cmd args` in `cwd` to its end, bounded, with npm kept offline and quiet. */
function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<{ code: number; out: string }> {
  return runChild(cmd, args, {
    cwd,
    timeoutMs,
    env: {
      BX_DEVICE: '',
      npm_config_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    },
  });
}

interface PackEntry {
  filename: string;
  size: number;
  unpackedSize: number;
  files: Array<{ path: string }>;
}

/** Copy the production dependencies of the lock file from this checkout into `project`. */
function copyDependencies(project: string): void {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; devOptional?: boolean }>;
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    // Top-level packages only: a package's own nested node_modules comes with it.
    if (!/^node_modules\/(@[^/]+\/)?[^/]+$/.test(path) || entry.dev || entry.devOptional) continue;
    const from = join(root, path);
    if (existsSync(from)) cpSync(from, join(project, path), { recursive: true });
  }
}

test('npm pack, install offline into an empty project, bx-hil init, bx-hil run --suites hil/ passes', async () => {
  const pack = await run('npm', ['pack', '--json', '--pack-destination', dir], root, 120_000);
  expect(pack.code, pack.out).toBe(0);
  const [entry] = JSON.parse(pack.out.slice(pack.out.indexOf('['))) as PackEntry[];
  const files = entry!.files.map((f) => f.path);
  // Product content: the CLI, the harness, the built-in suites, the init templates, the docs.
  expect(files).toEqual(expect.arrayContaining(['bin/bx-hil.js', 'harness/public.ts', 'harness/vitest/index.ts']));
  expect(files).toEqual(
    expect.arrayContaining(['harness/vitest-config.js', 'suites/mqtt.test.ts', 'docs/writing-tests.md']),
  );
  // No harness unit tests, benchmarks, reports or generated keys.
  const unwanted = files.filter(
    (f) =>
      (f.endsWith('.test.ts') && !f.startsWith('suites/')) ||
      /^(bench|reports|bx-hil-report|certs|scripts|ci)\//.test(f) ||
      /\.(key|p12|pfx)$|-key\.pem$/.test(f),
  );
  expect(unwanted).toEqual([]);
  writeFileSync(join(dir, 'pack.json'), `${JSON.stringify({ size: entry!.size, unpacked: entry!.unpackedSize })}\n`);

  const project = join(dir, 'project');
  mkdirSync(join(project, 'node_modules'), { recursive: true });
  writeFileSync(join(project, 'package.json'), '{ "name": "my-hil-tests", "private": true, "type": "module" }\n');
  copyDependencies(project);
  const install = await run(
    'npm',
    ['install', '--offline', '--no-package-lock', '--ignore-scripts', join(dir, entry!.filename)],
    project,
    180_000,
  );
  expect(install.code, install.out).toBe(0);
  expect(existsSync(join(project, 'node_modules', 'bx-hil', 'harness', 'public.ts'))).toBe(true);

  const init = await run('npx', ['--no', 'bx-hil', 'init'], project, 60_000);
  expect(init.code, init.out).toBe(0);
  expect(existsSync(join(project, 'hil', 'example.test.ts'))).toBe(true);
  // Never overwrites: the second init is refused naming the file.
  const again = await run('npx', ['--no', 'bx-hil', 'init'], project, 60_000);
  expect(again.code, again.out).toBe(2);
  expect(again.out).toContain(join(project, 'hil', 'vitest.config.ts'));

  const hil = await run(
    'npx',
    ['--no', 'bx-hil', 'run', '--suites', 'hil/', '--device', 'sim:2.6.3'],
    project,
    240_000,
  );
  expect(hil.code, hil.out).toBe(0);
  const results = parseRunResults(JSON.parse(readFileSync(join(project, 'bx-hil-report', 'results.json'), 'utf8')));
  expect(results.tests.map((t) => [t.id, t.outcome])).toEqual([
    ['example/publishes to my topic with my certificates, and the broker sees the message', 'pass'],
  ]);
  const evidence = join(project, 'bx-hil-report', results.tests[0]!.evidenceDir!);
  expect(readFileSync(join(evidence, 'transcript.txt'), 'utf8')).toContain('AT+KMQTTPUB');

  // Straight through the user's Vitest with the config init wrote: the config helper loads in
  // Node (plain JS) and the fixtures' TypeScript loads from node_modules.
  const direct = await run('npx', ['--no', 'vitest', 'run', '--config', 'hil/vitest.config.ts'], project, 180_000);
  expect(direct.code, direct.out).toBe(0);
  expect(direct.out).toMatch(/1 passed/);
  expect(existsSync(join(project, 'reports', 'junit.xml'))).toBe(true);
}, 600_000);
