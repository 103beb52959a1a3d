/**
 * `writeReport`: what `bx-hil run` writes at the end of a run into its `--out` directory:
 * `results.json` (the RunResults as given) and a self-contained `index.html` that embeds what
 * each test's evidence bundle (`<outDir>/<evidenceDir>/`) holds, within size limits. JUnit XML
 * is written by Vitest's own reporter, not here.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BundleLimits } from './bundle.ts';
import type { CompareOptions } from './compare.ts';
import { buildReportModel, renderReportHtml } from './html.ts';
import { redactValue } from './redact.ts';
import type { RunResults } from './types.ts';
import { parseRunResults } from './validate.ts';

/** The file name of a report's results. */
export const RESULTS_FILE = 'results.json';
/** The file name of a report's page. */
export const HTML_FILE = 'index.html';

/** Options of `writeReport`: the page title, a baseline to compare with (and how), evidence limits. */
export interface WriteReportOptions {
  /** Page title. Default `bx-hil report: <firmware>`. */
  title?: string;
  /** A previous run (e.g. `--baseline`): shown as extra matrix columns, with a change summary. */
  baseline?: RunResults;
  /** How to name the baseline in the change summary. Default: its firmware. */
  baselineLabel?: string;
  /** How to compare with the baseline (`allowRemoved`). */
  compare?: CompareOptions;
  /** Per-test limits on embedded evidence. Default 600 events and 200 KB of transcript. */
  limits?: BundleLimits;
}

/** Write `results.json` and `index.html` of a run into a report folder. */
export async function writeReport(
  outDir: string,
  results: RunResults,
  options: WriteReportOptions = {},
): Promise<{ resultsPath: string; htmlPath: string }> {
  // Validate at the edge: a runner bug should fail here, naming the field, not in the browser.
  parseRunResults(results, 'results passed to writeReport');
  if (options.baseline) parseRunResults(options.baseline, 'baseline passed to writeReport');
  // The one redaction pass over every string (errors quote the module) before results.json and the page.
  results = redactValue(results);
  if (options.baseline) options = { ...options, baseline: redactValue(options.baseline) };
  await mkdir(outDir, { recursive: true });
  const resultsPath = join(outDir, RESULTS_FILE);
  const htmlPath = join(outDir, HTML_FILE);
  await writeFile(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
  const model = await buildReportModel(outDir, results, options);
  await writeFile(htmlPath, renderReportHtml(model));
  return { resultsPath, htmlPath };
}
