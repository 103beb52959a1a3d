/**
 * Imports only point down (docs/DESIGN.md "The data path", docs/STYLE.md §1). This test reads every
 * production file's imports and fails on an edge the table below does not allow.
 *
 * And each area's `index.ts` is its public face (docs/DESIGN.md "Decisions already taken"): a file of
 * one area imports another area only through that area's `index.ts`, and test helpers
 * (`testing.ts`, `*.testing.ts`) only from tests. Details in "public faces" below.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';

const root = dirname(fileURLToPath(import.meta.url));

/** Which harness areas each area may import. `base` = the top-level files of harness/. */
const allowed: Record<string, string[]> = {
  base: ['base'],
  link: ['base', 'link'],
  at: ['base', 'link', 'at'],
  bx310x: ['base', 'link', 'at', 'bx310x'],
  // The simulator implements the link contract but shares no parsing code with at/bx310x.
  sim: ['base', 'link', 'sim'],
  pki: ['base', 'pki'],
  // The judgement (evidence -> verdict) sits below the broker, which records and asks it; it
  // reads the module's lines through the AT parser and the driver's URC table.
  diagnose: ['base', 'link', 'at', 'bx310x', 'diagnose'],
  broker: ['base', 'pki', 'diagnose', 'broker'],
  // Lab services (the DNS responder) sit beside the broker: base and evidence, never the driver.
  lab: ['base', 'diagnose', 'lab'],
  report: ['base', 'diagnose', 'report'],
  // The probe drives a module through raw AT exchanges (at's framer), reads profiles (sim) and
  // uploads a public root (pki); the CLI opens the link and hands it over.
  probe: ['base', 'link', 'at', 'bx310x', 'sim', 'pki', 'broker', 'diagnose', 'probe'],
  cli: [
    'base',
    'targets',
    'link',
    'at',
    'bx310x',
    'sim',
    'pki',
    'broker',
    'lab',
    'diagnose',
    'report',
    'cli',
    'run',
    'probe',
  ],
  run: ['base', 'link', 'at', 'bx310x', 'sim', 'pki', 'broker', 'lab', 'diagnose', 'report', 'run'],
  // The Vitest fixtures (`bx-hil/vitest`): the runner library and the targets, as fixtures.
  // The one area that may use Vitest's test API.
  vitest: [
    'base',
    'targets',
    'link',
    'at',
    'bx310x',
    'sim',
    'pki',
    'broker',
    'lab',
    'diagnose',
    'report',
    'run',
    'vitest',
  ],
  // harness/public.ts, the package's face (`bx-hil`): the faces users get, without Vitest.
  public: ['base', 'link', 'bx310x', 'pki', 'broker', 'lab', 'report'],
  // `targets.ts` wires sim: into the link registry.
  targets: ['base', 'link', 'sim', 'lab'],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return files(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.contract.ts') ? [p] : [];
  });
}

function areaOf(file: string): string {
  const rel = relative(root, file).split(/[\\/]/);
  if (rel.length === 1) {
    // Top-level wiring files may import the areas they wire; everything else is base.
    // public.ts is the package's face (`bx-hil`): it lists the areas' faces.
    if (rel[0] === 'public.ts') return 'public';
    return rel[0] === 'targets.ts' ? 'targets' : 'base';
  }
  return rel[0]!;
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs: string[] = [];
  for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    specs.push((m[1] ?? m[2])!);
  }
  return specs;
}

describe('layering', () => {
  const all = files(root);

  test('finds the production files', () => {
    expect(all.length).toBeGreaterThan(3);
  });

  test('no upward or sideways imports between harness areas', () => {
    const violations: string[] = [];
    for (const file of all) {
      const from = areaOf(file);
      for (const spec of importsOf(file)) {
        // The CLI may start Vitest through its Node API (`bx-hil run`); nothing may use its test API.
        const vitestNodeApi = spec === 'vitest/node' && from === 'cli';
        // harness/vitest/ is the fixture layer: the only place that uses Vitest's test API.
        const vitestTestApi = spec === 'vitest' && from === 'vitest';
        if (
          ((spec === 'vitest' || spec.startsWith('vitest/')) && !vitestNodeApi && !vitestTestApi) ||
          spec.includes('/suites/')
        ) {
          violations.push(`${relative(root, file)} imports ${spec}: harness/ must not depend on Vitest or suites/`);
          continue;
        }
        if (!spec.startsWith('.')) continue;
        const target = resolve(dirname(file), spec);
        if (!target.startsWith(root)) {
          violations.push(`${relative(root, file)} imports ${spec}, outside harness/`);
          continue;
        }
        const to = areaOf(target);
        if (!(allowed[from] ?? []).includes(to)) {
          violations.push(`${relative(root, file)} (${from}) imports ${spec} (${to})`);
        }
      }
    }
    expect(violations).toEqual([]);
  });
});

/**
 * The top-level files of harness/ are the base layer, not an area with a face: every area may
 * import them directly (errors.ts, evidence.ts, processes.ts, files.ts, secrets.ts, at-args.ts,
 * known-issue.ts) and targets.ts, the wiring of `sim:` into the link registry.
 */
const repo = resolve(root, '..');

