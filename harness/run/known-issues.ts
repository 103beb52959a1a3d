/**
 * Expectations per firmware: a profile or a lab file lists known issues; a known
 * issue that fails AS IT STATES (`expects`, harness/known-issue.ts) is `expected-fail`, one that
 * passes is `fixed`, any other failure is `fail` (a known issue excuses only the
 * failure it names, in the manner of pytest's `xfail(raises=…)`).
 *
 * Policy (documented in docs/suites.md): `fixed` meets its expectation by default, so the run
 * still exits 0 (the news is reported, not punished); `strictFixed` makes it a failure, for
 * release gates that want the known-issue list kept exact.
 */
import { HarnessError } from '../errors.ts';
import type { KnownIssue, KnownIssueExpectation, Outcome } from '../report/index.ts';

/** The known issue covering a test id: an exact id, or a prefix ending in `*`. Exact wins. */
export function findKnownIssue(testId: string, issues: ReadonlyArray<KnownIssue>): KnownIssue | undefined {
  const exact = issues.find((i) => i.test === testId);
  if (exact) return exact;
  let best: KnownIssue | undefined;
  for (const issue of issues) {
    if (!issue.test.endsWith('*')) continue;
    const prefix = issue.test.slice(0, -1);
    if (testId.startsWith(prefix) && (!best || prefix.length > best.test.length - 1)) best = issue;
  }
  return best;
}

/**
 * The outcome of a raw status once the known issue (if any) is applied. `matched`: the failure
 * was the one the known issue expects (`matchFailure`); a failure that was not is a `fail`.
 */
export function outcomeOf(
  status: 'passed' | 'failed' | 'skipped',
  knownIssue: KnownIssue | undefined,
  matched: boolean,
): Outcome {
  if (status === 'skipped') return 'skip';
  if (status === 'passed') return knownIssue ? 'fixed' : 'pass';
  return knownIssue && matched ? 'expected-fail' : 'fail';
}

/** What is known about a failure: the thrown value and the rig verdict the test had recorded. */
export interface FailureFacts {
  message: string;
  /** The error's class name (`TypeError`, `CmeError`, `AssertionError`), when it is an Error. */
  name?: string;
  /** A `HarnessError`'s code (or any error's string `code`). */
  code?: string;
  /** `+CME ERROR: <n>` of a `BXHIL_CME` error. */
  cme?: number;
  /** The rig verdict code recorded for the test before it failed. */
  verdict?: string;
}

/** Read the facts off a thrown value. Only the value itself counts, not its `cause` (pytest's `raises`). */
export function failureFacts(err: unknown, verdictCode?: string): FailureFacts {
  const facts: FailureFacts = { message: err instanceof Error ? err.message : String(err) };
  if (err instanceof Error) facts.name = err.name;
  const o = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; cmeCode?: unknown };
  if (typeof o.code === 'string') facts.code = o.code;
  if (facts.code === 'BXHIL_CME' && typeof o.cmeCode === 'number') facts.cme = o.cmeCode;
  if (verdictCode !== undefined) facts.verdict = verdictCode;
  return facts;
}

/** Whether a failure is the one expected: every field the expectation gives must match. */
export function matchesExpectation(expects: KnownIssueExpectation, facts: FailureFacts): boolean {
  // An expectation without a field would match everything; loaders refuse it, and so does this.
  if (expects.code === undefined && expects.verdict === undefined && expects.message === undefined) return false;
  if (expects.code !== undefined && facts.code !== expects.code) return false;
  if (expects.cme !== undefined && facts.cme !== expects.cme) return false;
  if (expects.verdict !== undefined && facts.verdict !== expects.verdict) return false;
  if (expects.message !== undefined && !new RegExp(expects.message).test(facts.message)) return false;
  return true;
}

