import { describe, expect, test } from 'vitest';
import { AtTimeoutError, CmeError } from '../at/index.ts';
import { checkExpectation } from '../known-issue.ts';
import type { KnownIssue, RunResults } from '../report/index.ts';
import {
  describeExpectation,
  findKnownIssue,
  judgeFailure,
  KnownIssueMismatchError,
  matchesExpectation,
  failureFacts,
  meetsExpectation,
  mergeKnownIssues,
  outcomeOf,
} from './known-issues.ts';
import { testIdFor } from './meta.ts';
import {
  emptyRunProblem,
  judgeRecord,
  summarize,
  summaryLine,
  toTestResult,
  type RawTestRecord,
  type RunSummary,
} from './results.ts';

const cme918 = { code: 'BXHIL_CME', cme: 918 };
const issues: KnownIssue[] = [
  { test: 'cert-upload/keys/read form lists keys', reason: '918', source: 'field report', expects: cme918 },
  { test: 'mqtt/*', reason: 'all mqtt', source: '[guess]', expects: { code: 'BXHIL_AT_TIMEOUT' } },
  { test: 'mqtt/qos 2*', reason: 'qos2', source: '[BX-T]', expects: { verdict: 'NO_SNI' } },
];

describe('known issues and outcomes', () => {
  test('exact ids win, then the longest prefix', () => {
    expect(findKnownIssue('cert-upload/keys/read form lists keys', issues)?.reason).toBe('918');
    expect(findKnownIssue('cert-upload/keys/other', issues)).toBeUndefined();
    expect(findKnownIssue('mqtt/qos 2 delivery', issues)?.reason).toBe('qos2');
    expect(findKnownIssue('mqtt/retain', issues)?.reason).toBe('all mqtt');
  });

  test('status + known issue → outcome → expectation', () => {
    const k = issues[0];
    expect(outcomeOf('passed', undefined, false)).toBe('pass');
    expect(outcomeOf('failed', undefined, false)).toBe('fail');
    expect(outcomeOf('failed', k, true)).toBe('expected-fail');
    // A known-issue test whose failure was not the expected one is a plain failure.
    expect(outcomeOf('failed', k, false)).toBe('fail');
    expect(outcomeOf('passed', k, false)).toBe('fixed');
    expect(outcomeOf('skipped', k, false)).toBe('skip');
    expect(meetsExpectation('fail')).toBe(false);
    expect(meetsExpectation('expected-fail')).toBe(true);
    expect(meetsExpectation('fixed')).toBe(true);
    expect(meetsExpectation('fixed', { strictFixed: true })).toBe(false);
  });

  test('later lists override earlier entries for the same test', () => {
    const merged = mergeKnownIssues([issues[0]!], [{ ...issues[0]!, reason: 'rig says' }]);
    expect(merged).toHaveLength(1);
    expect(merged[0]!.reason).toBe('rig says');
  });

  test('test ids come from the file name and the describe path', () => {
    expect(testIdFor('/x/suites/tls-handshake.test.ts', ['catalogue', 'S3 expired'])).toBe(
      'tls-handshake/catalogue/S3 expired',
    );
  });

  test('a caught known-issue failure is reported as expected-fail; a security failure is never excused', () => {
    const device = { id: 'sim-2.6.3', uri: 'sim:2.6.3', firmware: '2.6.3' };
    const caught = toTestResult(
      {
        file: 'cert-upload.test.ts',
        names: ['keys', 'read form lists keys'],
        status: 'passed',
        durationMs: 12.4,
        attempts: 1,
        errors: [],
        meta: { knownIssue: issues[0]!, expectedFailure: { message: 'CME 918', code: 'BXHIL_CME' }, scenario: 'D3' },
      },
      device,
      [],
    );
    expect(caught).toMatchObject({
      status: 'failed',
      outcome: 'expected-fail',
      error: 'CME 918',
      scenario: 'D3',
      durationMs: 12,
    });
    const sec = toTestResult(
      {
        file: 'tls-handshake.test.ts',
        names: ['S3'],
        status: 'failed',
        durationMs: 1,
        attempts: 1,
        errors: ['SECURITY FAILURE'],
        meta: { securityFailure: true },
      },
      device,
      [{ test: 'tls-handshake/*', reason: 'x', source: 'y', expects: { message: 'SECURITY' } }],
    );
    expect(sec.outcome).toBe('fail');
    const run: RunResults = {
      schema: 'bx-hil/results@1',
      startedAt: '',
      finishedAt: '',
      harnessVersion: '0',
      devices: [device],
      tests: [caught, sec],
    };
    const s = summarize(run);
    expect(s.ok).toBe(false);
    expect(summaryLine(s)).toBe('0 passed, 1 failed, 1 expected failure, 0 fixed, 0 skipped, 1 SECURITY FAILURE');
  });

  test('a test that ran carries its physical floor and what it took; a skipped one does not', () => {
    const device = { id: 'sim-2.6.3', uri: 'sim:2.6.3', firmware: '2.6.3' };
    const floor = { floorMs: 1200, actualMs: 1500, parts: { line: 200, flash: 1000 } };
    const raw = { file: 'cert-upload.test.ts', names: ['x'], durationMs: 1, attempts: 1, errors: [] };
    expect(toTestResult({ ...raw, status: 'passed', meta: { floor } }, device, [])).toMatchObject({
      floorMs: 1200,
      actualMs: 1500,
      floorParts: { line: 200, flash: 1000 },
    });
    expect(toTestResult({ ...raw, status: 'skipped', meta: { floor } }, device, []).floorMs).toBeUndefined();
  });
});

