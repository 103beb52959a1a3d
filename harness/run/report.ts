/**
 * The end of a run: hand the results to the report area and, with `--baseline`, compare with
 * `compareResults`/`formatComparison` (harness/report/compare.ts). Lines to print are returned,
 * not printed (the CLI prints).
 */
import {
  compareResults,
  formatComparison,
  type CompareOptions,
  type RunResults,
  readRunResults,
  writeReport,
} from '../report/index.ts';

export interface FinishOptions {
  /** Path of an earlier results.json to compare with. */
  baseline?: string;
  /** How to compare (`allowRemoved`: `--allow-removed`). */
  compare?: CompareOptions;
}

export interface FinishResult {
  lines: string[];
  /** The comparison found a regression (harness/report/compare.ts: now fails, removed, new and failing). */
  regression: boolean;
}

/** Write results.json + index.html into `out` (writeReport), then compare with the baseline if given. */
export async function finishReport(
  out: string,
  results: RunResults,
  options: FinishOptions = {},
): Promise<FinishResult> {
  const lines: string[] = [];
  let regression = false;
  const base = options.baseline ? await readRunResults(options.baseline) : undefined;
  const compare = options.compare ?? {};
  const written = await writeReport(out, results, base ? { baseline: base, compare } : {});
  if (base) {
    const c = compareResults(base, results, compare);
    lines.push(...formatComparison(c).split('\n'));
    regression = c.regressions.length > 0;
  }
  lines.push(`report: ${written.htmlPath}`);
  return { lines, regression };
}
