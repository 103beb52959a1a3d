/**
 * The end of a run: hand the results to the report area and, with `--baseline`, compare with
 * `compareResults`/`formatComparison` (harness/report/compare.ts). Lines to print are returned,
 * not printed (the CLI prints).
 */
import { compareResults, formatComparison } from '../report/compare.ts';
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
    const c = compareResults(base, results);
    lines.push(...formatComparison(c).split('\n'));
    regression = c.regressions.length > 0;
  }
  return { lines, regression };
}
