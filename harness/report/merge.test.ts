/**
 * `bx-hil merge` (harness/report/merge.ts, harness/cli/merge.ts): runs of several benches,
 * shards and firmware builds joined into one report.
 *
 * Inputs are the shipped sample runs (testing.ts) written as report folders with their evidence
 * bundles: 2.6.3 split into two shards (as two identical benches would leave them) and 2.6.2 as
 * another firmware. The CLI is run as a user runs it (`node bin/bx-hil.js`), for its exit codes
 * and its one-line errors.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildReportModel } from './html.ts';
import {
  copyEvidence,
  inputLabels,
  junitXml,
  mergeRuns,
  readMergeInput,
  withoutEvidence,
  type MergeInput,
} from './merge.ts';
import { shardedSample, writeInputs } from './merge.testing.ts';
import { sampleRun } from './testing.ts';
import type { RunResults } from './types.ts';
import { parseRunResults } from './validate.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'bx-hil.js'), ...args], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

const input = (results: RunResults, file: string, label = file): MergeInput => ({
  file,
  dir: `/reports/${label}`,
  label,
  results,
});

describe('mergeRuns', () => {
  test('two shards of one device fold into one column; another firmware gets its own', () => {
    const { shard1, shard2, other } = shardedSample();
    const m = mergeRuns([
      input(shard1, 'a.json', 'bench-1'),
      input(shard2, 'b.json', 'bench-2'),
      input(other, 'c.json', 'old'),
    ]);
    expect(m.conflicts).toEqual([]);
    expect(m.results.devices.map((d) => [d.id, d.firmware, d.uri])).toEqual([
      ['sim-2.6.3', '2.6.3', 'sim:2.6.3'],
      ['sim-2.6.2', '2.6.2', 'sim:2.6.2'],
    ]);
    const on263 = m.results.tests.filter((t) => t.device === 'sim-2.6.3');
    expect(on263.map((t) => t.id).sort()).toEqual(
      sampleRun('2.6.3')
        .tests.map((t) => t.id)
        .sort(),
    );
    expect(m.results.tests).toHaveLength(shard1.tests.length + shard2.tests.length + other.tests.length);
    // Shards interleave back into one list: tests in natural order of their ids within a suite.
    const s = m.results.tests
      .filter((t) => t.suite === 'tls-handshake' && t.device === 'sim-2.6.3')
      .map((t) => t.title);
    expect(s.indexOf('S3 expired server certificate')).toBeLessThan(s.indexOf('S5 wrong hostname'));
    // Evidence paths point into the input's own folder under the merged report.
    const t = m.results.tests.find((x) => x.id === shard2.tests[0]!.id && x.device === 'sim-2.6.3')!;
    expect(t.evidenceDir).toBe(`inputs/bench-2/${shard2.tests[0]!.evidenceDir}`);
    expect(m.copies).toContainEqual({ from: `/reports/bench-2/${shard2.tests[0]!.evidenceDir}`, to: t.evidenceDir });
    expect(m.inputs.map((i) => [i.label, i.devices, i.tests])).toEqual([
      ['bench-1', ['sim-2.6.3'], shard1.tests.length],
      ['bench-2', ['sim-2.6.3'], shard2.tests.length],
      ['old', ['sim-2.6.2'], other.tests.length],
    ]);
    expect(parseRunResults(m.results)).toBe(m.results);
    expect(m.results.startedAt <= m.results.finishedAt).toBe(true);
  });

  test('identical benches with one device id fold, and both URIs are kept', () => {
    const { shard1, shard2 } = shardedSample();
    const b2 = { ...shard2, devices: [{ ...shard2.devices[0]!, uri: 'rfc2217://bench-2:4001' }] };
    const m = mergeRuns([input(shard1, 'a'), input(b2, 'b')]);
    expect(m.results.devices).toEqual([
      { id: 'sim-2.6.3', uri: 'sim:2.6.3 + rfc2217://bench-2:4001', firmware: '2.6.3', model: 'BX3105 (virtual)' },
    ]);
  });

  test('the same device id on another firmware becomes its own column <id>@<firmware>, with a note', () => {
    const a = sampleRun('2.6.3', { deviceId: 'bench-1' });
    const b = sampleRun('2.6.2', { deviceId: 'bench-1' });
    const m = mergeRuns([input(a, 'a'), input(b, 'b')]);
    expect(m.results.devices.map((d) => d.id)).toEqual(['bench-1@2.6.3', 'bench-1@2.6.2']);
    expect(new Set(m.results.tests.map((t) => t.device))).toEqual(new Set(['bench-1@2.6.3', 'bench-1@2.6.2']));
    expect(m.notes).toEqual([expect.stringContaining('device bench-1 ran 2.6.3 and 2.6.2 in different inputs')]);
    expect(m.conflicts).toEqual([]);
  });

  test('the same test on the same device in two inputs is a named conflict; the first result is kept', () => {
    const { shard1 } = shardedSample();
    const again = {
      ...shard1,
      tests: shard1.tests.map((t) => ({ ...t, outcome: 'fail' as const, status: 'failed' as const })),
    };
    const m = mergeRuns([input(shard1, 'x/results.json', 'x'), input(again, 'y/results.json', 'y')]);
    expect(m.conflicts).toHaveLength(shard1.tests.length);
    expect(m.conflicts.every((c) => c.kind === 'duplicate-test')).toBe(true);
    const first = shard1.tests[0]!;
    expect(m.conflicts[0]!.message).toBe(
      `${first.id} on sim-2.6.3 is in two inputs: x/results.json (${first.outcome}) and y/results.json (fail); the report keeps the first. Merge each shard once, or give different benches different device ids in their lab files`,
    );
    expect(m.conflicts[0]!.files).toEqual(['x/results.json', 'y/results.json']);
    expect(m.results.tests).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: first.id, outcome: first.outcome })]),
    );
    expect(m.results.tests).toHaveLength(shard1.tests.length);
  });

  test('inputs from different bx-hil versions are a named conflict, and the merged version says both', () => {
    const { shard1, shard2 } = shardedSample();
    const m = mergeRuns([input(shard1, 'a.json'), input({ ...shard2, harnessVersion: '0.2.0' }, 'b.json')]);
    expect(m.conflicts).toEqual([
      {
        kind: 'harness-version',
        files: ['a.json', 'b.json'],
        message: expect.stringContaining('different bx-hil versions: 0.1.0 (a.json); 0.2.0 (b.json)'),
      },
    ]);
    expect(m.results.harnessVersion).toBe('0.1.0 + 0.2.0');
  });

  test('device columns that ran different suites are a named conflict', () => {
    const a = sampleRun('2.6.3');
    const b = sampleRun('2.6.2');
    const onlyCerts = { ...b, tests: b.tests.filter((t) => t.suite === 'cert-upload') };
    const m = mergeRuns([input(a, 'a.json'), input(onlyCerts, 'b.json')]);
    expect(m.conflicts.map((c) => c.kind)).toEqual(['suites']);
    expect(m.conflicts[0]!.message).toMatch(
      /: sim-2\.6\.3: cert-upload, mqtt, robustness, tls-handshake; sim-2\.6\.2: cert-upload$/,
    );
    // Shards of one device are judged together: two halves of one suite list are no conflict.
    const { shard1, shard2 } = shardedSample();
    expect(mergeRuns([input(shard1, 'a'), input(shard2, 'b')]).conflicts).toEqual([]);
  });

  test('--no-evidence drops the evidence paths; nothing to copy', () => {
    const m = mergeRuns([withoutEvidence(input(sampleRun('2.6.3'), 'a'))]);
    expect(m.copies).toEqual([]);
    expect(m.results.tests.every((t) => t.evidenceDir === undefined)).toBe(true);
  });

  test('labels come from the report folders and are unique', () => {
    expect(inputLabels(['r/bench-1/results.json', 'other/bench-1/results.json', 'x/run two.json'])).toEqual([
      'bench-1',
      'bench-1-2',
      'run_two',
    ]);
  });
});

describe('junitXml', () => {
  test('one testsuite per suite and device; failures, skips and expected failures as CI reads them; text escaped', () => {
    const run = sampleRun('2.6.3');
    run.tests[0]!.title = 'a <b> & "c"';
    run.tests[0]!.id = `${run.tests[0]!.suite}/a <b> & "c"`;
    const x = junitXml(run, { name: 'lab' });
    const n = (re: RegExp) => (x.match(re) ?? []).length;
    const fails = run.tests.filter((t) => t.outcome === 'fail').length;
    const skips = run.tests.filter((t) => t.outcome === 'skip').length;
    expect(x).toMatch(
      new RegExp(
        `^<\\?xml version="1.0" encoding="UTF-8"\\?>\\n<testsuites name="lab" tests="${run.tests.length}" failures="${fails}" errors="0" skipped="${skips}"`,
      ),
    );
    expect(n(/<testcase /g)).toBe(run.tests.length);
    expect(n(/<failure /g)).toBe(fails);
    expect(n(/<skipped /g)).toBe(skips);
    expect(n(/<testsuite /g)).toBe(new Set(run.tests.map((t) => t.suite)).size);
    expect(x).toContain('name="a &lt;b&gt; &amp; &quot;c&quot;"');
    expect(x).toContain('SECURITY FAILURE');
    expect(x).toContain('<system-out>expected failure: known issue (field-report-2.6.3 §2)');
    // fixed passes, unless --strict-fixed
    const fixed = run.tests.filter((t) => t.outcome === 'fixed').length;
    expect(fixed).toBeGreaterThan(0);
    expect(n(/<failure /g)).toBe(fails);
    expect((junitXml(run, { strictFixed: true }).match(/<failure /g) ?? []).length).toBe(fails + fixed);
    expect(
      junitXml({ ...run, tests: [{ ...run.tests[1]!, error: 'bad \u0000\u0007 byte', outcome: 'fail' }] }),
    ).toContain('bad  byte');
  });
});

describe('reading inputs and copying evidence', () => {
  let dir: string;
  let files: string[];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bxhil-merge-'));
    const { shard1, shard2, other } = shardedSample();
    files = await writeInputs(dir, { 'bench-1': shard1, 'bench-2': shard2, old: other });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the merged report: two device columns, every 2.6.3 test in one, evidence copied beside it and readable', async () => {
    const labels = inputLabels(files);
    const inputs = await Promise.all(files.map((f, i) => readMergeInput(f, labels[i]!, { evidence: true })));
    const m = mergeRuns(inputs);
    const out = join(dir, 'merged');
    expect(await copyEvidence(out, m.copies)).toBe(m.results.tests.filter((t) => t.outcome === 'skip').length);
    const model = await buildReportModel(out, m.results);
    expect(model.columns.map((c) => c.key)).toEqual(['c:sim-2.6.3', 'c:sim-2.6.2']);
    const s3 = model.tests.find((t) => t.id === 'tls-handshake/S3 expired server certificate')!;
    expect(s3.cells['c:sim-2.6.3']!.outcome).toBe('fail');
    expect(s3.cells['c:sim-2.6.3']!.evidence!.timeline.length).toBeGreaterThan(3);
    expect(s3.cells['c:sim-2.6.3']!.evidence!.notes).toEqual([]);
    for (const t of m.results.tests)
      if (t.outcome !== 'skip') expect(existsSync(join(out, t.evidenceDir!, 'events.jsonl')), t.evidenceDir).toBe(true);
  });

  test('a missing evidence folder is bad input naming the file and the field', async () => {
    const d = join(dir, 'no-evidence');
    await mkdir(d);
    await cp(files[0]!, join(d, 'results.json'));
    const err = await readMergeInput(join(d, 'results.json'), 'x', { evidence: true }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BXHIL_CONFIG', field: 'tests[0].evidenceDir', file: join(d, 'results.json') });
    expect((err as Error).message).toContain('evidence folder');
    expect((err as Error).message).toContain('--no-evidence');
    await expect(readMergeInput(join(d, 'results.json'), 'x', { evidence: false })).resolves.toBeDefined();
  });

  test('an evidence path outside the input folder is refused', async () => {
    const d = join(dir, 'escape');
    await mkdir(d);
    const run = sampleRun('2.6.3');
    run.tests[0]!.evidenceDir = '../bench-1/evidence';
    await writeFile(join(d, 'results.json'), JSON.stringify(run));
    await expect(readMergeInput(join(d, 'results.json'), 'x', { evidence: true })).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: 'tests[0].evidenceDir',
    });
  });
});

describe('bx-hil merge (CLI)', () => {
  let dir: string;
  let files: string[];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bxhil-merge-cli-'));
    const { shard1, shard2, other } = shardedSample();
    files = await writeInputs(dir, { 'bench-1': shard1, 'bench-2': shard2, old: other });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('merges, writes the report, JUnit and merge.json; exit 1 because 2.6.3 has a failure; compare reads the result', async () => {
    const out = join(dir, 'lab');
    const r = await cli(['merge', ...files, '--out', out]);
    expect(r.err).toBe('');
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain(`merge: ${files[0]} (bench-1): `);
    expect(r.out).toMatch(/merged 3 input\(s\) into 2 device column\(s\): \d+ passed, 2 failed/);
    for (const f of ['index.html', 'results.json', 'junit.xml', 'merge.json', 'inputs/bench-2/evidence'])
      expect(existsSync(join(out, f)), f).toBe(true);
    const merged = parseRunResults(JSON.parse(await readFile(join(out, 'results.json'), 'utf8')));
    expect(merged.devices.map((d) => d.id)).toEqual(['sim-2.6.3', 'sim-2.6.2']);
    expect(JSON.parse(await readFile(join(out, 'merge.json'), 'utf8'))).toMatchObject({ conflicts: [] });
    // compare accepts the merged results.json, both ways: a lab whose bench ran 2.6.2 before regresses.
    const before = join(dir, 'before.json');
    await writeFile(before, JSON.stringify(sampleRun('2.6.2', { deviceId: 'sim-2.6.3' })));
    const c = await cli(['compare', before, join(out, 'results.json')]);
    expect(c.code, c.out + c.err).toBe(1);
    expect(c.out).toMatch(/REGRESSION.*\n.*mqtt\/keep-alive PINGREQ within 1\.5 x keepAlive/i);
    const same = await cli(['compare', join(out, 'results.json'), join(out, 'results.json')]);
    expect(same.code, same.out + same.err).toBe(0);
    expect(same.out).toContain(`${merged.tests.length} tests unchanged`);
    // Merging again into the same report folder replaces the earlier merge.
    expect((await cli(['merge', files[0]!, files[1]!, '--out', out])).code).toBe(1);
    const again = parseRunResults(JSON.parse(await readFile(join(out, 'results.json'), 'utf8')));
    expect(again.devices.map((d) => d.id)).toEqual(['sim-2.6.3']);
    expect(existsSync(join(out, 'inputs/old'))).toBe(false);
  }, 60_000);

  test('the same shard twice: the conflict is printed and the exit code is 1', async () => {
    const r = await cli(['merge', files[0]!, files[0]!, '--out', join(dir, 'dup'), '--no-evidence']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/merge: CONFLICT \(duplicate-test\): cert-upload\/.* on sim-2\.6\.3 is in two inputs/);
  }, 30_000);

  test.each([
    [
      'a missing input',
      (d: string) => [join(d, 'nope', 'results.json')],
      /nope\/results\.json: cannot read the results file \(ENOENT\)/,
    ],
    ['a malformed input', (d: string) => [join(d, 'bad.json')], /bad\.json: not valid JSON/],
    ['an invalid field', (d: string) => [join(d, 'wrong.json')], /wrong\.json: field "tests\[0\]\.outcome" is "great"/],
    [
      'a missing evidence folder',
      (d: string) => [join(d, 'lonely', 'results.json')],
      /lonely\/results\.json: field "tests\[0\]\.evidenceDir" .* evidence folder .* is missing/,
    ],
  ])(
    '%s: exit 2, one line naming the file and the field',
    async (_what, args, message) => {
      await writeFile(join(dir, 'bad.json'), '{"schema": ');
      const wrong = sampleRun('2.6.3');
      (wrong.tests[0] as { outcome: string }).outcome = 'great';
      await writeFile(join(dir, 'wrong.json'), JSON.stringify(wrong));
      await mkdir(join(dir, 'lonely'), { recursive: true });
      await cp(files[0]!, join(dir, 'lonely', 'results.json'));
      const r = await cli(['merge', files[1]!, ...args(dir), '--out', join(dir, 'never')]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(message);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.out).toBe('');
      expect(existsSync(join(dir, 'never', 'results.json'))).toBe(false);
    },
    30_000,
  );

  test('--out missing, or inside an input it would clear: exit 2', async () => {
    const noOut = await cli(['merge', files[0]!]);
    expect(noOut.code).toBe(2);
    expect(noOut.err).toContain('--out');
    const self = await cli(['merge', files[0]!, '--out', join(dir, 'bench-1')]);
    expect(self.code).toBe(2);
    expect(self.err).toContain('which the merge clears');
  }, 30_000);
});
