/**
 * Merging runs (`bx-hil merge`): the results.json of several hosts, rigs, shards or firmware
 * builds become one run, so one report shows the whole lab. The merged results are an ordinary
 * `bx-hil/results@1` file: the report writers (write.ts, html.ts) draw it and `bx-hil compare`
 * reads it.
 *
 * - Columns are devices. Inputs that name the same device id with the same firmware fold into
 *   one column (the shards of one device, or identical benches that share a device id); their
 *   URIs are listed together. The same id with another firmware gets its own column, renamed
 *   `<id>@<firmware>`, so a module re-flashed between two runs shows both builds side by side.
 * - Conflicts are named, never silently dropped: the same test on the same device in two inputs
 *   (the first input's result is kept, the other is named with its outcome), inputs from
 *   different bx-hil versions, and device columns that ran different suites.
 * - Evidence: each input's bundles are copied beside the merged report under
 *   `inputs/<label>/`, and `evidenceDir` is rewritten to point there. An input whose evidence
 *   folder is missing (results.json copied without its `evidence/`) is bad input.
 *
 * The merge itself (`mergeRuns`) is pure; `readMergeInput` reads and checks one input at the
 * edge; `copyEvidence` does the copying; `junitXml` writes the merged results as JUnit for a CI
 * check.
 */
