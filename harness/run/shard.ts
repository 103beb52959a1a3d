/**
 * Sharding the test list over identical benches (`bx-hil run --shard <i>/<n>`): which tests shard
 * `i` of `n` runs. Pure logic; the CLI collects the list (harness/cli/collect.ts) and turns the
 * chosen names into Vitest's test-name filter.
 *
 * The plan is greedy longest-processing-time (LPT) over a stable order: the units are sorted by
 * weight (descending), ties by key, and each goes to the shard with the least load so far (ties:
 * the lowest shard). Every bench computes the same plan from the same list, whatever order the
 * list was collected in, and every unit lands in exactly one shard. Weights are the tests'
 * recorded durations when a previous results.json is given, else 1 per test (balance by count).
 *
 * A unit is one filter key (the name Vitest matches): tests that share a key (the same full name
 * in two files) cannot be told apart by the filter, so they travel together.
 */
import { ConfigError } from '../errors.ts';
import { type RunResults, readRunResults } from '../report/index.ts';

/** Shard `index` (1-based) of `count`. */
export interface ShardSpec {
  index: number;
  count: number;
}

/** One test of the list: `key` is what the filter matches, `id` the results.json test id (durations). */
export interface ShardItem {
  key: string;
  id: string;
}

export interface ShardPlan {
  /** Keys per shard (shard i at index i - 1), each list sorted. */
  shards: string[][];
  /** Load per shard: milliseconds when balanced by durations, else a test count. */
  loads: number[];
  balancedBy: 'durations' | 'count';
}

/** Parses `<i>/<n>` (1 <= i <= n); anything else is a `ConfigError` naming `field`. */
export function parseShard(text: string, field = '--shard'): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const fix = 'give <index>/<count> with 1 <= index <= count, e.g. 1/2 and 2/2 on two identical benches';
  if (!m) throw new ConfigError(field, text, `${field} "${text}" is not <index>/<count>: ${fix}`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index < 1 || index > count)
    throw new ConfigError(field, text, `${field} "${text}" is out of range: ${fix}`);
  return { index, count };
}

/**
 * Checks `--shard` and `--durations` at the edge, before any work: a bad shard, `--durations`
 * without `--shard`, or an unreadable or invalid results file is a `ConfigError` (exit 2).
 */
export async function checkShardOptions(opts: { shard?: string; durations?: string }): Promise<void> {
  if (opts.shard !== undefined) parseShard(opts.shard);
  if (opts.durations === undefined) return;
  if (opts.shard === undefined)
    throw new ConfigError(
      '--durations',
      opts.durations,
      '--durations only balances shards: give --shard <i>/<n> with it, or drop it',
    );
  await readRunResults(opts.durations);
}

/** Recorded duration per test id; a test run on several devices counts its longest run. */
export function durationsFrom(results: RunResults): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of results.tests) m.set(t.id, Math.max(m.get(t.id) ?? 0, t.durationMs));
  return m;
}

function median(values: number[]): number {
  if (values.length === 0) return 1;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Splits `items` into `count` shards. With `durations`, a test's weight is its recorded duration
 * (at least 1 ms); a test the record does not know (new since) weighs the median of the known ones.
 */
export function planShards(
  items: ReadonlyArray<ShardItem>,
  count: number,
  durations?: ReadonlyMap<string, number>,
): ShardPlan {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`shard count must be an integer >= 1, got ${count}`);
  const units = new Map<string, string[]>();
  for (const it of items) {
    const ids = units.get(it.key);
    if (ids) ids.push(it.id);
    else units.set(it.key, [it.id]);
  }
  const known = durations ? items.map((it) => durations.get(it.id)).filter((d): d is number => d !== undefined) : [];
  const byDurations = durations !== undefined && known.length > 0;
  const fallback = Math.max(1, median(known));
  const weightOf = (ids: string[]): number =>
    byDurations ? ids.reduce((sum, id) => sum + Math.max(1, durations!.get(id) ?? fallback), 0) : ids.length;
  const ordered = [...units.entries()]
    .map(([key, ids]) => ({ key, weight: weightOf(ids) }))
    .sort((a, b) => b.weight - a.weight || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const shards: string[][] = Array.from({ length: count }, () => []);
  const loads: number[] = new Array<number>(count).fill(0);
  for (const u of ordered) {
    let best = 0;
    for (let i = 1; i < count; i++) if (loads[i]! < loads[best]!) best = i;
    shards[best]!.push(u.key);
    loads[best]! += u.weight;
  }
  for (const s of shards) s.sort();
  return { shards, loads, balancedBy: byDurations ? 'durations' : 'count' };
}

/** The keys shard `spec` runs (see `planShards`). */
export function shardKeys(
  items: ReadonlyArray<ShardItem>,
  spec: ShardSpec,
  durations?: ReadonlyMap<string, number>,
): string[] {
  return planShards(items, spec.count, durations).shards[spec.index - 1]!;
}

/** One line for the run's log: `shard 1/2: 60 of 119 tests (balanced by count)`. */
export function describeShard(spec: ShardSpec, plan: ShardPlan, selected: number, total: number): string {
  const load =
    plan.balancedBy === 'durations'
      ? `balanced by recorded durations: ~${(plan.loads[spec.index - 1]! / 1000).toFixed(0)} s of ~${(plan.loads.reduce((a, b) => a + b, 0) / 1000).toFixed(0)} s`
      : 'balanced by count';
  return `shard ${spec.index}/${spec.count}: ${selected} of ${total} tests (${load})`;
}
