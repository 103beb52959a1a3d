/**
 * Build `RunResults` (report/types.ts) from the raw records a test runner gives us. The CLI maps
 * Vitest's `TestCase` objects into `RawTestRecord`s, so this file does not depend on Vitest.
 */
import type { DeviceInfo, KnownIssue, RunResults, TestResult } from '../report/index.ts';
import {
  differentFailureMessage,
  findKnownIssue,
  meetsExpectation,
  outcomeOf,
  type ExpectationOptions,
} from './known-issues.ts';
import { testIdFor, type SuiteTestMeta } from './meta.ts';
import { redactSecrets } from '../secrets.ts';

export interface RawTestRecord {
  /** Test file path (only the base name matters: it names the suite). */
  file: string;
  /** Describe path + title. */
  names: string[];
  status: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  /** Runs including retries (retryCount + 1). */
  attempts: number;
  /** Error messages, first first. */
  errors: string[];
  /** The note of `ctx.skip(note)`. */
  skipNote?: string;
  meta: SuiteTestMeta;
}

/** How a raw record reads once known issues are applied: one reading for results.json and the progress lines. */
export interface RecordJudgement {
  id: string;
  status: TestResult['status'];
  outcome: TestResult['outcome'];
  knownIssue?: KnownIssue;
  /** The failure in words (failed tests only); says "failed differently from the known issue" when it did. */
  error?: string;
}

export function judgeRecord(raw: RawTestRecord, issues: ReadonlyArray<KnownIssue>): RecordJudgement {
  const id = testIdFor(raw.file, raw.names);
  const m = raw.meta;
  // The fixture caught a known-issue failure so Vitest saw a pass: the raw status is a failure.
  const status = m.expectedFailure ? 'failed' : raw.status;
  const knownIssue = m.knownIssue ?? (status === 'failed' ? findKnownIssue(id, issues) : undefined);
  // Only the fixture's match excuses a failure: anything else (another error, a test timeout,
  // a failing hook) is a failure. A security failure is never excused by a known issue.
  const matched = m.expectedFailure !== undefined && !m.securityFailure;
  const j: RecordJudgement = { id, status, outcome: outcomeOf(status, knownIssue, matched) };
  if (knownIssue) j.knownIssue = knownIssue;
  let error = m.expectedFailure?.message ?? raw.errors[0];
  // The fixture already worded a mismatch it saw; a failure it did not see gets the same words here.
  if (status === 'failed' && knownIssue && !matched && !m.securityFailure && !m.knownIssueMismatch)
    error = differentFailureMessage(knownIssue, error ?? 'no error message');
  // Errors quote the module (a line it sent, a transcript tail): the one redaction pass first.
  if (status === 'failed' && error) j.error = redactSecrets(error);
  return j;
}

export function toTestResult(raw: RawTestRecord, device: DeviceInfo, issues: ReadonlyArray<KnownIssue>): TestResult {
  const m = raw.meta;
  const { id, status, outcome, knownIssue, error } = judgeRecord(raw, issues);
  const r: TestResult = {
    id,
    suite: id.split('/')[0]!,
    title: raw.names[raw.names.length - 1] ?? id,
    device: device.id,
    firmware: m.firmware ?? device.firmware,
    status,
    outcome,
    durationMs: Math.round(raw.durationMs),
    attempts: Math.max(1, raw.attempts),
  };
  if (m.securityFailure) r.securityFailure = true;
  if (m.scenario) r.scenario = m.scenario;
  if (m.verdict) r.verdict = m.verdict;
  if (knownIssue) r.knownIssue = knownIssue;
  if (error) r.error = error;
  if (status === 'skipped') r.skipReason = redactSecrets(m.skipReason ?? raw.skipNote ?? 'skipped');
  if (m.evidenceDir) r.evidenceDir = m.evidenceDir;
  // A skipped test made the module do nothing worth a floor.
  if (m.floor && status !== 'skipped') {
    r.floorMs = m.floor.floorMs;
    r.floorParts = m.floor.parts;
    r.actualMs = m.floor.actualMs;
  }
  return r;
}

/** Merge per-device results into one run (devices concatenated, tests concatenated). */
export function mergeRunResults(runs: ReadonlyArray<RunResults>, harnessVersion: string): RunResults {
  const started = runs.map((r) => r.startedAt).sort()[0] ?? new Date().toISOString();
  const finished =
    runs
      .map((r) => r.finishedAt)
      .sort()
      .pop() ?? new Date().toISOString();
  return {
    schema: 'bx-hil/results@1',
    startedAt: started,
    finishedAt: finished,
    harnessVersion,
    devices: runs.flatMap((r) => r.devices),
    tests: runs.flatMap((r) => r.tests),
  };
}

export interface RunSummary {
  total: number;
  byOutcome: Record<TestResult['outcome'], number>;
  securityFailures: number;
  /** Every outcome meets its expectation (the exit code is 0). */
  ok: boolean;
}

export function summarize(results: RunResults, options: ExpectationOptions = {}): RunSummary {
  const byOutcome = { pass: 0, fail: 0, 'expected-fail': 0, fixed: 0, skip: 0 };
  let securityFailures = 0;
  let ok = true;
  for (const t of results.tests) {
    byOutcome[t.outcome]++;
    if (t.securityFailure) securityFailures++;
    if (!meetsExpectation(t.outcome, options)) ok = false;
  }
  return { total: results.tests.length, byOutcome, securityFailures, ok };
}

/** One line for the end of a run, e.g. `61 passed, 0 failed, 2 expected failures, 0 fixed, 3 skipped`. */
export function summaryLine(s: RunSummary): string {
  const parts = [
    `${s.byOutcome.pass} passed`,
    `${s.byOutcome.fail} failed`,
    `${s.byOutcome['expected-fail']} expected failure${s.byOutcome['expected-fail'] === 1 ? '' : 's'}`,
    `${s.byOutcome.fixed} fixed`,
    `${s.byOutcome.skip} skipped`,
  ];
  if (s.securityFailures > 0)
    parts.push(`${s.securityFailures} SECURITY FAILURE${s.securityFailures === 1 ? '' : 'S'}`);
  return parts.join(', ');
}

/**
 * Why a run that ran no test must not pass, or undefined when a test ran. A test
 * "ran" when it passed or failed; an empty selection and one whose every test was skipped are
 * both empty runs. `filters`: the selecting flags as typed (`--test "S5 "`, `--suite mqtt`).
 */
export function emptyRunProblem(s: RunSummary, filters: ReadonlyArray<string>): string | undefined {
  if (s.total - s.byOutcome.skip > 0) return undefined;
  const by = filters.length > 0 ? filters.join(' ') : 'no filter';
  const what =
    s.total === 0
      ? filters.length > 0
        ? `${by} matched no test`
        : 'no test was found'
      : `the ${s.total} test${s.total === 1 ? '' : 's'} selected (${by}) ${s.total === 1 ? 'was' : 'were all'} skipped (the SKIP lines say why)`;
  return `no test ran: ${what}; fix the filter or the target, or pass --allow-empty where an empty run is expected`;
}
