/**
 * The suites' test list as `bx-hil run` would run it, and the test-name filter of one shard.
 *
 * The list comes from Vitest itself (`createVitest().collect()`: the suite files are imported in
 * collect mode, no test body runs), with the device's environment, because a test's title can
 * depend on the target (a test skipped at registration carries its reason in the title). Sharding
 * is per test, not per file: the suites are five files of very different sizes, so whole files
 * cannot balance two benches. A shard runs through Vitest's `testNamePattern`, an anchored
 * alternation of the exact full names of its tests (escaped with Vitest's own `escapeTestName`).
 */
import { fileURLToPath } from 'node:url';
import { createVitest, escapeTestName } from 'vitest/node';
import { ConfigError } from '../errors.ts';
import { readRunResults } from '../report/index.ts';
import { testIdFor, describeShard, durationsFrom, parseShard, planShards, type ShardItem } from '../run/index.ts';
import { namesOf } from './test-names.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One test of the suites. */
export interface ListedTest {
  /** Absolute path of its file. */
  file: string;
  /** Describe path + title. */
  names: string[];
  /** results.json test id (`<suite>/<describe path>/<title>`). */
  id: string;
  /** The name Vitest's `testNamePattern` is matched against: the names joined by spaces. */
  fullName: string;
  /** `run`, or `skip` when a name filter (or the test itself) deselected it. */
  mode: 'run' | 'skip' | 'todo';
}

/**
 * Collects the tests of `suites/*.test.ts` (or of `filters`, file filters as `bx-hil run` passes
 * them) with `env` set as the run sets it. Files that fail to import contribute no tests here;
 * the run itself reports their error.
 */
export async function collectSuiteTests(
  options: { filters?: string[]; include?: string[]; env?: Record<string, string>; testNamePattern?: string } = {},
): Promise<ListedTest[]> {
  const vitest = await createVitest(
    'test',
    {
      config: false,
      root: ROOT,
      watch: false,
      include: options.include ?? ['suites/**/*.test.ts'],
      pool: 'forks',
      maxWorkers: 2,
      env: options.env ?? {},
      reporters: [],
      ...(options.testNamePattern !== undefined ? { testNamePattern: options.testNamePattern } : {}),
    },
    { logLevel: 'error' },
  );
  try {
    const { testModules } = await vitest.collect(options.filters ?? []);
    const tests: ListedTest[] = [];
    for (const m of testModules) {
      for (const t of m.children.allTests()) {
        const names = namesOf(t);
        tests.push({
          file: m.moduleId,
          names,
          id: testIdFor(m.moduleId, names),
          fullName: names.join(' '),
          mode: t.options.mode === 'only' ? 'run' : t.options.mode,
        });
      }
    }
    return tests;
  } finally {
    await vitest.close();
  }
}

/** A `testNamePattern` that matches exactly these full names (and nothing, for an empty list). */
export function exactNamePattern(fullNames: ReadonlyArray<string>): string {
  if (fullNames.length === 0) return '^(?!)$';
  return `^(?:${fullNames.map((n) => escapeTestName(n, false)).join('|')})$`;
}

export interface ShardFilterOptions {
  /** `<i>/<n>` as given on the command line. */
  shard: string;
  /** A previous results.json whose durations balance the shards. */
  durations?: string;
  /** The run's own `--test` pattern: the shards split what it selects. */
  test?: string;
  filters?: string[];
  /** Vitest's include (default the built-in suites; `bx-hil run --suites` adds a user's files). */
  include?: string[];
  env?: Record<string, string>;
  log?: (line: string) => void;
}

/** Collects the list and returns the `testNamePattern` of this shard's tests. */
export async function shardNamePattern(options: ShardFilterOptions): Promise<string> {
  const spec = parseShard(options.shard);
  const durations = options.durations ? durationsFrom(await readRunResults(options.durations)) : undefined;
  let selectBy: RegExp | undefined;
  if (options.test !== undefined) {
    try {
      selectBy = new RegExp(options.test);
    } catch (err) {
      throw new ConfigError(
        '--test',
        options.test,
        `--test "${options.test}" is not a regular expression: ${(err as Error).message}`,
      );
    }
  }
  const listed = (
    await collectSuiteTests({
      filters: options.filters ?? [],
      env: options.env ?? {},
      ...(options.include ? { include: options.include } : {}),
    })
  ).filter((t) => !selectBy || selectBy.test(t.fullName));
  const items: ShardItem[] = listed.map((t) => ({ key: t.fullName, id: t.id }));
  const plan = planShards(items, spec.count, durations);
  const keys = new Set(plan.shards[spec.index - 1]);
  const selected = listed.filter((t) => keys.has(t.fullName)).length;
  options.log?.(describeShard(spec, plan, selected, listed.length));
  return exactNamePattern([...keys]);
}
