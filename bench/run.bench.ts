/**
 * `npm run bench -- run`: wall time of `bx-hil run` on the virtual module, and the harness's own
 * share of it (issue 6): the CPU time of the run's processes (the CLI process and every Vitest
 * worker it forks, from `/proc`-free `getrusage` of the children via `time`-like accounting)
 * compared with wall time. CPU time is time the harness (and the in-process simulator and
 * broker) spent computing; the rest of the wall time is waiting on the module, the network and
 * guard times. The run goes through the real CLI in a child process, as a user would run it.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));

interface Sample {
  wallMs: number;
  cpuMs: number;
  tests: number;
  exitCode: number;
}

/** Run the CLI under /usr/bin/time-free accounting: `process.resourceUsage` is per process, so read the children's totals from `/bin/sh -c 'times'`. */
async function runOnce(args: string[]): Promise<Sample> {
  const out = await mkdtemp(join(tmpdir(), 'bxhil-bench-'));
  try {
    const script = `node ${JSON.stringify(join(root, 'bin', 'bx-hil.js'))} run --out ${JSON.stringify(out)} ${args.join(' ')} >/dev/null 2>&1; rc=$?; times; exit $rc`;
    const t0 = performance.now();
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
      const child = spawn('/bin/bash', ['-c', script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
      let s = '';
      child.stdout.on('data', (c: Buffer) => (s += c.toString()));
      child.on('close', (c) => resolve({ code: c ?? 1, stdout: s }));
    });
    const wallMs = performance.now() - t0;
    // `times` prints two lines: the shell's own user/sys, then its children's (all descendants that were waited for).
    const lines = stdout.trim().split('\n');
    const child = lines[lines.length - 1] ?? '';
    const secs = [...child.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
    const cpuMs = (secs[0]! + secs[1]!) * 1000;
    let tests = 0;
    try {
      tests = (JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as { tests: unknown[] }).tests.length;
    } catch {
      // no results: reported as 0 tests
    }
    return { wallMs, cpuMs, tests, exitCode: code };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  const profiles = (process.env['BENCH_PROFILES'] ?? '2.6.3').split(',');
  for (const profile of profiles) {
    const s = await runOnce(['--device', `sim:${profile}`]);
    const share = s.cpuMs / s.wallMs;
    console.log(
      `bx-hil run sim:${profile}: ${s.tests} tests, exit ${s.exitCode}, wall ${(s.wallMs / 1000).toFixed(1)} s, ` +
        `CPU (all processes) ${(s.cpuMs / 1000).toFixed(1)} s = ${(share * 100).toFixed(0)}% of wall on ${(await import('node:os')).cpus().length} cores; ` +
        `waiting (module, network, guard times) ~${(Math.max(0, s.wallMs - s.cpuMs / Math.max(1, Math.min(2, (await import('node:os')).cpus().length))) / 1000).toFixed(1)} s`,
    );
  }
}
