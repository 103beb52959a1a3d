/**
 * `bx-hil merge <results.json>... --out <dir> [--baseline <results.json>] [--no-evidence]`
 *
 * Joins the runs of several hosts, rigs, shards or firmware builds into one report
 * (harness/report/merge.ts): `results.json` (feed it to `bx-hil compare`), `index.html` (the
 * same matrix as a run's, tests x devices), `junit.xml` (one CI check for the whole lab),
 * `merge.json` (the inputs and the conflicts) and each input's evidence under `inputs/<label>/`.
 *
 * Exit codes: 0 every merged outcome meets its expectation and no test was in two inputs; 1 a
 * test failed, a regression against `--baseline`, or the same test on the same device in two
 * inputs; 2 bad input (a missing or malformed input, a missing evidence folder, --out an
 * input's own folder), named in one line with the file and the field.
 */
import { writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { checkOutputDir, type OutputMarker } from '../files.ts';
import * as reporting from '../report/index.ts';
import { finishReport, summarize, summaryLine } from '../run/index.ts';

interface MergeFlags {
  out?: string;
  baseline?: string;
  evidence: boolean;
  strictFixed?: boolean;
}

/** A merged report is a bx-hil report: the same marker as `bx-hil run --out` (docs/report.md). */
const REPORT_MARKER: OutputMarker = {
  name: '.bx-hil-report',
  text: 'This folder is a bx-hil report. bx-hil run --out / bx-hil merge --out clear what an earlier one wrote here (docs/report.md).',
  what: 'an earlier bx-hil report',
};
const MERGE_ENTRIES: readonly string[] = [
  reporting.INPUTS_DIR,
  'results.json',
  'junit.xml',
  'index.html',
  'merge.json',
];

export async function mergeCommand(files: string[], flags: MergeFlags): Promise<number> {
  if (!flags.out) throw new ConfigError('--out', flags.out, '--out <dir> is required: the folder of the merged report');
  if (files.length === 0)
    throw new ConfigError('<results.json>', files, 'give at least one results.json (e.g. reports/*/results.json)');
  const out = resolve(flags.out);
  // The merge clears its own entries of --out first: an input or the baseline among them would be lost.
  for (const [field, f] of [...files.map((f) => ['<results.json>', f]), ['--baseline', flags.baseline]]) {
    if (f === undefined) continue;
    const rel = relative(out, resolve(f));
    if (!rel.startsWith('..') && !isAbsolute(rel) && MERGE_ENTRIES.includes(rel.split(/[\\/]/)[0]!))
      throw new ConfigError(
        field!,
        f,
        `${f} is inside --out ${flags.out}, which the merge clears; merge into a new folder (e.g. --out merged)`,
      );
  }
  const labels = reporting.inputLabels(files);
  const inputs = await Promise.all(
    files.map(async (f, i) => {
      const input = await reporting.readMergeInput(f, labels[i]!, { evidence: flags.evidence });
      return flags.evidence ? input : reporting.withoutEvidence(input);
    }),
  );
  const merged = reporting.mergeRuns(inputs);
  checkOutputDir(out, '--out', { marker: REPORT_MARKER, clear: MERGE_ENTRIES });
  const absent = await reporting.copyEvidence(out, merged.copies);
  if (absent > 0)
    merged.notes.push(
      `${absent} evidence bundle(s) listed in the inputs were not in their evidence folders; the report says so per test`,
    );

  for (const i of merged.inputs)
    process.stdout.write(
      `merge: ${i.file} (${i.label}): ${i.tests} tests on ${i.devices.join(', ') || 'no device'} (bx-hil ${i.harnessVersion})\n`,
    );
  for (const n of merged.notes) process.stdout.write(`merge: note: ${n}\n`);
  for (const c of merged.conflicts) process.stdout.write(`merge: CONFLICT (${c.kind}): ${c.message}\n`);

  const report = await finishReport(out, merged.results, flags.baseline ? { baseline: flags.baseline } : {});
  await writeFile(
    join(out, 'junit.xml'),
    reporting.junitXml(merged.results, { name: 'bx-hil merged', strictFixed: flags.strictFixed ?? false }),
  );
  await writeFile(
    join(out, 'merge.json'),
    `${JSON.stringify({ schema: 'bx-hil/merge@1', inputs: merged.inputs, conflicts: merged.conflicts, notes: merged.notes }, null, 2)}\n`,
  );
  for (const line of report.lines) process.stdout.write(`${line}\n`);
  const summary = summarize(merged.results, { strictFixed: flags.strictFixed ?? false });
  const columns = merged.results.devices.length;
  process.stdout.write(
    `merged ${inputs.length} input(s) into ${columns} device column(s): ${summaryLine(summary)}${merged.conflicts.length > 0 ? `; ${merged.conflicts.length} conflict(s)` : ''}\n`,
  );
  const duplicates = merged.conflicts.some((c) => c.kind === 'duplicate-test');
  return summary.ok && !report.regression && !duplicates ? 0 : 1;
}

export function register(program: Command): void {
  program
    .command('merge')
    .description(
      'join the results.json of several hosts, rigs, shards or firmware builds into one report (tests x devices)',
    )
    .argument('<results.json...>', 'results.json files, each in its run report folder (evidence beside it)')
    .requiredOption(
      '--out <dir>',
      'folder of the merged report (results.json, index.html, junit.xml, merge.json, inputs/)',
    )
    .option(
      '--baseline <results.json>',
      'compare with an earlier run (e.g. the last merged report of main); a regression makes the exit code 1',
    )
    .option('--no-evidence', 'merge the results only (inputs copied without their evidence folders)')
    .option('--strict-fixed', 'treat a known issue that passes ("fixed") as a failure')
    .action(async (files: string[], flags: MergeFlags) => {
      process.exitCode = await mergeCommand(files, flags);
    });
}
