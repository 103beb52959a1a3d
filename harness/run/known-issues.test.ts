import { describe, expect, test } from 'vitest';
import type { KnownIssue, RunResults } from '../report/types.ts';
import { findKnownIssue, meetsExpectation, mergeKnownIssues, outcomeOf } from './known-issues.ts';
import { testIdFor } from './meta.ts';
import { summarize, summaryLine, toTestResult } from './results.ts';

const issues: KnownIssue[] = [
  { test: 'cert-upload/keys/read form lists keys', reason: '918', source: 'field report' },
  { test: 'mqtt/*', reason: 'all mqtt', source: '[guess]' },
  { test: 'mqtt/qos 2*', reason: 'qos2', source: '[BX-T]' },
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
    expect(outcomeOf('passed', undefined)).toBe('pass');
    expect(outcomeOf('failed', undefined)).toBe('fail');
    expect(outcomeOf('failed', k)).toBe('expected-fail');
    expect(outcomeOf('passed', k)).toBe('fixed');
    expect(outcomeOf('skipped', k)).toBe('skip');
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
      [{ test: 'tls-handshake/*', reason: 'x', source: 'y' }],
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
});
