/**
 * Inputs for merge tests (merge.test.ts, merge.chromium.test.ts, pipeline tests): the shipped
 * sample runs (testing.ts) as the report folders two identical benches and a third firmware
 * would leave.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sampleRun, writeSampleBundles } from './testing.ts';
import type { RunResults } from './types.ts';

/** 2.6.3 split in two shards by alternating tests (what `--shard 1/2` and `2/2` leave), and 2.6.2. */
export function shardedSample(): { shard1: RunResults; shard2: RunResults; other: RunResults } {
  const full = sampleRun('2.6.3');
  const half = (k: number): RunResults => ({ ...full, tests: full.tests.filter((_, i) => i % 2 === k) });
  return { shard1: half(0), shard2: half(1), other: sampleRun('2.6.2') };
}

/** Writes each run as a report folder `<dir>/<name>/results.json` with its bundles; returns the files. */
export async function writeInputs(dir: string, runs: Record<string, RunResults>): Promise<string[]> {
  const files: string[] = [];
  for (const [name, run] of Object.entries(runs)) {
    const d = join(dir, name);
    await mkdir(d, { recursive: true });
    await writeSampleBundles(d, run);
    await writeFile(join(d, 'results.json'), JSON.stringify(run, null, 2));
    files.push(join(d, 'results.json'));
  }
  return files;
}