describe('a known issue states how its test fails', () => {
  test('the stated failure matches: a CME number, a timeout, a verdict, a message pattern', () => {
    expect(matchesExpectation(cme918, failureFacts(new CmeError('AT+KPRIVKSTORE?', 918)))).toBe(true);
    expect(
      matchesExpectation({ code: 'BXHIL_AT_TIMEOUT' }, failureFacts(new AtTimeoutError('AT', 40, '', undefined))),
    ).toBe(true);
    expect(matchesExpectation({ verdict: 'NO_SNI' }, failureFacts(new Error('did not connect'), 'NO_SNI'))).toBe(true);
    expect(
      matchesExpectation(
        { message: "expected 'OK' not to be" },
        failureFacts(new Error("expected 'OK' not to be 'OK'")),
      ),
    ).toBe(true);
    // Every field given must hold.
    const both = { verdict: 'OK', message: 'connected where' };
    expect(matchesExpectation(both, failureFacts(new Error('the module connected where it must refuse'), 'OK'))).toBe(
      true,
    );
    expect(
      matchesExpectation(both, failureFacts(new Error('the module connected where it must refuse'), 'NO_SNI')),
    ).toBe(false);
    expect(matchesExpectation(both, failureFacts(new TypeError('x is undefined'), 'OK'))).toBe(false);
  });

  test('another failure does not match: another CME number, a TypeError, a timeout, no verdict', () => {
    expect(matchesExpectation(cme918, failureFacts(new CmeError('AT+KPRIVKSTORE?', 917)))).toBe(false);
    expect(
      matchesExpectation(cme918, failureFacts(new TypeError("Cannot read properties of undefined (reading 'x')"))),
    ).toBe(false);
    expect(matchesExpectation(cme918, failureFacts(new AtTimeoutError('AT+KPRIVKSTORE?', 5000, '', undefined)))).toBe(
      false,
    );
    expect(matchesExpectation({ verdict: 'NO_SNI' }, failureFacts(new Error('x')))).toBe(false);
    // A cause is not the failure (pytest's raises looks at the exception itself).
    const wrapped = new Error('setup broke', { cause: new CmeError('AT', 918) });
    expect(matchesExpectation(cme918, failureFacts(wrapped))).toBe(false);
    // An expectation with no field would excuse everything: it matches nothing.
    expect(matchesExpectation({}, failureFacts(new CmeError('AT', 918)))).toBe(false);
  });

  test('judgeFailure: the named failure is expected; a TypeError fails "differently from the known issue" with both', () => {
    const issue = issues[0]!;
    const ok = judgeFailure(issue, new CmeError('AT+KPRIVKSTORE?', 918));
    expect(ok).toMatchObject({ matched: true, expectedFailure: { code: 'BXHIL_CME' } });
    const typeError = new TypeError("Cannot read properties of undefined (reading 'index')");
    const bad = judgeFailure(issue, typeError);
    expect(bad.matched).toBe(false);
    if (bad.matched) return;
    expect(bad.error).toBeInstanceOf(KnownIssueMismatchError);
    expect(bad.error.code).toBe('BXHIL_KNOWN_ISSUE_MISMATCH');
    expect(bad.error.cause).toBe(typeError);
    expect(bad.error.message).toBe(
      "failed differently from the known issue (field report): it expects BXHIL_CME (+CME ERROR: 918); the test failed with TypeError: Cannot read properties of undefined (reading 'index')",
    );
    expect(bad.mismatch).toEqual({
      expected: 'BXHIL_CME (+CME ERROR: 918)',
      actual: "TypeError: Cannot read properties of undefined (reading 'index')",
    });
    const other = judgeFailure(issue, new CmeError('AT+KPRIVKSTORE?', 917));
    expect(other.matched).toBe(false);
    expect(!other.matched && other.error.message).toMatch(
      /expects BXHIL_CME \(\+CME ERROR: 918\); the test failed with BXHIL_CME \(\+CME ERROR: 917\): AT\+KPRIVKSTORE\? failed/,
    );
  });

  test('describeExpectation words each kind', () => {
    expect(describeExpectation({ code: 'BXHIL_AT_TIMEOUT' })).toBe('BXHIL_AT_TIMEOUT');
    expect(describeExpectation({ verdict: 'OK', message: 'a.b' })).toBe('verdict OK and a message matching /a.b/');
  });

  test('checkExpectation refuses what would excuse everything, naming the field', () => {
    expect(checkExpectation(cme918)).toEqual(cme918);
    expect(checkExpectation(undefined)).toMatchObject({
      why: expect.stringMatching(/^required: .*code: BXHIL_CME, cme: 918/),
    });
    expect(checkExpectation({})).toMatchObject({
      why: expect.stringContaining('at least one of code, verdict, message'),
    });
    expect(checkExpectation({ cme: 918 })).toMatchObject({
      key: 'cme',
      why: expect.stringContaining('code: BXHIL_CME'),
    });
    expect(checkExpectation({ code: 'BXHIL_CME', cme: 1918 })).toMatchObject({ key: 'cme' });
    expect(checkExpectation({ message: '(' })).toMatchObject({
      key: 'message',
      why: expect.stringContaining('regular'),
    });
    expect(checkExpectation({ raises: 'x' })).toMatchObject({ key: 'raises' });
    expect(checkExpectation({ verdict: '' })).toMatchObject({ key: 'verdict' });
    expect(checkExpectation('BXHIL_CME')).toMatchObject({ why: expect.stringContaining('expected an object') });
  });
});

