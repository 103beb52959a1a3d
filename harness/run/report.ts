/**
 * The end of a run: hand the results to the report area (HTML, evidence index) and, with
 * `--baseline`, compare. Lines to print are returned, not printed (the CLI prints).
 */
import type { RunResults } from '../report/types.ts';
import { readRunResults } from '../report/validate.ts';

export interface FinishOptions {
  /** Path of an earlier results.json to compare with. */
  baseline?: string;
}

export interface FinishResult {
  lines: string[];
  /** The comparison found a regression (a test that passed in the baseline now fails). */
  regression: boolean;
}

export async function finishReport(_out: string, results: RunResults, options: FinishOptions = {}): Promise<FinishResult> {
  const lines: string[] = [];
  let regression = false;
  if (options.baseline) {
    const base = await readRunResults(options.baseline);
    const before = new Map(base.tests.map((t) => [`${t.id}`, t]));
    for (const t of results.tests) {
      const b = before.get(t.id);
      if (b && (b.outcome === 'pass' || b.outcome === 'fixed') && t.outcome === 'fail') {
        regression = true;
        lines.push(`regression: ${t.id} passed in the baseline and fails now: ${t.error ?? ''}`);
      }
    }
  }
  return { lines, regression };
}
