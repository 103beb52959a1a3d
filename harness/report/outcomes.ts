/**
 * The outcome vocabulary, said once: the order the outcomes are listed in and each one's words
 * in the console line (`bx-hil run`), the report page (shipped in its JSON model, so the page
 * script has no copy) and the comparison's sentences, and which outcomes count as passing.
 */
import type { Outcome } from './types.ts';

/** How an outcome reads: the console tag, the matrix word and its style. */
export interface OutcomeLabel {
  /** The console's tag, e.g. `XFAIL` (`bx-hil run` pads it to one width). */
  tag: string;
  /** The matrix cell's word, e.g. `expected`. */
  cell: string;
  /** The detail view's sentence, e.g. `failed as expected (known issue)`. */
  long: string;
  /** A state in a comparison's sentence: "was <state> on 2.6.2". */
  state: string;
}

/** Every outcome in display order, with its words. */
export const OUTCOME_LABELS: Readonly<Record<Outcome, OutcomeLabel>> = Object.freeze({
  pass: { tag: 'PASS', cell: 'pass', long: 'passed', state: 'passing' },
  fail: { tag: 'FAIL', cell: 'FAIL', long: 'failed', state: 'failing' },
  'expected-fail': {
    tag: 'XFAIL',
    cell: 'expected',
    long: 'failed as expected (known issue)',
    state: 'failing as a known issue',
  },
  fixed: {
    tag: 'FIXED',
    cell: 'fixed',
    long: 'passed although a known issue says it fails (looks fixed)',
    state: 'passing (a known issue looks fixed)',
  },
  skip: { tag: 'SKIP', cell: 'skip', long: 'skipped', state: 'skipped' },
});

/** The outcomes in display order. */
export const OUTCOMES: readonly Outcome[] = Object.freeze(Object.keys(OUTCOME_LABELS) as Outcome[]);

/** Outcomes where the test passed (with or without a known issue that expected otherwise). */
export const PASSING_OUTCOMES: readonly Outcome[] = Object.freeze(['pass', 'fixed'] as const);

/** Outcomes where the test failed the way a known issue says it does. */
export const KNOWN_FAILURE_OUTCOMES: readonly Outcome[] = Object.freeze(['expected-fail'] as const);

/** A count per outcome, all zero. */
export function zeroCounts(): Record<Outcome, number> {
  return Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
}