/** An expectation in words: `BXHIL_CME (+CME ERROR: 918)`, `verdict NO_SNI and a message matching /…/`. */
export function describeExpectation(expects: KnownIssueExpectation | undefined): string {
  if (!expects) return 'nothing stated';
  const parts: string[] = [];
  if (expects.code !== undefined)
    parts.push(expects.cme !== undefined ? `${expects.code} (+CME ERROR: ${expects.cme})` : expects.code);
  if (expects.verdict !== undefined) parts.push(`verdict ${expects.verdict}`);
  if (expects.message !== undefined) parts.push(`a message matching /${expects.message}/`);
  return parts.length > 0 ? parts.join(' and ') : 'nothing stated';
}

/** A failure in words, first line of the message only: `TypeError: x is undefined`, `BXHIL_CME (+CME ERROR: 917): …`. */
export function describeFailure(facts: FailureFacts): string {
  const kind = facts.code
    ? facts.cme !== undefined
      ? `${facts.code} (+CME ERROR: ${facts.cme})`
      : facts.code
    : (facts.name ?? 'thrown value');
  const verdict = facts.verdict !== undefined ? ` [verdict ${facts.verdict}]` : '';
  return `${kind}${verdict}: ${facts.message.split('\n')[0]}`;
}

/** The words every sink carries for a known-issue test that failed another way. */
export const DIFFERENT_FAILURE = 'failed differently from the known issue';

/** `failed differently from the known issue (<source>): it expects <expectation>; the test failed with <actual>`. */
export function differentFailureMessage(issue: KnownIssue, actual: string): string {
  return `${DIFFERENT_FAILURE} (${issue.source}): it expects ${describeExpectation(issue.expects)}; the test failed with ${actual}`;
}

/** Thrown in place of a known-issue test's failure that is not the expected one; `cause` is the original. */
export class KnownIssueMismatchError extends HarnessError {
  readonly knownIssue: KnownIssue;
  readonly expected: string;
  readonly actual: string;

  constructor(issue: KnownIssue, actual: FailureFacts, options?: { cause?: unknown }) {
    const described = describeFailure(actual);
    super('BXHIL_KNOWN_ISSUE_MISMATCH', differentFailureMessage(issue, described), options);
    this.knownIssue = issue;
    this.expected = describeExpectation(issue.expects);
    this.actual = described;
  }
}

/** The fixture's decision on a known-issue test's failure. */
export type FailureJudgement =
  | { matched: true; expectedFailure: { message: string; code?: string } }
  | { matched: false; mismatch: { expected: string; actual: string }; error: KnownIssueMismatchError };

/** Decide whether `err` is the failure `issue` expects (`verdictCode`: the test's recorded rig verdict). */
export function judgeFailure(issue: KnownIssue, err: unknown, verdictCode?: string): FailureJudgement {
  const facts = failureFacts(err, verdictCode);
  if (matchesExpectation(issue.expects ?? {}, facts))
    return { matched: true, expectedFailure: { message: facts.message, ...(facts.code ? { code: facts.code } : {}) } };
  const error = new KnownIssueMismatchError(issue, facts, { cause: err });
  return { matched: false, mismatch: { expected: error.expected, actual: error.actual }, error };
}

export interface ExpectationOptions {
  /** Count `fixed` as not meeting its expectation. Default false. */
  strictFixed?: boolean;
}

/** Whether an outcome meets its expectation (what decides the exit code). */
export function meetsExpectation(outcome: Outcome, options: ExpectationOptions = {}): boolean {
  switch (outcome) {
    case 'pass':
    case 'expected-fail':
    case 'skip':
      return true;
    case 'fixed':
      return !options.strictFixed;
    case 'fail':
      return false;
  }
}

/** Merge issue lists (profile first, then lab file); a later entry for the same test wins. */
export function mergeKnownIssues(...lists: ReadonlyArray<ReadonlyArray<KnownIssue> | undefined>): KnownIssue[] {
  const byTest = new Map<string, KnownIssue>();
  for (const list of lists) for (const issue of list ?? []) byTest.set(issue.test, issue);
  return [...byTest.values()];
}
