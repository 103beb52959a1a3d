/**
 * Expectations per firmware (issue 6): a profile or a rig file lists known issues; a known
 * issue that fails is `expected-fail`, one that passes is `fixed`, any other failure is `fail`.
 *
 * Policy (documented in docs/suites.md): `fixed` meets its expectation by default, so the run
 * still exits 0 (the news is reported, not punished); `strictFixed` makes it a failure, for
 * release gates that want the known-issue list kept exact.
 */
import type { KnownIssue, Outcome } from '../report/types.ts';

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

/** The outcome of a raw status once the known issue (if any) is applied. */
export function outcomeOf(status: 'passed' | 'failed' | 'skipped', knownIssue: KnownIssue | undefined): Outcome {
  if (status === 'skipped') return 'skip';
  if (status === 'passed') return knownIssue ? 'fixed' : 'pass';
  return knownIssue ? 'expected-fail' : 'fail';
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

/** Merge issue lists (profile first, then rig file); a later entry for the same test wins. */
export function mergeKnownIssues(...lists: ReadonlyArray<ReadonlyArray<KnownIssue> | undefined>): KnownIssue[] {
  const byTest = new Map<string, KnownIssue>();
  for (const list of lists) for (const issue of list ?? []) byTest.set(issue.test, issue);
  return [...byTest.values()];
}
