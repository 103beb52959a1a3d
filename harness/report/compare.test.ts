/**
 * compareResults / formatComparison and `bx-hil compare` (spawned as a real process).
 * Baseline = sampleRun('2.6.2'), candidate = sampleRun('2.6.3') (see testing.ts for what differs).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runTool } from '../processes.ts';
import { compareResults, formatComparison } from './compare.ts';
import { sampleRun } from './testing.ts';
import type { RunResults, TestResult } from './types.ts';
import { parseRunResults, readRunResults } from './validate.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const base = sampleRun('2.6.2');
const cand = sampleRun('2.6.3');

/** A test of the candidate, without the sample's verdict and known issue. */
function candTest(over: Partial<TestResult>): TestResult {
  const { verdict: _v, knownIssue: _k, ...t } = { ...cand.tests[0]!, ...over };
  return t;
}

/** A candidate whose every test is new: one fails, one is a security failure. */
const newFailing: RunResults = {
  ...cand,
  tests: [
    candTest({ id: 'robustness/new one', title: 'new one', outcome: 'fail', status: 'failed', error: 'boom' }),
    candTest({
      id: 'tls-handshake/new two',
      title: 'new two',
      outcome: 'fail',
      status: 'failed',
      securityFailure: true,
      error: 'SECURITY FAILURE: connected',
    }),
  ],
};

function ids(list: { id: string }[]): string[] {
  return list.map((c) => c.id).sort();
}

