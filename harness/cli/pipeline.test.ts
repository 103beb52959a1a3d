/**
 * The lab pipeline of ci/github-actions.yml, run here: its shell steps (the `run:` text of the
 * bench job and of the lab job, executed by bash as the runner would, with the job's `env`
 * filled in) on two virtual benches (`sim:2.6.3`, one device id) as two shards, then the merge
 * and the compare with a "last main" baseline. Kept cheap for a 2-core CI machine: one suite
 * (`BX_HIL_SUITES=cert-upload`), the two benches at once.
 *
 * Checks: the two shards split the suite's test list (each test in exactly one, the halves
 * balanced), the merged report folds them into one device column holding every test once, with
 * no conflict; junit.xml has one testcase per test; the compare finds the fix staged in the
 * baseline; every exit code is the one its results call for.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseRunResults, type RunResults } from '../report/index.ts';
import { summarize } from '../run/index.ts';
import { collectSuiteTests } from './collect.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));

interface Step {
  run?: string;
  uses?: string;
}
interface Job {
  env?: Record<string, string>;
  steps: Step[];
}

const workflow = parse(await readFile(join(repo, 'ci/github-actions.yml'), 'utf8')) as { jobs: Record<string, Job> };

function stepRunning(job: string, script: string): string {
  const run = workflow.jobs[job]!.steps.find((s) => s.run?.includes(script))?.run;
  if (!run) throw new Error(`ci/github-actions.yml: no step of job ${job} runs ${script}`);
  // The step must be runnable as is: every GitHub expression lives in the job's env, filled in below.
  expect(run).not.toContain('${{');
  return run;
}

/** Runs a step's shell text as the runner does (`bash -e`), in the repository, with `env`. */
function runStep(text: string, env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-e', '-c', text], {
      cwd: repo,
      env: { ...process.env, ...env, NO_COLOR: '1', BX_HIL_NO_INSTALL: '1', BX_HIL_LOCK_WAIT_S: '300' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

const readResults = async (p: string): Promise<RunResults> => parseRunResults(JSON.parse(await readFile(p, 'utf8')), p);

describe('the lab pipeline (ci/github-actions.yml): two virtual benches as two shards, merge, compare', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bxhil-pipeline-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the job env names the shell steps read', () => {
    const hil = workflow.jobs.hil!.env!;
    expect(hil).toMatchObject({
      BX_HIL_LAB_FILE: 'ci/labs/${{ matrix.rig }}.yaml',
      BX_HIL_OUT: 'reports/${{ matrix.rig }}',
      BX_HIL_SHARD: '${{ matrix.shard }}',
    });
    expect(workflow.jobs.lab!.env).toMatchObject({ BX_HIL_REPORTS: 'reports', BX_HIL_MERGED: 'merged' });
    expect(workflow.jobs.lab!.steps.find((s) => s.uses?.includes('junit'))).toMatchObject({
      with: { report_paths: 'merged/junit.xml' },
    });
  });

  test('bench steps on two virtual benches at once, then the lab step', async () => {
    const bench = stepRunning('hil', 'ci/run-hil.sh');
    const lab = stepRunning('lab', 'ci/merge-hil.sh');
    // Two identical benches: the same device id in both lab files, as ci/labs/bench-1.yaml and bench-2.yaml.
    for (const b of ['bench-a', 'bench-b'])
      await writeFile(join(dir, `${b}.yaml`), 'version: 1\ndevices:\n  - id: vbench-2.6.3\n    uri: sim:2.6.3\n');
    const expected = await collectSuiteTests({
      filters: ['suites/cert-upload.test.ts'],
      env: { BX_DEVICE: 'sim:2.6.3' },
    });
    expect(expected.length).toBeGreaterThan(10);
    // The previous merged report of main, as the durations job hands it to both benches.
    await mkdir(join(dir, 'previous'));
    const previous: RunResults = {
      schema: 'bx-hil/results@1',
      startedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:01:00.000Z',
      harnessVersion: '0.1.0',
      devices: [{ id: 'vbench-2.6.3', uri: 'sim:2.6.3', firmware: '2.6.3' }],
      tests: expected.map((t, i) => ({
        id: t.id,
        suite: 'cert-upload',
        title: t.names[t.names.length - 1]!,
        device: 'vbench-2.6.3',
        firmware: '2.6.3',
        status: 'passed' as const,
        outcome: 'pass' as const,
        durationMs: i === 0 ? 5_000 : 100 + i * 10,
        attempts: 1,
      })),
    };
    await writeFile(join(dir, 'previous', 'results.json'), JSON.stringify(previous));

    const benches = await Promise.all(
      (['bench-a', 'bench-b'] as const).map((b, i) =>
        runStep(bench, {
          BX_HIL_LAB_FILE: join(dir, `${b}.yaml`),
          BX_HIL_OUT: join(dir, 'reports', b),
          BX_HIL_SHARD: `${i + 1}/2`,
          BX_HIL_PREVIOUS: join(dir, 'previous', 'results.json'),
          BX_HIL_SUITES: 'cert-upload',
        }),
      ),
    );
    const shards = await Promise.all(
      ['bench-a', 'bench-b'].map((b) => readResults(join(dir, 'reports', b, 'results.json'))),
    );
    shards.forEach((r, i) => {
      expect(benches[i]!.out).toContain(`shard ${i + 1}/2: `);
      expect(benches[i]!.out).toContain('balanced by recorded durations');
      expect(benches[i]!.code, benches[i]!.out).toBe(summarize(r).ok ? 0 : 1);
    });
    const [a, b] = shards.map((r) => r.tests.map((t) => t.id));
    expect(a!.filter((id) => b!.includes(id))).toEqual([]);
    expect([...a!, ...b!].sort()).toEqual(expected.map((t) => t.id).sort());
    // The 5 s test of the record sits alone against the many short ones.
    expect(Math.abs(a!.length - b!.length)).toBeGreaterThan(2);

    // The last merged report of main: bench-a's results with one passing test recorded as failing.
    const fixedId = shards[0]!.tests.find((t) => t.outcome === 'pass')!.id;
    const baseline = structuredClone(shards[0]!);
    const t0 = baseline.tests.find((t) => t.id === fixedId)!;
    Object.assign(t0, { status: 'failed', outcome: 'fail', error: 'staged failure of the last main run' });
    await mkdir(join(dir, 'baseline'));
    await writeFile(join(dir, 'baseline', 'results.json'), JSON.stringify(baseline));

    const merged = join(dir, 'merged');
    const r = await runStep(lab, {
      BX_HIL_REPORTS: join(dir, 'reports'),
      BX_HIL_MERGED: merged,
      BX_HIL_BASELINE: join(dir, 'baseline', 'results.json'),
    });
    const results = await readResults(join(merged, 'results.json'));
    expect(results.devices.map((d) => d.id)).toEqual(['vbench-2.6.3']);
    expect(results.tests.map((t) => t.id).sort()).toEqual(expected.map((t) => t.id).sort());
    expect(JSON.parse(await readFile(join(merged, 'merge.json'), 'utf8'))).toMatchObject({ conflicts: [] });
    const junit = await readFile(join(merged, 'junit.xml'), 'utf8');
    expect((junit.match(/<testcase /g) ?? []).length).toBe(expected.length);
    const compare = await readFile(join(merged, 'compare.txt'), 'utf8');
    expect(compare).toMatch(new RegExp(`1 fix.*\\n(.*\\n)*.*${fixedId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    for (const t of results.tests.filter((x) => x.evidenceDir))
      expect(existsSync(join(merged, t.evidenceDir!)), t.evidenceDir).toBe(true);
    expect(r.code, r.out).toBe(summarize(results).ok ? 0 : 1);
    expect(r.out).toContain(`merge-hil: exit code ${r.code}; report: ${merged}/index.html`);
  }, 400_000);
});