/** Every TypeScript file of harness/, suites/ and bench/, tests included. */
function everyFile(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return everyFile(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** A test helper: an area's `testing.ts`, or a `<name>.testing.ts` inside an area. */
const isTestHelper = (file: string): boolean => basename(file) === 'testing.ts' || file.endsWith('.testing.ts');

/**
 * Test code: tests, shared test suites (`*.contract.ts`), test helpers, benchmarks, and the HIL
 * suites, which are the tests of the public faces (they import `harness/<area>/index.ts`).
 */
function isTestCode(file: string): boolean {
  const rel = relative(repo, file);
  return (
    rel.startsWith(`suites${sep}`) ||
    rel.startsWith(`bench${sep}`) ||
    file.endsWith('.test.ts') ||
    file.endsWith('.contract.ts') ||
    file.endsWith('.bench.ts') ||
    isTestHelper(file)
  );
}

/** The harness area a file belongs to (`pki` for harness/pki/doctor/load.ts), or undefined. */
function faceAreaOf(file: string): string | undefined {
  const rel = relative(root, file).split(/[\\/]/);
  return rel.length > 1 && rel[0] !== '..' ? rel[0] : undefined;
}

/**
 * The rule, as a function of one import: `undefined` when it is allowed, else why not. Areas
 * meet only at their faces: from outside area B, a file may import `harness/B/index.ts`, and
 * test code also `harness/B/testing.ts`; non-test code never imports a test helper, not even
 * its own area's.
 */
function faceViolation(file: string, target: string): string | undefined {
  if (!isTestCode(file) && isTestHelper(target)) return 'a test helper imported by non-test code';
  const to = faceAreaOf(target);
  if (to === undefined || faceAreaOf(file) === to) return undefined;
  const inArea = relative(join(root, to), target);
  if (inArea === 'index.ts') return undefined;
  if (inArea === 'testing.ts') return isTestCode(file) ? undefined : 'a test helper imported by non-test code';
  return `reaches past harness/${to}/index.ts`;
}

describe('public faces', () => {
  const all = [join(repo, 'harness'), join(repo, 'suites'), join(repo, 'bench')].flatMap(everyFile);

  test('the rule itself: deep imports across areas and test helpers in non-test code are refused', () => {
    const f = (p: string) => join(repo, p);
    expect(faceViolation(f('harness/cli/run.ts'), f('harness/report/index.ts'))).toBeUndefined();
    expect(faceViolation(f('harness/cli/run.ts'), f('harness/report/validate.ts'))).toMatch(/past harness\/report/);
    expect(faceViolation(f('harness/cli/run.ts'), f('harness/errors.ts'))).toBeUndefined();
    expect(faceViolation(f('harness/pki/doctor/load.ts'), f('harness/pki/inspect.ts'))).toBeUndefined();
    expect(faceViolation(f('suites/mqtt.test.ts'), f('harness/pki/factory.ts'))).toMatch(/past harness\/pki/);
    expect(faceViolation(f('suites/mqtt.test.ts'), f('harness/link/testing.ts'))).toBeUndefined();
    expect(faceViolation(f('harness/run/shard.test.ts'), f('harness/report/testing.ts'))).toBeUndefined();
    expect(faceViolation(f('harness/run/shard.ts'), f('harness/report/testing.ts'))).toMatch(/test helper/);
    expect(faceViolation(f('harness/report/merge.ts'), f('harness/report/merge.testing.ts'))).toMatch(/test helper/);
    expect(faceViolation(f('harness/report/merge.test.ts'), f('harness/report/merge.testing.ts'))).toBeUndefined();
  });

  test('areas import each other only through index.ts (tests also testing.ts); only tests import test helpers', () => {
    expect(all.length).toBeGreaterThan(50);
    const violations: string[] = [];
    for (const file of all) {
      for (const spec of importsOf(file)) {
        if (!spec.startsWith('.')) continue;
        const why = faceViolation(file, resolve(dirname(file), spec));
        if (why) violations.push(`${relative(repo, file)} imports ${spec}: ${why}`);
      }
    }
    expect(violations).toEqual([]);
  });
});

/**
 * The package's faces (package.json `exports`): `bx-hil` (harness/public.ts) lists every name of
 * the faces it draws from, by name, and each name a user can import has a doc comment an editor
 * shows. Read with the TypeScript compiler, as an editor does.
 */
describe('package faces', () => {
  const faces = ['bx310x', 'link', 'broker', 'pki', 'lab', 'report'];
  const entry = (p: string) => join(root, p);
  const program = ts.createProgram([entry('public.ts'), entry('vitest/index.ts')], {
    allowImportingTsExtensions: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
  });
  const checker = program.getTypeChecker();
  const exportsOf = (file: string): ts.Symbol[] => {
    const source = program.getSourceFile(file);
    const symbol = source && checker.getSymbolAtLocation(source);
    return symbol ? checker.getExportsOfModule(symbol) : [];
  };

  test('bx-hil lists every export of the driver, link, broker, pki, lab and report faces, without export *', () => {
    const listed = new Set(exportsOf(entry('public.ts')).map((s) => s.name));
    const missing = faces.flatMap((f) =>
      exportsOf(entry(`${f}/index.ts`))
        .map((s) => s.name)
        .filter((n) => !listed.has(n))
        .map((n) => `${f}: ${n}`),
    );
    expect(missing).toEqual([]);
    for (const file of ['public.ts', 'vitest/index.ts'])
      expect(readFileSync(entry(file), 'utf8'), file).not.toMatch(/^export\s*\*/m);
  });

  test('every name of bx-hil and bx-hil/vitest has a doc comment', () => {
    const undocumented: string[] = [];
    for (const file of ['public.ts', 'vitest/index.ts']) {
      for (const s of exportsOf(entry(file))) {
        const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
        if (ts.displayPartsToString(target.getDocumentationComment(checker)).trim() === '')
          undocumented.push(
            `${file}: ${s.name} (${relative(root, target.declarations?.[0]?.getSourceFile().fileName ?? '?')})`,
          );
      }
    }
    expect(undocumented).toEqual([]);
  });
});
