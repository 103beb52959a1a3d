/**
 * The HTML report: one self-contained `index.html` (inline CSS and script, the data embedded as
 * JSON in `<script type="application/json" id="bx-data">`, no network), readable from file://.
 *
 * `buildReportModel` turns results (+ evidence bundles, + an optional baseline run) into the
 * page model; `renderReportHtml` wraps it with the page's assets (assets/report.css, .js). The
 * model is plain data so tests can check it without a browser.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { emptyBundle, readEvidenceBundle } from './bundle.ts';
import type { BundleLimits } from './bundle.ts';
import { compareResults, formatComparison } from './compare.ts';
import type { CompareOptions, Comparison } from './compare.ts';
import { OUTCOME_LABELS, OUTCOMES } from './outcomes.ts';
import { describeFloor, floorSummary } from './floor.ts';
import { buildTimeline } from './timeline.ts';
import type { TimelineEntry } from './timeline.ts';
import { describeProfile } from './types.ts';
import type { KnownIssue, Outcome, RunResults, TestResult, VerdictSummary } from './types.ts';

export interface ReportColumn {
  key: string;
  run: 'candidate' | 'baseline';
  device: string;
  firmware: string;
  uri?: string;
  /** The profile the column ran against, in words (`2.6.3 (shipped)`); absent in older results. */
  profile?: string;
  /** Said when the device fell back to `reference` (no profile matched its firmware). */
  profileNote?: string;
}

export interface EvidenceView {
  dir: string;
  timeline: TimelineEntry[];
  eventsTotal: number;
  transcript?: string;
  transcriptBytes?: number;
  certs: string[];
  /** Files of the bundle, linked from the page (relative to index.html). */
  files: string[];
  hasKeylog: boolean;
  hasCapture: boolean;
  notes: string[];
}

export interface CellView {
  outcome: Outcome;
  status: TestResult['status'];
  durationMs: number;
  /** The test's physical floor and what it took against it, ms (harness/run/floor.ts). */
  floorMs?: number;
  actualMs?: number;
  attempts: number;
  verdict?: VerdictSummary;
  securityFailure?: boolean;
  /** Plain words for the banner: what the module should have refused. */
  securityReason?: string;
  error?: string;
  skipReason?: string;
  knownIssue?: KnownIssue;
  /** Against the baseline, when there is one. */
  change?: 'regression' | 'fix' | 'new';
  evidence?: EvidenceView;
}

export interface TestRow {
  id: string;
  suite: string;
  title: string;
  scenario?: string;
  cells: Record<string, CellView>;
}

/** What the HTML report shows, computed from a run: the matrix, per-test details, the comparison. */
export interface ReportModel {
  title: string;
  generatedAt: string;
  harnessVersion: string;
  startedAt: string;
  finishedAt: string;
  /** The outcomes in display order with their words (`outcomes.ts`): the page script has no copy. */
  outcomes: OutcomeView[];
  columns: ReportColumn[];
  tests: TestRow[];
  comparison?: { headline: string; text: string; regressions: number; fixes: number };
  /** The run against its physical floor (harness/report/floor.ts), in words; absent when no test carries one. */
  floor?: string;
}

/** One outcome as the page shows it: the matrix cell's word and the detail view's sentence. */
export interface OutcomeView {
  id: Outcome;
  cell: string;
  long: string;
}

/** Options of the report model: the title, a baseline to compare with (and how), evidence limits. */
export interface ReportModelOptions {
  title?: string;
  /** A previous run shown as extra columns and compared with this one. */
  baseline?: RunResults;
  baselineLabel?: string;
  candidateLabel?: string;
  /** How to compare with the baseline (`allowRemoved`). */
  compare?: CompareOptions;
  limits?: BundleLimits;
  /** Injectable clock for `generatedAt`. */
  now?: () => Date;
}

/** What a module that connects anyway failed to refuse, per scenario (docs/reference/scenarios-and-anchors.md §5.5). */
const SECURITY_REASONS: Record<string, string> = {
  S3: 'expired server certificate',
  S4: 'server certificate not yet valid',
  S5: 'server certificate for another host name',
  S6: 'server certificate without a usable name',
  S7: 'server certificate for another IP address',
  S8: 'self-signed server certificate',
  S9: 'server certificate from an untrusted root',
  S10: 'fake root: same name, different key',
  S11: 'server certificate from the wrong intermediate',
  S13: 'revoked server certificate',
  S14: 'server certificate with a weak signature or key',
  S17: 'a TLS version it must refuse',
  S18: 'weak cipher suites only',
};

/** Why a security failure is one, in words (from its scenario, title or verdict), for the report's banner. */
export function securityReason(t: Pick<TestResult, 'scenario' | 'title' | 'verdict'> & { error?: string }): string {
  // A finding the harness itself makes (harness/secrets.ts): the module sent back a stored key.
  if (t.error?.includes('SECURITY FAILURE: the module echoed stored key material'))
    return 'the module echoed stored key material';
  const fromScenario = t.scenario ? SECURITY_REASONS[t.scenario.trim().toUpperCase()] : undefined;
  if (fromScenario) return fromScenario;
  const m = /^S\d+\b[\s:.-]*(.+)$/.exec(t.title);
  if (m) return m[1]!;
  return t.verdict?.summary ?? t.title;
}

