/**
 * `npm run bench -- run`: the wall time of `bx-hil run` on the virtual module, and the harness's
 * own share of it, measured two ways on the same run:
 *
 * 1. Process accounting: CPU time of every process of the run (the CLI, the Vitest workers, the
 *    in-process simulator and broker) against wall time, from bash's `times` (children's user +
 *    sys). CPU is time spent computing; the rest of the wall time is waiting.
 * 2. Evidence accounting: inside the tests, the time between each AT command and its final
 *    result (the module's turn, including its network round trips: TLS handshakes, MQTT acks),
 *    summed from every test's `events.jsonl`, against the tests' total duration. What is left is
 *    the harness's own time in tests (building certificates, starting rigs, bookkeeping, waiting
 *    on rig verdicts).
 *
 * Environment: `BENCH_PROFILES=2.6.3,reference` (default `2.6.3`).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));

interface Figures {
  wallMs: number;
  cpuMs: number;
  exitCode: number;
  tests: number;
  testMs: number;
  atWaitMs: number;
}

/**
 * Time the test spent on the module's turn: from each AT command to the last module output
 * (final result or URC such as `+KMQTT_IND` after a connect) before the next command. Guard times
 * of uploads count as the module's: the protocol requires them.
 */
function atWaitMs(eventsFile: string): number {
  let total = 0;
  let start: number | undefined;
  let last = 0;
  for (const line of readFileSync(eventsFile, 'utf8').split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as { source: string; kind: string; t: number };
    if (e.source !== 'at') continue;
    if (e.kind === 'command') {
      if (start !== undefined) total += last - start;
      start = e.t;
    }
    last = e.t;
  }
  if (start !== undefined) total += last - start;
  return total;
}

async function measure(profile: string): Promise<Figures> {
  const out = await mkdtemp(join(tmpdir(), 'bxhil-bench-'));
  try {
    const bin = join(root, 'bin', 'bx-hil.js');
    const script = `node ${JSON.stringify(bin)} run --device sim:${profile} --out ${JSON.stringify(out)} >/dev/null 2>&1; rc=$?; times; exit $rc`;
    const t0 = performance.now();
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
      const child = spawn('/bin/bash', ['-c', script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
      let s = '';
      child.stdout.on('data', (c: Buffer) => (s += c.toString()));
      child.on('close', (c) => resolve({ code: c ?? 1, stdout: s }));
    });
    const wallMs = performance.now() - t0;
    // `times`: line 1 the shell itself, line 2 its children (every process of the run it waited for).
    const childLine = stdout.trim().split('\n').pop() ?? '';
    const secs = [...childLine.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
    const cpuMs = ((secs[0] ?? 0) + (secs[1] ?? 0)) * 1000;
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      tests: Array<{ durationMs: number; evidenceDir?: string }>;
    };
    let testMs = 0;
    let wait = 0;
    for (const t of results.tests) {
      testMs += t.durationMs;
      const ev = t.evidenceDir ? join(out, t.evidenceDir, 'events.jsonl') : undefined;
      if (ev && existsSync(ev)) wait += atWaitMs(ev);
    }
    return { wallMs, cpuMs, exitCode: code, tests: results.tests.length, testMs, atWaitMs: wait };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  const cores = cpus().length;
  for (const profile of (process.env['BENCH_PROFILES'] ?? '2.6.3').split(',')) {
    const f = await measure(profile);
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const pct = (a: number, b: number) => `${((100 * a) / Math.max(1, b)).toFixed(0)}%`;
    console.log(
      `bx-hil run --device sim:${profile}: ${f.tests} tests, exit ${f.exitCode}, wall ${s(f.wallMs)} (${cores} cores)`,
    );
    console.log(
      `  process CPU (CLI + workers + simulator + broker): ${s(f.cpuMs)} = ${pct(f.cpuMs, f.wallMs * cores)} of the ${cores}-core wall capacity`,
    );
    console.log(
      `  inside tests: ${s(f.testMs)} summed over tests; waiting on the module (AT command -> its last answer or URC, incl. TLS/MQTT round trips and guard times): ${s(f.atWaitMs)} (${pct(f.atWaitMs, f.testMs)})`,
    );
    console.log(
      `  harness's own share of test time (certificates, rigs, verdict waits, bookkeeping): ${s(f.testMs - f.atWaitMs)} (${pct(f.testMs - f.atWaitMs, f.testMs)})`,
    );
  }
}