describe('compareResults', () => {
  const c = compareResults(base, cand);

  test('regressions: pass -> fail, and a passing test the candidate lost', () => {
    expect(c.regressions.map((r) => [r.id, r.kind]).sort()).toEqual([
      ['mqtt/QoS 2 exactly once', 'removed'],
      ['mqtt/keep-alive PINGREQ within 1.5 x keepAlive', 'now-fails'],
      ['tls-handshake/S3 expired server certificate', 'now-fails'],
    ]);
  });

  test('fixes: expected-fail -> fixed', () => {
    expect(ids(c.fixes)).toEqual(['mqtt/will message on an unexpected loss']);
  });

  test('new and removed tests', () => {
    expect(ids(c.newTests)).toEqual(['robustness/a flood of 500 URCs is parsed without loss']);
    expect(ids(c.removedTests)).toEqual(['mqtt/QoS 2 exactly once']);
  });

  test('security failures of the candidate, marked new', () => {
    expect(c.securityFailures.map((s) => [s.test.id, s.isNew])).toEqual([
      ['tls-handshake/S3 expired server certificate', true],
    ]);
  });

  test('unchanged counts the rest; nothing else is "changed"', () => {
    expect(c.changed).toEqual([]);
    const paired = cand.tests.length - c.newTests.length;
    const pairedRegressions = c.regressions.filter((r) => r.baseline && r.candidate).length;
    expect(c.unchanged).toBe(paired - pairedRegressions - c.fixes.length);
  });

  test('expected-fail -> fail is a regression; pass -> expected-fail and a new verdict code are changes', () => {
    const mk = (over: Partial<TestResult>[]): RunResults => ({
      ...base,
      tests: over.map((o, i) => ({ ...base.tests[0]!, id: `t/${i}`, ...o })),
    });
    const b = mk([
      { outcome: 'expected-fail' },
      { outcome: 'pass' },
      { outcome: 'fail', verdict: { code: 'A', summary: 'a' } },
      { outcome: 'pass' },
      { outcome: 'skip' },
    ]);
    const k = mk([
      { outcome: 'fail' },
      { outcome: 'expected-fail' },
      { outcome: 'fail', verdict: { code: 'B', summary: 'b' } },
      { outcome: 'fixed' },
      { outcome: 'fail' },
    ]);
    const r = compareResults(b, k);
    expect(ids(r.regressions)).toEqual(['t/0']);
    expect(ids(r.changed)).toEqual(['t/1', 't/2', 't/4']);
    expect(r.unchanged).toBe(1);
  });

  test('a candidate that lost every test: each test that passed in the baseline is a "removed" regression, unless allowed', () => {
    const empty: RunResults = { ...cand, tests: [] };
    const r = compareResults(base, empty);
    const passing = base.tests.filter((t) => t.outcome === 'pass' || t.outcome === 'fixed');
    expect(passing.length).toBeGreaterThan(3);
    expect(r.regressions).toHaveLength(passing.length);
    expect(r.regressions.every((x) => x.kind === 'removed' && x.candidate === undefined)).toBe(true);
    expect(r.removedTests).toHaveLength(base.tests.length);
    expect(formatComparison(r)).toMatch(
      new RegExp(
        `Verdict: 2\\.6\\.3 REGRESSES against 2\\.6\\.2: ${passing.length} regressions \\(${passing.length} removed\\)\\.$`,
      ),
    );
    // Removed on purpose (a smaller suite): listed, not a regression.
    const allowed = compareResults(base, empty, { allowRemoved: true });
    expect(allowed.regressions).toEqual([]);
    expect(allowed.removedTests).toHaveLength(base.tests.length);
  });

  test('a candidate whose tests are all new, failing and security failures regresses, and says which kind', () => {
    const r = compareResults(base, newFailing, { allowRemoved: true });
    expect(r.regressions.map((x) => [x.id, x.kind])).toEqual([
      ['robustness/new one', 'new-failure'],
      ['tls-handshake/new two', 'new-security-failure'],
    ]);
    const text = formatComparison(r);
    expect(text).toContain('  - robustness/new one [new test, fails]\n      new on 2.6.3, and fails: boom');
    expect(text).toContain(
      '  - tls-handshake/new two [new SECURITY FAILURE]\n      new on 2.6.3, and a security failure: SECURITY FAILURE: connected',
    );
    expect(text).toMatch(/REGRESSES against 2\.6\.2: 2 regressions \(1 new and failing, 1 new security failure; /);
  });

  test('a test that failed before and is now a security failure is a new security failure', () => {
    const failing = { ...base.tests[0]!, outcome: 'fail' as const, status: 'failed' as const, error: 'x' };
    const b: RunResults = { ...base, tests: [failing] };
    const k: RunResults = { ...cand, tests: [{ ...failing, firmware: '2.6.3', securityFailure: true }] };
    const r = compareResults(b, k);
    expect(r.regressions.map((x) => x.kind)).toEqual(['new-security-failure']);
    expect(r.changed).toEqual([]);
    expect(formatComparison(r)).toContain('a security failure 2.6.2 did not have');
    // The same security failure on both sides is not new.
    expect(compareResults(k, k).regressions).toEqual([]);
  });

  test('several devices: paired by device; a single baseline result is compared with each candidate device', () => {
    const twoDevices: RunResults = {
      ...cand,
      devices: [...cand.devices, { id: 'bench-2', uri: 'serial:/dev/ttyUSB1', firmware: '2.6.3' }],
      tests: [
        ...cand.tests,
        ...cand.tests.map((t) => ({ ...t, device: 'bench-2', outcome: 'pass' as const, securityFailure: undefined })),
      ],
    };
    const r = compareResults(base, twoDevices, { allowRemoved: true });
    expect(r.regressions.map((x) => x.label).sort()).toEqual([
      'mqtt/keep-alive PINGREQ within 1.5 x keepAlive [sim-2.6.3]',
      'tls-handshake/S3 expired server certificate [sim-2.6.3]',
    ]);
    expect(r.newTests).toHaveLength(2);
    const same = compareResults(twoDevices, twoDevices);
    expect(same.unchanged).toBe(twoDevices.tests.length);
  });
});

describe('formatComparison', () => {
  test('speaks to a release manager', () => {
    const text = formatComparison(compareResults(base, cand));
    expect(text).toContain('3 regressions:');
    // Each regression says its kind.
    expect(text).toContain('  - mqtt/keep-alive PINGREQ within 1.5 x keepAlive [now fails]');
    expect(text).toContain('  - tls-handshake/S3 expired server certificate [now fails] [SECURITY FAILURE]');
    expect(text).toContain(
      '  - mqtt/QoS 2 exactly once [removed]\n      was passing on 2.6.2, did not run on 2.6.3 (if it was removed on purpose, compare with --allow-removed)',
    );
    expect(text).toContain(
      'was passing on 2.6.2, now fails on 2.6.3: the module completed the handshake with a server whose certificate expired 2 days ago and sent CONNECT (DEVICE_ACCEPTED_EXPIRED_SERVER_CERT)',
    );
    expect(text).toContain('fix: firmware must check notAfter');
    expect(text).toContain(
      'SECURITY: 1 security failure on 2.6.3 (1 new since 2.6.2): the module connected to a server it must refuse',
    );
    expect(text).toContain('1 fix:');
    expect(text).toMatch(
      /was a known failure on 2\.6\.2 \(will message not sent when Wi-Fi drops\), now passes on 2\.6\.3/,
    );
    expect(text).toContain('1 new test on 2.6.3:');
    expect(text).toContain('1 removed test (ran on 2.6.2, not on 2.6.3):');
    expect(text).toMatch(
      /Verdict: 2\.6\.3 REGRESSES against 2\.6\.2: 3 regressions \(2 now failing, 1 removed; 1 security failure, 2 failing tests in all\)\.$/,
    );
  });

  test('labels can be given; identical runs say no regression', () => {
    const text = formatComparison(compareResults(base, base), { baselineLabel: 'last week', candidateLabel: 'today' });
    expect(text).toContain('Comparing today (candidate) with last week (baseline)');
    expect(text).toMatch(/Verdict: no regression against last week\.$/);
    expect(text).not.toContain('regressions:');
  });
});

describe('parseRunResults', () => {
  test('accepts the sample runs', () => {
    expect(parseRunResults(JSON.parse(JSON.stringify(cand)))).toEqual(cand);
  });

  test.each([
    [{ schema: 'other' }, 'schema'],
    [{ ...cand, devices: {} }, 'devices'],
    [{ ...cand, tests: [cand.tests[0], { ...cand.tests[1], outcome: 'passed' }] }, 'tests[1].outcome'],
    [{ ...cand, tests: [{ ...cand.tests[0], durationMs: '12' }] }, 'tests[0].durationMs'],
    [{ ...cand, tests: [{ ...cand.tests[0], verdict: { code: 1 } }] }, 'tests[0].verdict.code'],
    [{ ...cand, tests: [{ ...cand.tests[0], id: undefined }] }, 'tests[0].id'],
  ])('names the bad field (%#)', (input, field) => {
    expect(() => parseRunResults(input, 'x.json')).toThrow(expect.objectContaining({ code: 'BXHIL_CONFIG', field }));
  });
});

// Each case spawns the real CLI (tsx compiles it on start): sequential, with a generous bound,
// because on a loaded 2-core CI machine one start can take several seconds.
describe('bx-hil compare (CLI)', { timeout: 90_000 }, () => {
  let dir: string;
  const files: Record<string, string> = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bxhil-compare-'));
    const write = async (name: string, body: string): Promise<void> => {
      files[name] = join(dir, name);
      await writeFile(files[name], body);
    };
    await write('base.json', JSON.stringify(base));
    await write('cand.json', JSON.stringify(cand));
    await write('bad.json', JSON.stringify({ ...cand, tests: [{ ...cand.tests[0], outcome: 'great' }] }));
    await write('junk.json', '{ not json');
    await write('empty.json', JSON.stringify({ ...cand, tests: [] }));
    await write('new-failing.json', JSON.stringify(newFailing));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const r = await runTool(process.execPath, [join(repo, 'bin/bx-hil.js'), 'compare', ...args], {
      cwd: repo,
      timeoutMs: 80_000,
      env: { NO_COLOR: '1' },
    });
    return { code: r.code, stdout: r.out, stderr: r.err };
  }

  test('exit 1 and the regressions in words when the candidate regresses', async () => {
    const r = await run(files['base.json']!, files['cand.json']!);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('3 regressions:');
    expect(r.stdout).toContain('REGRESSES');
  });

  test('exit 0 without regression (reverse direction: 2.6.2 against 2.6.3 has fixes and a test removed on purpose)', async () => {
    const r = await run(
      files['cand.json']!,
      files['base.json']!,
      '--baseline-label',
      'new',
      '--candidate-label',
      'old',
      '--allow-removed',
    );
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('Comparing old (candidate) with new (baseline)');
    expect(r.stdout).toContain('1 removed test (ran on new, not on old):');
  });

  test('exit 1 when the candidate lost every test (a removed passing test is a regression without --allow-removed)', async () => {
    const r = await run(files['base.json']!, files['empty.json']!);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stdout).toContain('[removed]');
    expect(r.stdout).toMatch(/REGRESSES against 2\.6\.2: \d+ regressions \(\d+ removed\)\.$/m);
  });

  test('exit 1 when every candidate test is new and failing or a security failure', async () => {
    const r = await run(files['base.json']!, files['new-failing.json']!, '--allow-removed');
    expect(r.code, r.stdout).toBe(1);
    expect(r.stdout).toContain('[new test, fails]');
    expect(r.stdout).toContain('[new SECURITY FAILURE]');
  });

  test('--json prints the Comparison', async () => {
    const r = await run(files['base.json']!, files['cand.json']!, '--json');
    expect(r.code).toBe(1);
    const json = JSON.parse(r.stdout) as { regressions: unknown[]; fixes: unknown[] };
    expect(json.regressions).toHaveLength(3);
    expect(json.fixes).toHaveLength(1);
  });

  test('exit 2 on an invalid results file, naming the field', async () => {
    const r = await run(files['base.json']!, files['bad.json']!);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/tests\[0\]\.outcome/);
    expect(r.stdout).toBe('');
  });

  // The other unreadable inputs take the same path to exit 2 (a BXHIL_CONFIG error); checked
  // in-process to keep the number of CLI starts down.
  test.each([
    ['junk.json', /not valid JSON/],
    ['missing.json', /cannot read the results file/],
  ])('%s is a BXHIL_CONFIG error naming the problem', async (name, message) => {
    const err = await readRunResults(files[name] ?? join(dir, name)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BXHIL_CONFIG', field: 'file' });
    expect((err as Error).message).toMatch(message);
  });
});