import { cp, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { ResultsFileError } from './errors.ts';
import type { DeviceInfo, RunResults, TestResult } from './types.ts';
import { RESULTS_SCHEMA, readRunResults } from './validate.ts';

/** One input of a merge: a results.json and the report folder it sits in. */
export interface MergeInput {
  /** The path as given (for messages). */
  file: string;
  /** The folder of the file: evidenceDir paths are relative to it. */
  dir: string;
  /** Unique, file-name-safe name of the input (its folder's name), e.g. `bench-1`. */
  label: string;
  results: RunResults;
}

/** Why two inputs of `bx-hil merge` disagree. */
export type MergeConflictKind = 'duplicate-test' | 'harness-version' | 'suites';

/** Two inputs of `bx-hil merge` that disagree, and how. */
export interface MergeConflict {
  kind: MergeConflictKind;
  /** One line, naming the inputs and what to do. */
  message: string;
  /** The input files involved. */
  files: string[];
}

/** The merged run and the conflicts found. */
export interface MergeResult {
  results: RunResults;
  conflicts: MergeConflict[];
  /** What the merge did that a reader should know (columns renamed, bundles absent). */
  notes: string[];
  /** Evidence bundles to copy: from (absolute) to (relative to the merged report folder). */
  copies: Array<{ from: string; to: string }>;
  /** Per input: devices it contributed and how many tests. */
  inputs: Array<{ file: string; label: string; devices: string[]; tests: number; harnessVersion: string }>;
}

/** Suites the runner itself adds (rig commands, preflight, errors outside a test): not suites the user chose. */
const SYNTHETIC_SUITES = new Set(['rig', 'preflight', 'run']);

/** Folder under the merged report that holds each input's evidence. */
export const INPUTS_DIR = 'inputs';

function safeLabel(s: string): string {
  return (
    s
      .replace(/[^A-Za-z0-9._-]+/g, '_')
      .replace(/^[._]+|_+$/g, '')
      .slice(0, 60) || 'input'
  );
}

/** Unique labels from the inputs' folder names (`reports/bench-1/results.json` -> `bench-1`). */
export function inputLabels(files: ReadonlyArray<string>): string[] {
  const used = new Set<string>();
  return files.map((f) => {
    const abs = resolve(f);
    const base = basename(abs) === 'results.json' ? basename(dirname(abs)) : basename(abs).replace(/\.json$/i, '');
    const label = safeLabel(base);
    let unique = label;
    for (let n = 2; used.has(unique); n++) unique = `${label}-${n}`;
    used.add(unique);
    return unique;
  });
}

/** Natural order of test ids within the merged run (S2 before S10), so shards interleave back into one list. */
const byId = new Intl.Collator('en', { numeric: true }).compare;

/**
 * Merges the inputs (in the order given; on a duplicate the earlier input wins). Pure: it plans
 * the evidence copies but does not touch the file system.
 */
export function mergeRuns(inputs: ReadonlyArray<MergeInput>): MergeResult {
  const conflicts: MergeConflict[] = [];
  const notes: string[] = [];
  const copies: MergeResult['copies'] = [];

  // Columns: a device id seen with more than one firmware is split into <id>@<firmware>.
  const firmwareOf = new Map<string, Set<string>>();
  for (const inp of inputs)
    for (const d of inp.results.devices) {
      const set = firmwareOf.get(d.id) ?? new Set<string>();
      set.add(d.firmware);
      firmwareOf.set(d.id, set);
    }
  const split = new Set([...firmwareOf].filter(([, fw]) => fw.size > 1).map(([id]) => id));
  for (const id of split)
    notes.push(
      `device ${id} ran ${[...firmwareOf.get(id)!].join(' and ')} in different inputs: one column per firmware (${[
        ...firmwareOf.get(id)!,
      ]
        .map((fw) => `${id}@${fw}`)
        .join(', ')})`,
    );

  const devices = new Map<string, DeviceInfo & { uris: string[] }>();
  const seen = new Map<string, { input: MergeInput; test: TestResult }>();
  const tests: TestResult[] = [];
  const suitesOf = new Map<string, Set<string>>();
  const perInput: MergeResult['inputs'] = [];

  for (const inp of inputs) {
    const deviceFirmware = new Map(inp.results.devices.map((d) => [d.id, d.firmware]));
    const columnOf = (id: string, firmware: string): string => (split.has(id) ? `${id}@${firmware}` : id);
    const contributed = new Set<string>();
    for (const d of inp.results.devices) {
      const col = columnOf(d.id, d.firmware);
      contributed.add(col);
      const have = devices.get(col);
      if (!have) {
        const info: DeviceInfo & { uris: string[] } = { id: col, uri: d.uri, firmware: d.firmware, uris: [d.uri] };
        if (d.model) info.model = d.model;
        devices.set(col, info);
      } else {
        if (!have.uris.includes(d.uri)) have.uris.push(d.uri);
        if (!have.model && d.model) have.model = d.model;
      }
    }
    let count = 0;
    for (const t of inp.results.tests) {
      // A test of a device the input does not list keeps its own firmware to pick the column.
      const col = columnOf(t.device, deviceFirmware.get(t.device) ?? t.firmware);
      const key = `${col}\u0000${t.id}`;
      const first = seen.get(key);
      if (first) {
        conflicts.push({
          kind: 'duplicate-test',
          files: [first.input.file, inp.file],
          message: `${t.id} on ${col} is in two inputs: ${first.input.file} (${first.test.outcome}) and ${inp.file} (${t.outcome}); the report keeps the first. Merge each shard once, or give different benches different device ids in their lab files`,
        });
        continue;
      }
      const merged: TestResult = { ...t, device: col };
      if (t.evidenceDir !== undefined) {
        const to = [INPUTS_DIR, inp.label, ...normalize(t.evidenceDir).split(sep)].join('/');
        copies.push({ from: resolve(inp.dir, t.evidenceDir), to });
        merged.evidenceDir = to;
      }
      seen.set(key, { input: inp, test: merged });
      tests.push(merged);
      count++;
      if (!devices.has(col)) devices.set(col, { id: col, uri: '', firmware: t.firmware, uris: [] });
      contributed.add(col);
      const suites = suitesOf.get(col) ?? new Set<string>();
      if (!SYNTHETIC_SUITES.has(t.suite)) suites.add(t.suite);
      suitesOf.set(col, suites);
    }
    perInput.push({
      file: inp.file,
      label: inp.label,
      devices: [...contributed],
      tests: count,
      harnessVersion: inp.results.harnessVersion,
    });
  }

  const versions = new Map<string, string[]>();
  for (const inp of inputs)
    versions.set(inp.results.harnessVersion, [...(versions.get(inp.results.harnessVersion) ?? []), inp.file]);
  if (versions.size > 1)
    conflicts.push({
      kind: 'harness-version',
      files: inputs.map((i) => i.file),
      message: `the inputs come from different bx-hil versions: ${[...versions]
        .map(([v, files]) => `${v} (${files.join(', ')})`)
        .join('; ')}; outcomes may not be comparable: rerun the older benches with one version`,
    });

  const suiteSets = [...devices.keys()].map((col) => [col, [...(suitesOf.get(col) ?? [])].sort()] as const);
  const shapes = new Set(suiteSets.map(([, s]) => s.join(',')));
  if (shapes.size > 1)
    conflicts.push({
      kind: 'suites',
      files: inputs.map((i) => i.file),
      message: `the device columns ran different suites, so an empty cell may mean "not run there": ${suiteSets
        .map(([col, s]) => `${col}: ${s.length > 0 ? s.join(', ') : 'no suite'}`)
        .join('; ')}`,
    });

  tests.sort((a, b) => byId(a.suite, b.suite) || byId(a.id, b.id));
  const startedAt = inputs.map((i) => i.results.startedAt).sort()[0] ?? new Date(0).toISOString();
  const finishedAt =
    inputs
      .map((i) => i.results.finishedAt)
      .sort()
      .pop() ?? startedAt;
  const results: RunResults = {
    schema: RESULTS_SCHEMA,
    startedAt,
    finishedAt,
    harnessVersion: [...versions.keys()].join(' + '),
    devices: [...devices.values()].map(({ uris, ...d }) => ({ ...d, uri: uris.join(' + ') })),
    tests,
  };
  return { results, conflicts, notes, copies, inputs: perInput };
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Reads and checks one input (bad input is a `ResultsFileError`, exit 2, naming the file and the
 * field): the file must be a valid results.json; with `evidence`, every evidenceDir must stay
 * inside the input's folder and its evidence folder (the bundle's parent, e.g. `evidence/`) must
 * exist. A single bundle missing inside an existing evidence folder is not an error: the report
 * says "no evidence bundle was written for this test".
 */
export async function readMergeInput(file: string, label: string, options: { evidence: boolean }): Promise<MergeInput> {
  const results = await readRunResults(file);
  const dir = dirname(resolve(file));
  if (options.evidence) {
    const checked = new Map<string, boolean>();
    for (const [i, t] of results.tests.entries()) {
      if (t.evidenceDir === undefined) continue;
      const field = `tests[${i}].evidenceDir`;
      const abs = resolve(dir, t.evidenceDir);
      const inside = relative(dir, abs);
      if (inside === '' || inside.startsWith('..') || isAbsolute(inside))
        throw new ResultsFileError(
          file,
          field,
          t.evidenceDir,
          `${file}: field "${field}" is ${JSON.stringify(t.evidenceDir)}, outside the report folder ${dir}; evidence paths must be relative and inside it`,
        );
      const parent = dirname(abs);
      let ok = checked.get(parent);
      if (ok === undefined) checked.set(parent, (ok = await isDir(parent)));
      if (!ok)
        throw new ResultsFileError(
          file,
          field,
          t.evidenceDir,
          `${file}: field "${field}" is ${JSON.stringify(t.evidenceDir)}, but its evidence folder ${parent} is missing; copy the whole report folder of that run (results.json with its evidence), or merge with --no-evidence`,
        );
    }
  }
  return { file, dir, label, results };
}

/** Results without evidence paths (`--no-evidence`). */
export function withoutEvidence(input: MergeInput): MergeInput {
  return {
    ...input,
    results: { ...input.results, tests: input.results.tests.map(({ evidenceDir: _, ...t }) => t) },
  };
}

/** Copies the planned bundles into `outDir`; returns how many were absent in their input (noted, not fatal). */
export async function copyEvidence(outDir: string, copies: MergeResult['copies']): Promise<number> {
  let absent = 0;
  for (const c of copies) {
    if (!(await isDir(c.from))) {
      absent++;
      continue;
    }
    await cp(c.from, join(outDir, c.to), { recursive: true, force: true });
  }
  return absent;
}

/** XML 1.0 text: the five entities escaped, characters XML cannot carry dropped. */
function xml(s: string): string {
  return s
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[ch]!);
}

