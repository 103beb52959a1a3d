/**
 * `npm run bench -- shard`: what sharding buys two identical benches. The wall time
 * of the whole suite list on `sim:2.6.3` as one run (one shard), against two shards run at once
 * on two virtual modules (`bx-hil run --shard 1/2` and `--shard 2/2`, each its own process tree
 * with its own simulator and broker rigs), balanced by the durations the one-shard run recorded
 * (`--durations`, as CI does with the last run of main). Printed as a ratio; the goal is <= 0.6.
 *
 * Both shards run on this one machine, so they share its cores: on real benches each shard has
 * a host of its own, and the ratio here is an upper bound of the lab's.
 *
 * Environment: `BENCH_SHARD_DEVICE` (default `sim:2.6.3`), `BENCH_SHARD_SUITES` (space-separated;
 * default every suite).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const bin = join(root, 'bin', 'bx-hil.js');

interface RunFigures {
  wallMs: number;
  exitCode: number;
  tests: string[];
}

function runCli(args: string[], out: string): Promise<RunFigures> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, 'run', ...args, '--out', out], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    child.on('close', (code) => {
      const wallMs = performance.now() - t0;
      let tests: string[] = [];
      try {
        tests = (JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { tests: { id: string }[] }).tests.map(
          (t) => t.id,
        );
      } catch {
        // no results: reported as 0 tests
      }
      resolve({ wallMs, exitCode: code ?? 1, tests });
    });
  });
}

export async function run(): Promise<void> {
  const device = process.env['BENCH_SHARD_DEVICE'] ?? 'sim:2.6.3';
  const suites = (process.env['BENCH_SHARD_SUITES'] ?? '').split(/\s+/).filter(Boolean);
  const base = ['--device', device, ...(suites.length > 0 ? ['--suite', ...suites] : [])];
  const dir = await mkdtemp(join(tmpdir(), 'bxhil-bench-shard-'));
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  try {
    const one = await runCli(base, join(dir, 'one'));
    console.log(
      `1 shard:  bx-hil run ${base.join(' ')}: ${one.tests.length} tests, exit ${one.exitCode}, wall ${s(one.wallMs)} (${cpus().length} cores)`,
    );
    const durations = join(dir, 'one', 'results.json');
    const shards = await Promise.all(
      [1, 2].map((i) => runCli([...base, '--shard', `${i}/2`, '--durations', durations], join(dir, `shard-${i}`))),
    );
    const wall = Math.max(...shards.map((r) => r.wallMs));
    shards.forEach((r, i) =>
      console.log(`  shard ${i + 1}/2: ${r.tests.length} tests, exit ${r.exitCode}, wall ${s(r.wallMs)}`),
    );
    const union = shards.flatMap((r) => r.tests);
    const same =
      union.length === one.tests.length &&
      new Set(union).size === union.length &&
      union.every((id) => one.tests.includes(id));
    console.log(
      `2 shards at once (balanced by the recorded durations): wall ${s(wall)}; every test of the 1-shard run in exactly one shard: ${same ? 'yes' : 'NO'}`,
    );
    console.log(`ratio 2 shards / 1 shard: ${(wall / one.wallMs).toFixed(2)} (goal <= 0.6)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
