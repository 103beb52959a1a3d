/**
 * `bx-hil compare <baseline.json> <candidate.json> [--json]`: what changed between two runs, in
 * words a release manager reads (harness/report/compare.ts).
 *
 * Exit codes: 0 no regression, 1 at least one regression (a test that now fails, a test that
 * passed in the baseline and did not run in the candidate unless `--allow-removed`, a new test
 * that fails, a new security failure), 2 a file is unreadable or not a valid results.json (the
 * message names the file and the field).
 */
import type { Command } from 'commander';
import { compareResults, formatComparison, type RunResults, readRunResults } from '../report/index.ts';
import { oneLine, resultsForConsole, writeOut } from './console.ts';

interface CompareFlags {
  json?: boolean;
  baselineLabel?: string;
  candidateLabel?: string;
  allowRemoved?: boolean;
}

export function register(program: Command): void {
  program
    .command('compare')
    .description(
      'List regressions, fixes, new and removed tests between two results.json files; exit 1 on a regression',
    )
    .argument('<baseline>', 'results.json of the reference run (e.g. the previous firmware)')
    .argument('<candidate>', 'results.json of the run under review (e.g. the new firmware)')
    .option('--json', 'print the comparison as JSON instead of text')
    .option('--baseline-label <text>', 'name of the baseline in the text (default: its firmware version)')
    .option('--candidate-label <text>', 'name of the candidate in the text (default: its firmware version)')
    .option(
      '--allow-removed',
      'a test that passed in the baseline and did not run in the candidate is not a regression (tests removed on purpose)',
    )
    .action(async (baselinePath: string, candidatePath: string, flags: CompareFlags) => {
      // Text mode: every string from the files is made one line for the console (console.ts).
      const [baseline, candidate] = (
        await Promise.all([readRunResults(baselinePath), readRunResults(candidatePath)])
      ).map((r) => (flags.json ? r : resultsForConsole(r))) as [RunResults, RunResults];
      const comparison = compareResults(baseline, candidate, { allowRemoved: flags.allowRemoved ?? false });
      if (flags.json) process.stdout.write(`${JSON.stringify(comparison, null, 2)}\n`);
      else
        writeOut(
          `${formatComparison(comparison, {
            ...(flags.baselineLabel !== undefined ? { baselineLabel: oneLine(flags.baselineLabel) } : {}),
            ...(flags.candidateLabel !== undefined ? { candidateLabel: oneLine(flags.candidateLabel) } : {}),
          })}\n`,
        );
      process.exitCode = comparison.regressions.length > 0 ? 1 : 0;
    });
}