/**
 * The results as JUnit XML, one `<testsuite>` per suite and device, for the CI's test view (one
 * check for the whole lab). A failure is an outcome that misses its expectation (`fail`, and
 * `fixed` with `strictFixed`); an expected failure passes with its known issue in `system-out`;
 * a skip is `<skipped>` with its reason.
 *
 * Hand-written: the only JUnit writer among the dependencies is tap-junit, which takes TAP (one
 * flat suite, no device grouping); a new XML dependency for these few elements is not worth it.
 */
export function junitXml(results: RunResults, options: { name?: string; strictFixed?: boolean } = {}): string {
  const groups = new Map<string, TestResult[]>();
  for (const t of results.tests) {
    const key = `${t.suite} [${t.device}]`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  const failed = (t: TestResult): boolean =>
    t.outcome === 'fail' || (options.strictFixed === true && t.outcome === 'fixed');
  const secs = (ms: number): string => (ms / 1000).toFixed(3);
  const total = { tests: 0, failures: 0, skipped: 0, ms: 0 };
  const suites: string[] = [];
  for (const [name, list] of groups) {
    const f = list.filter(failed).length;
    const s = list.filter((t) => t.outcome === 'skip').length;
    const ms = list.reduce((a, t) => a + t.durationMs, 0);
    total.tests += list.length;
    total.failures += f;
    total.skipped += s;
    total.ms += ms;
    const cases = list.map((t) => {
      const caseName = t.id.slice(t.suite.length + 1) || t.title;
      const open = `    <testcase classname="${xml(`${t.suite}.${t.device}`)}" name="${xml(caseName)}" time="${secs(t.durationMs)}"`;
      const body: string[] = [];
      if (failed(t)) {
        const what =
          t.outcome === 'fixed' ? 'a known issue passed (fixed) and --strict-fixed is set' : (t.error ?? 'failed');
        const detail = [
          t.securityFailure ? 'SECURITY FAILURE' : '',
          t.error ?? what,
          t.verdict ? `verdict ${t.verdict.code}: ${t.verdict.summary}` : '',
        ]
          .filter(Boolean)
          .join('\n');
        body.push(
          `      <failure message="${xml(what.split('\n')[0]!.slice(0, 500))}" type="${xml(t.verdict?.code ?? t.outcome)}">${xml(detail)}</failure>`,
        );
      } else if (t.outcome === 'skip') body.push(`      <skipped message="${xml(t.skipReason ?? 'skipped')}"/>`);
      else if (t.knownIssue)
        body.push(
          `      <system-out>${xml(`${t.outcome === 'fixed' ? 'fixed' : 'expected failure'}: known issue (${t.knownIssue.source}): ${t.knownIssue.reason}`)}</system-out>`,
        );
      return body.length === 0 ? `${open}/>` : `${open}>\n${body.join('\n')}\n    </testcase>`;
    });
    suites.push(
      `  <testsuite name="${xml(name)}" tests="${list.length}" failures="${f}" errors="0" skipped="${s}" time="${secs(ms)}">\n${cases.join('\n')}\n  </testsuite>`,
    );
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="${xml(options.name ?? 'bx-hil')}" tests="${total.tests}" failures="${total.failures}" errors="0" skipped="${total.skipped}" time="${secs(total.ms)}">\n${suites.join('\n')}\n</testsuites>\n`;
}
