/**
 * Sharding logic (harness/run/shard.ts): `--shard` parsing, the plan (every test in exactly one
 * shard, balanced by count or by recorded durations, the same plan whatever order the list comes
 * in), and the edge checks of `--shard` / `--durations`. The proof on the real suite list is in
 * harness/cli/collect.test.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sampleRun } from '../report/testing.ts';
import { checkShardOptions, describeShard, durationsFrom, parseShard, planShards, shardKeys } from './shard.ts';

const items = (keys: string[]) => keys.map((k) => ({ key: k, id: `suite/${k}` }));

describe('parseShard', () => {
  test.each([
    ['1/2', { index: 1, count: 2 }],
    ['2/2', { index: 2, count: 2 }],
    [' 3 / 5 ', { index: 3, count: 5 }],
    ['1/1', { index: 1, count: 1 }],
  ])('%s', (text, spec) => {
    expect(parseShard(text)).toEqual(spec);
  });

  test.each(['0/2', '3/2', 'x', '', '1/0', '1', '1/2/3', '-1/2', '1.5/2', 'a/b'])(
    '%j is a ConfigError naming --shard and the fix',
    (text) => {
      let err: unknown;
      try {
        parseShard(text);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'BXHIL_CONFIG', field: '--shard', value: text });
      expect((err as Error).message).toMatch(/^--shard .*<index>\/<count>/);
    },
  );
});

describe('planShards', () => {
  test('by count: every key in exactly one shard, sizes differ by at most one, each shard sorted', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 8 }),
        (keys, n) => {
          const plan = planShards(items(keys), n);
          expect(plan.balancedBy).toBe('count');
          expect(plan.shards).toHaveLength(n);
          const all = plan.shards.flat();
          expect(all.sort()).toEqual([...keys].sort());
          const sizes = plan.shards.map((s) => s.length);
          expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
          for (const s of plan.shards) expect(s).toEqual([...s].sort());
        },
      ),
    );
  });

  test('the plan does not depend on the order the list was collected in', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer(),
        (keys, n, seed) => {
          const durations = new Map(keys.map((k, i) => [`suite/${k}`, ((i * 7919 + seed) % 5000) + 1]));
          const shuffled = [...keys].sort(
            (a, b) => ((a.length * seed) % 7) - ((b.length * seed) % 7) || (a < b ? 1 : -1),
          );
          expect(planShards(items(shuffled), n)).toEqual(planShards(items(keys), n));
          expect(planShards(items(shuffled), n, durations)).toEqual(planShards(items(keys), n, durations));
        },
      ),
    );
  });

  test('by durations: the long tests are spread, and the loads come closer than by count', () => {
    // The slow tests are every other name: by count (round-robin over the sorted list) they all land in
    // shard 1; by durations (LPT) they go two and two, and the quick ones fill up.
    const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const durations = new Map([
      ['suite/a', 10_000],
      ['suite/c', 10_000],
      ['suite/e', 10_000],
      ['suite/g', 10_000],
      ['suite/b', 100],
      ['suite/d', 100],
      ['suite/f', 100],
      ['suite/h', 100],
    ]);
    const byCount = planShards(items(keys), 2);
    const loadOf = (s: string[]) => s.reduce((sum, k) => sum + durations.get(`suite/${k}`)!, 0);
    expect(byCount.shards.map(loadOf)).toEqual([40_000, 400]); // a c e g | b d f h
    const byTime = planShards(items(keys), 2, durations);
    expect(byTime.balancedBy).toBe('durations');
    expect(byTime.loads).toEqual([20_200, 20_200]);
    expect(byTime.shards.map(loadOf)).toEqual([20_200, 20_200]);
  });

  test('a test the record does not know weighs the median of the known ones; no known test at all means by count', () => {
    const durations = new Map([
      ['suite/a', 1000],
      ['suite/b', 3000],
      ['suite/c', 2000],
    ]);
    const plan = planShards(items(['a', 'b', 'c', 'new']), 2, durations);
    // Heaviest first: b 3000 -> shard 1; c 2000 -> shard 2; new (the median, 2000) -> shard 2; a 1000 -> shard 1.
    expect(plan.shards).toEqual([
      ['a', 'b'],
      ['c', 'new'],
    ]);
    expect(plan.loads).toEqual([4000, 4000]);
    expect(planShards(items(['x', 'y']), 2, new Map([['other/z', 5]])).balancedBy).toBe('count');
  });

  test('tests that share a filter key travel together', () => {
    const list = [
      { key: 'same name', id: 'mqtt/same name' },
      { key: 'same name', id: 'robustness/same name' },
      { key: 'other', id: 'mqtt/other' },
    ];
    const plan = planShards(list, 2);
    expect(plan.shards).toEqual([['same name'], ['other']]);
    expect(plan.loads).toEqual([2, 1]);
  });

  test('more shards than tests: the extra shards are empty', () => {
    expect(planShards(items(['a', 'b']), 4).shards).toEqual([['a'], ['b'], [], []]);
  });

  test('shardKeys, durationsFrom and the log line', () => {
    const run = sampleRun('2.6.3');
    const d = durationsFrom(run);
    expect(d.size).toBe(new Set(run.tests.map((t) => t.id)).size);
    const list = run.tests.map((t) => ({ key: t.title, id: t.id }));
    const one = shardKeys(list, { index: 1, count: 2 }, d);
    const two = shardKeys(list, { index: 2, count: 2 }, d);
    expect([...one, ...two].sort()).toEqual(list.map((t) => t.key).sort());
    const plan = planShards(list, 2, d);
    expect(describeShard({ index: 2, count: 2 }, plan, two.length, list.length)).toMatch(
      new RegExp(
        `^shard 2/2: ${two.length} of ${list.length} tests \\(balanced by recorded durations: ~\\d+ s of ~\\d+ s\\)$`,
      ),
    );
    expect(describeShard({ index: 1, count: 3 }, planShards(list, 3), 4, list.length)).toBe(
      `shard 1/3: 4 of ${list.length} tests (balanced by count)`,
    );
  });
});

describe('checkShardOptions (the edge of --shard / --durations)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bxhil-shard-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a good shard and a valid results file pass', async () => {
    const file = join(dir, 'ok.json');
    await writeFile(file, JSON.stringify(sampleRun('2.6.3')));
    await expect(checkShardOptions({ shard: '2/3', durations: file })).resolves.toBeUndefined();
    await expect(checkShardOptions({})).resolves.toBeUndefined();
  });

  test('bad input is a ConfigError naming the field', async () => {
    await expect(checkShardOptions({ shard: '3/2' })).rejects.toMatchObject({ code: 'BXHIL_CONFIG', field: '--shard' });
    await expect(checkShardOptions({ durations: join(dir, 'ok.json') })).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: '--durations',
    });
    await expect(checkShardOptions({ shard: '1/2', durations: join(dir, 'missing.json') })).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: 'file',
    });
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ ...sampleRun('2.6.3'), tests: [{ id: 1 }] }));
    await expect(checkShardOptions({ shard: '1/2', durations: bad })).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: 'tests[0].id',
    });
  });
});