function columnKey(run: 'candidate' | 'baseline', device: string): string {
  return `${run === 'baseline' ? 'b' : 'c'}:${device}`;
}

function columnsOf(r: RunResults, run: 'candidate' | 'baseline'): ReportColumn[] {
  const cols = new Map<string, ReportColumn>();
  for (const d of r.devices) {
    const col: ReportColumn = { key: columnKey(run, d.id), run, device: d.id, firmware: d.firmware, uri: d.uri };
    if (d.profile) col.profile = describeProfile(d.profile);
    if (d.profile?.note) col.profileNote = d.profile.note;
    cols.set(d.id, col);
  }
  for (const t of r.tests)
    if (!cols.has(t.device))
      cols.set(t.device, { key: columnKey(run, t.device), run, device: t.device, firmware: t.firmware });
  return [...cols.values()];
}

function cellOf(t: TestResult): CellView {
  const c: CellView = { outcome: t.outcome, status: t.status, durationMs: t.durationMs, attempts: t.attempts };
  if (t.verdict) c.verdict = t.verdict;
  if (t.floorMs !== undefined && t.actualMs !== undefined) {
    c.floorMs = t.floorMs;
    c.actualMs = t.actualMs;
  }
  if (t.securityFailure) {
    c.securityFailure = true;
    c.securityReason = securityReason(t);
  }
  if (t.error) c.error = t.error.length > 4000 ? `${t.error.slice(0, 4000)}\n[... cut]` : t.error;
  if (t.skipReason) c.skipReason = t.skipReason;
  if (t.knownIssue) c.knownIssue = t.knownIssue;
  return c;
}

function headline(c: Comparison, bl: string, cl: string): string {
  const parts = [
    `${c.regressions.length} regression${c.regressions.length === 1 ? '' : 's'}`,
    `${c.fixes.length} fix${c.fixes.length === 1 ? '' : 'es'}`,
    `${c.newTests.length} new`,
    `${c.removedTests.length} removed`,
  ];
  if (c.changed.length > 0) parts.push(`${c.changed.length} other change${c.changed.length === 1 ? '' : 's'}`);
  if (c.securityFailures.length > 0)
    parts.push(`${c.securityFailures.length} security failure${c.securityFailures.length === 1 ? '' : 's'}`);
  return `Changes since ${bl} (${cl} against it): ${parts.join(', ')}`;
}

/** Builds the page model; reads each test's evidence bundle under `outDir`. */
export async function buildReportModel(
  outDir: string,
  results: RunResults,
  options: ReportModelOptions = {},
): Promise<ReportModel> {
  const columns = [
    ...(options.baseline ? columnsOf(options.baseline, 'baseline') : []),
    ...columnsOf(results, 'candidate'),
  ];
  const rows = new Map<string, TestRow>();
  const rowOf = (t: TestResult): TestRow => {
    let row = rows.get(t.id);
    if (!row) {
      row = { id: t.id, suite: t.suite, title: t.title, cells: {} };
      if (t.scenario) row.scenario = t.scenario;
      rows.set(t.id, row);
    }
    return row;
  };
  // Candidate first so its order (the run's order) decides the rows; baseline-only tests follow.
  for (const t of results.tests) {
    const cell = cellOf(t);
    const bundleDir = t.evidenceDir === undefined ? undefined : resolve(outDir, t.evidenceDir);
    if (t.evidenceDir !== undefined && bundleDir !== undefined) {
      // results.json is input: an evidenceDir that climbs out of the report directory is not read.
      const inside = relative(resolve(outDir), bundleDir);
      const escapes = inside.startsWith('..') || isAbsolute(inside);
      const b = escapes
        ? emptyBundle([`evidenceDir ${JSON.stringify(t.evidenceDir)} is outside the report directory and was not read`])
        : await readEvidenceBundle(bundleDir, options.limits);
      cell.evidence = {
        dir: t.evidenceDir,
        timeline: buildTimeline(b.events),
        eventsTotal: b.eventsTotal,
        certs: b.certs,
        files: b.files,
        hasKeylog: b.hasKeylog,
        hasCapture: b.hasCapture,
        notes: b.notes,
      };
      if ('transcript' in b && b.transcript !== undefined) cell.evidence.transcript = b.transcript;
      if ('transcriptBytes' in b && b.transcriptBytes !== undefined) cell.evidence.transcriptBytes = b.transcriptBytes;
    }
    rowOf(t).cells[columnKey('candidate', t.device)] = cell;
  }
  let comparison: ReportModel['comparison'];
  if (options.baseline) {
    for (const t of options.baseline.tests) rowOf(t).cells[columnKey('baseline', t.device)] = cellOf(t);
    const c = compareResults(options.baseline, results, options.compare);
    const mark = (list: Comparison['regressions'], change: CellView['change']): void => {
      for (const ch of list) {
        const cell = ch.candidate && rows.get(ch.id)?.cells[columnKey('candidate', ch.candidate.device)];
        if (cell) cell.change = change;
      }
    };
    // A new test that fails is a regression: marked after "new" so the regression shows.
    mark(c.newTests, 'new');
    mark(c.regressions, 'regression');
    mark(c.fixes, 'fix');
    const bl = options.baselineLabel ?? (c.baseline.firmware.join(' + ') || 'baseline');
    const cl = options.candidateLabel ?? (c.candidate.firmware.join(' + ') || 'candidate');
    comparison = {
      headline: headline(c, bl, cl),
      text: formatComparison(c, { baselineLabel: bl, candidateLabel: cl }),
      regressions: c.regressions.length,
      fixes: c.fixes.length,
    };
  }
  // Group rows by suite, keeping the first-seen order of suites and of tests within a suite.
  const suiteOrder: string[] = [];
  for (const r of rows.values()) if (!suiteOrder.includes(r.suite)) suiteOrder.push(r.suite);
  const tests = suiteOrder.flatMap((s) => [...rows.values()].filter((r) => r.suite === s));
  const firmware = [...new Set(columns.filter((c) => c.run === 'candidate').map((c) => c.firmware))].join(', ');
  const model: ReportModel = {
    title: options.title ?? `bx-hil report: ${firmware || 'no devices'}`,
    generatedAt: (options.now ?? (() => new Date()))().toISOString(),
    harnessVersion: results.harnessVersion,
    startedAt: results.startedAt,
    finishedAt: results.finishedAt,
    outcomes: OUTCOMES.map((id) => ({ id, cell: OUTCOME_LABELS[id].cell, long: OUTCOME_LABELS[id].long })),
    columns,
    tests,
  };
  if (comparison) model.comparison = comparison;
  const floor = floorSummary(results);
  if (floor) model.floor = describeFloor(floor);
  return model;
}

