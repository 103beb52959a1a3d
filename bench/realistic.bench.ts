/**
 * `npm run bench -- realistic`: the whole `bx-hil run` (every suite) against a virtual module at
 * realistic timing driven over a pseudo-terminal like a bench module (`bx-hil sim --profile
 * <p> --timing realistic --pty`, `bx-hil run --lab` with `serial:<pty>?baud=115200`), against
 * the physical floor of its tests (harness/run/floor.ts: the transcript's bytes at the line
 * rate, the module's flash, TLS, CONNACK, publish, Wi-Fi and boot latencies, the protocol's
 * guard times and the waits the tests exist to observe).
 *
 * Prints the run's wall time, the tests' time and the sum of their floors, and the ratios
 * wall / floor (the goal: at most 1.15) and tests / floor (the harness's overhead inside the
 * tests, without the run's start: Vitest, PKI, preflight). Then the tests furthest above their
 * floor, where the time goes.
 *
 * Environment: `BENCH_PROFILES=2.6.3,legacy` (default `2.6.3`), `BENCH_SUITES=cert-upload,...`
 * (default every suite).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killCliGroups, runOverPty } from '../harness/cli/testing.ts';
import { hasTool } from '../harness/processes.ts';
import { floorSummary, type RunResults } from '../harness/report/index.ts';
import { summarize, summaryLine } from '../harness/run/index.ts';

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** The outcome line, the floor's parts summed over the tests, and the tests by their time above the floor. */
function summaryFromResults(r: RunResults) {
  const parts: Record<string, number> = {};
  const timed = r.tests.filter((t) => t.floorMs !== undefined && t.actualMs !== undefined);
  for (const t of timed) for (const [k, v] of Object.entries(t.floorParts ?? {})) parts[k] = (parts[k] ?? 0) + v;
  const worst = timed
    .map((t) => ({ id: t.id, floorMs: t.floorMs!, actualMs: t.actualMs! }))
    .sort((a, b) => b.actualMs - b.floorMs - (a.actualMs - a.floorMs));
  return { line: summaryLine(summarize(r)), parts, worst };
}

export async function run(): Promise<void> {
  if (!hasTool('socat')) {
    console.log('skipped: needs socat for the pseudo-terminal (CI installs it)');
    return;
  }
  const profiles = (process.env['BENCH_PROFILES'] ?? '2.6.3').split(',').filter(Boolean);
  const suites = process.env['BENCH_SUITES']?.split(',').filter(Boolean);
  for (const profile of profiles) {
    const dir = await mkdtemp(join(tmpdir(), 'bxhil-bench-realistic-'));
    try {
      const r = await runOverPty({ profile, dir, timing: 'realistic', ...(suites ? { suites } : {}) });
      await killCliGroups(); // the sim
      const floor = r.results ? floorSummary(r.results) : undefined;
      if (!r.results || !floor) {
        console.log(`${profile}: no results (exit ${r.code})\n${(r.stdout + r.stderr).slice(-2000)}`);
        process.exitCode = 1;
        continue;
      }
      const s = summaryFromResults(r.results);
      console.log(
        `${profile} realistic over a pty: exit ${r.code}, ${s.line}\n` +
          `  wall ${secs(r.wallMs)} · tests ${secs(floor.actualMs)} · floor ${secs(floor.floorMs)} (${floor.tests} tests)\n` +
          `  wall / floor ${(r.wallMs / floor.floorMs).toFixed(2)} (goal <= 1.15) · tests / floor ${(floor.actualMs / floor.floorMs).toFixed(2)}`,
      );
      console.log(
        `  floor parts: ${Object.entries(s.parts)
          .map(([k, v]) => `${k} ${secs(v)}`)
          .join(', ')}`,
      );
      console.log('  furthest above their floor:');
      for (const t of s.worst.slice(0, 8))
        console.log(
          `    +${secs(t.actualMs - t.floorMs)}  ${t.id} (floor ${secs(t.floorMs)}, took ${secs(t.actualMs)})`,
        );
      if (r.code !== 0) process.exitCode = 1;
    } finally {
      await killCliGroups();
      await rm(dir, { recursive: true, force: true });
    }
  }
}