describe('results and progress lines read a known issue the same way', () => {
  const raw = (over: Partial<RawTestRecord>): RawTestRecord => ({
    file: 'cert-upload.test.ts',
    names: ['keys', 'read form lists keys'],
    status: 'failed',
    durationMs: 5,
    attempts: 1,
    errors: [],
    meta: {},
    ...over,
  });

  test('a failure the fixture did not judge (a test timeout) is a failure "differently from the known issue"', () => {
    const j = judgeRecord(raw({ errors: ['Test timed out in 30000ms.'], meta: { knownIssue: issues[0]! } }), []);
    expect(j.outcome).toBe('fail');
    expect(j.error).toBe(
      'failed differently from the known issue (field report): it expects BXHIL_CME (+CME ERROR: 918); the test failed with Test timed out in 30000ms.',
    );
    // The same through the rig's list, when the fixture never ran (a broken device).
    const fromList = judgeRecord(raw({ errors: ['device could not be brought up'] }), issues);
    expect(fromList).toMatchObject({ outcome: 'fail', knownIssue: issues[0] });
    expect(fromList.error).toMatch(/^failed differently from the known issue/);
  });

  test('a mismatch the fixture worded keeps its one message; the matched one is expected-fail', () => {
    const worded =
      'failed differently from the known issue (field report): it expects …; the test failed with TypeError: x';
    const j = judgeRecord(
      raw({ errors: [worded], meta: { knownIssue: issues[0]!, knownIssueMismatch: { expected: 'a', actual: 'b' } } }),
      [],
    );
    expect(j).toMatchObject({ outcome: 'fail', error: worded });
    const caught = judgeRecord(
      raw({
        status: 'passed',
        meta: { knownIssue: issues[0]!, expectedFailure: { message: 'CME 918', code: 'BXHIL_CME' } },
      }),
      [],
    );
    expect(caught).toMatchObject({ status: 'failed', outcome: 'expected-fail', error: 'CME 918' });
  });

  test('a known-issue test that passes is reported fixed, not silently passed', () => {
    const j = judgeRecord(raw({ status: 'passed', meta: { knownIssue: issues[0]! } }), []);
    expect(j).toMatchObject({ status: 'passed', outcome: 'fixed', knownIssue: issues[0] });
    expect(j.error).toBeUndefined();
  });
});

describe('an empty run does not pass', () => {
  const summary = (pass: number, skip: number): RunSummary => ({
    total: pass + skip,
    byOutcome: { pass, fail: 0, 'expected-fail': 0, fixed: 0, skip },
    securityFailures: 0,
    ok: true,
  });

  test('nothing selected, or everything skipped, is named with the filters; one test that ran is enough', () => {
    expect(emptyRunProblem(summary(0, 0), ['--test "nope"'])).toBe(
      'no test ran: --test "nope" matched no test; fix the filter or the target, or pass --allow-empty where an empty run is expected',
    );
    expect(emptyRunProblem(summary(0, 0), [])).toMatch(/^no test ran: no test was found;/);
    expect(emptyRunProblem(summary(0, 3), ['--suite mqtt'])).toMatch(
      /^no test ran: the 3 tests selected \(--suite mqtt\) were all skipped \(the SKIP lines say why\);/,
    );
    expect(emptyRunProblem(summary(1, 3), ['--suite mqtt'])).toBeUndefined();
  });
});