const assetsDir = new URL('./assets/', import.meta.url);
let assets: { css: string; js: string } | undefined;

function loadAssets(): { css: string; js: string } {
  assets ??= {
    css: readFileSync(new URL('report.css', assetsDir), 'utf8'),
    // One inline script: the state-free views first, then the page (report.js uses BxReportViews).
    js: ['report-views.js', 'report.js'].map((f) => readFileSync(new URL(f, assetsDir), 'utf8')).join('\n'),
  };
  return assets;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
}

/**
 * JSON that is safe inside a `<script>` element: `<` is escaped so no `</script>` or `<!--` in
 * the data can end the element early; U+2028/9 are escaped for old parsers.
 */
export function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** The complete page. */
export function renderReportHtml(model: ReportModel): string {
  const { css, js } = loadAssets();
  const devices = model.columns
    .filter((c) => c.run === 'candidate')
    .map((c) => `${c.device} (firmware ${c.firmware}${c.uri ? `, ${c.uri}` : ''})`)
    .join('; ');
  // Which profile each column ran against (the expectations it was held to), and any fallback.
  const profiled = model.columns.filter((c) => c.profile);
  const profiles = profiled.length
    ? `<div class="meta" id="profiles">Profiles: ${escapeHtml(profiled.map((c) => `${c.run === 'baseline' ? 'baseline ' : ''}${c.device}: ${c.profile}`).join(' · '))}</div>\n`
    : '';
  const notes = model.columns
    .filter((c) => c.profileNote)
    .map((c) => `<div class="meta profile-note">Note: ${escapeHtml(`${c.device}: ${c.profileNote}`)}</div>\n`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(model.title)}</title>
<style>
${css}
</style>
</head>
<body>
<header>
<h1>${escapeHtml(model.title)}</h1>
<div class="meta">Run ${escapeHtml(model.startedAt)} to ${escapeHtml(model.finishedAt)} · ${escapeHtml(devices)} · bx-hil ${escapeHtml(model.harnessVersion)} · report generated ${escapeHtml(model.generatedAt)}</div>
${profiles}${notes}${model.floor ? `<div class="meta" id="floor">Physical floor: ${escapeHtml(model.floor)}</div>\n` : ''}<div class="chips" id="chips" aria-label="Outcome counts"></div>
<div id="security"></div>
<div id="changes"></div>
</header>
<nav class="filters" aria-label="Filters">
<fieldset id="f-outcomes"><legend>Outcome</legend></fieldset>
<label>Suite <select id="f-suite"><option value="">all suites</option></select></label>
<label>Search <input type="search" id="f-text" placeholder="test, scenario, verdict code..."></label>
<span id="shown" aria-live="polite"></span>
</nav>
<main>
<section class="card matrix-wrap" aria-label="Results matrix: tests by firmware and device">
<table class="matrix" id="matrix"><thead id="m-head"></thead><tbody id="m-body"></tbody></table>
</section>
<section class="card" id="detail" aria-live="polite" aria-label="Test detail"></section>
</main>
<noscript><p>This report needs JavaScript to draw the matrix; the data is in results.json beside it.</p></noscript>
<script type="application/json" id="bx-data">${scriptSafeJson(model)}</script>
<script>
${js}
</script>
</body>
</html>
`;
}
