/**
 * Sharding on the real suite list: the tests of suites/*.test.ts as Vitest collects them for
 * `sim:2.6.3` (what `bx-hil run` runs), split into n = 1...5 shards by count and by durations.
 * Every test lands in exactly one shard, and the name filter of each shard (the regular
 * expression `bx-hil run --shard` hands to Vitest) matches exactly that shard's tests. Vitest
 * itself then applies one shard's filter: the tests it keeps are that shard's, and no others.
 */
import { readdirSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import { planShards } from '../run/index.ts';
import { collectSuiteTests, exactNamePattern, type ListedTest } from './collect.ts';

const env = { BX_DEVICE: 'sim:2.6.3' };

describe('sharding the real suite list (sim:2.6.3)', () => {
  let list: ListedTest[];
  beforeAll(async () => {
    list = await collectSuiteTests({ env });
  }, 120_000);

  test('the list is the suites: every suite file, over a hundred tests, ids unique', () => {
    const files = readdirSync(new URL('../../suites/', import.meta.url)).filter((f) => f.endsWith('.test.ts'));
    expect(new Set(list.map((t) => t.file.split('/').pop()))).toEqual(new Set(files));
    expect(list.length).toBeGreaterThan(100);
    expect(new Set(list.map((t) => t.id)).size).toBe(list.length);
    expect(list.every((t) => t.mode === 'run')).toBe(true);
  });

  for (const by of ['count', 'durations'] as const) {
    test(`by ${by}: for n = 1...5 every test is matched by exactly one shard's filter`, () => {
      const items = list.map((t) => ({ key: t.fullName, id: t.id }));
      // Durations as a previous run could have recorded them: uneven, a few long ones.
      const durations =
        by === 'durations'
          ? new Map(list.map((t, i) => [t.id, i % 9 === 0 ? 20_000 : 200 + ((i * 131) % 3000)]))
          : undefined;
      for (let n = 1; n <= 5; n++) {
        const plan = planShards(items, n, durations);
        expect(plan.balancedBy).toBe(by);
        const filters = plan.shards.map((keys) => new RegExp(exactNamePattern(keys)));
        const counts = list.map((t) => filters.filter((re) => re.test(t.fullName)).length);
        expect(
          counts.every((c) => c === 1),
          `n=${n}: a test in no shard or in two`,
        ).toBe(true);
        plan.shards.forEach((keys, i) => {
          const matched = list.filter((t) => filters[i]!.test(t.fullName)).map((t) => t.fullName);
          expect(matched.sort()).toEqual([...keys].sort());
        });
        const sizes = plan.shards.map((s) => s.length);
        if (by === 'count') expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
        else expect(Math.max(...plan.loads) / Math.min(...plan.loads)).toBeLessThan(1.25);
      }
    });
  }

  test("Vitest applies a shard's filter: shard 2/3 runs its tests and skips the others", async () => {
    const plan = planShards(
      list.map((t) => ({ key: t.fullName, id: t.id })),
      3,
    );
    const mine = new Set(plan.shards[1]);
    const filtered = await collectSuiteTests({ env, testNamePattern: exactNamePattern([...mine]) });
    expect(filtered.map((t) => t.id).sort()).toEqual(list.map((t) => t.id).sort());
    const run = filtered.filter((t) => t.mode === 'run').map((t) => t.fullName);
    expect(run.sort()).toEqual([...mine].sort());
  }, 120_000);

  test('an empty shard matches nothing', () => {
    const none = new RegExp(exactNamePattern([]));
    expect(list.some((t) => none.test(t.fullName))).toBe(false);
  });
});
