/**
 * Comparing two runs (a baseline firmware and a candidate), for `bx-hil compare` and
 * `bx-hil run --baseline`.
 *
 * Matching: tests are matched on their id, which is device- and firmware-agnostic. When a test
 * ran on several devices, its results are paired by device id where both runs have that device;
 * a single result on one side is paired with each result on the other (one bench module against
 * a rig of three); anything left unpaired is new or removed.
 *
 * Classes of change (outcomes of types.ts):
 * - regression, of one of four kinds (`RegressionKind`), so a shrunken or empty candidate cannot
 *   pass:
 *   - `now-fails`: pass / fixed / expected-fail -> fail. (expected-fail -> fail means the
 *     candidate no longer lists the known issue but still fails: a failure it must answer for.)
 *   - `removed`: a test that passed (pass / fixed) in the baseline did not run in the candidate,
 *     unless `allowRemoved` (a test removed on purpose).
 *   - `new-failure`: a test new in the candidate that fails.
 *   - `new-security-failure`: a security failure the baseline did not have (a new test, or a
 *     test that failed before for another reason).
 * - fix: fail / expected-fail -> pass / fixed.
 * - new / removed tests (all of them, regressions or not).
 * - changed: any other change of outcome (e.g. pass -> expected-fail, skip -> fail) or the same
 *   outcome with another verdict code (fails, but for a different reason).
 * Security failures (`securityFailure: true`) of the candidate are listed on their own,
 * marked new when the baseline did not have them.
 */
import { describeProfile, type Outcome, type ProfileInfo, type RunResults, type TestResult } from './types.ts';
import { KNOWN_FAILURE_OUTCOMES, OUTCOME_LABELS, OUTCOMES, PASSING_OUTCOMES, zeroCounts } from './outcomes.ts';

/** Why a change is a regression (see the file comment). */
export type RegressionKind = 'now-fails' | 'removed' | 'new-failure' | 'new-security-failure';

/** One test that changed between two runs: its label, both outcomes and why it counts. */
export interface TestChange {
  /** Test id, plus ` [device]` when the runs have several devices. */
  label: string;
  id: string;
  baseline?: TestResult;
  candidate?: TestResult;
  /** Set on the entries of `regressions`. */
  kind?: RegressionKind;
}

/** Options of `compareResults`: whether a test that did not run in the candidate is a regression. */
export interface CompareOptions {
  /** A test that passed in the baseline and did not run in the candidate is not a regression. Default false. */
  allowRemoved?: boolean;
}

/** A test that is a security failure in the candidate, with the reason in words. */
export interface SecurityFailure {
  label: string;
  test: TestResult;
  /** True when the baseline did not have this security failure. */
  isNew: boolean;
}

/** What `compareResults` found: both runs, regressions, fixes, new and removed tests, security failures. */
export interface Comparison {
  regressions: TestChange[];
  fixes: TestChange[];
  newTests: TestChange[];
  removedTests: TestChange[];
  changed: TestChange[];
  securityFailures: SecurityFailure[];
  /** Pairs whose outcome and verdict code are the same. */
  unchanged: number;
  /**
   * The runs were held to different profiles (harness/run/device-profile.ts): an expectation
   * changed, not necessarily the firmware. One sentence per device pair. Empty when they agree
   * or a side does not record its profile.
   */
  profileWarnings: string[];
  baseline: RunSide;
  candidate: RunSide;
}

/** One side of a comparison: its firmware versions and outcome counts. */
export interface RunSide {
  /** Distinct firmware versions, in order of appearance. */
  firmware: string[];
  devices: string[];
  tests: number;
  counts: Record<Outcome, number>;
}

const PASSING = PASSING_OUTCOMES;
const FAILING_KNOWN = KNOWN_FAILURE_OUTCOMES;

function side(r: RunResults): RunSide {
  const counts = zeroCounts();
  for (const t of r.tests) counts[t.outcome]++;
  const firmware = [...new Set([...r.devices.map((d) => d.firmware), ...r.tests.map((t) => t.firmware)])];
  const devices = [...new Set([...r.devices.map((d) => d.id), ...r.tests.map((t) => t.device)])];
  return { firmware, devices, tests: r.tests.length, counts };
}

function group(r: RunResults): Map<string, TestResult[]> {
  const m = new Map<string, TestResult[]>();
  for (const t of r.tests) {
    const list = m.get(t.id);
    if (list) list.push(t);
    else m.set(t.id, [t]);
  }
  return m;
}

/** Pairs the results of one test id (see the file comment). */
function pair(
  b: TestResult[],
  c: TestResult[],
): { pairs: [TestResult, TestResult][]; onlyB: TestResult[]; onlyC: TestResult[] } {
  if (b.length === 1 && c.length === 1) return { pairs: [[b[0]!, c[0]!]], onlyB: [], onlyC: [] };
  const pairs: [TestResult, TestResult][] = [];
  let restB = [...b];
  let restC: TestResult[] = [];
  for (const ct of c) {
    const i = restB.findIndex((bt) => bt.device === ct.device);
    if (i >= 0) {
      pairs.push([restB[i]!, ct]);
      restB.splice(i, 1);
    } else restC.push(ct);
  }
  if (restB.length === 1 && restC.length > 0 && b.length === 1) {
    for (const ct of restC) pairs.push([restB[0]!, ct]);
    restB = [];
    restC = [];
  } else if (restC.length === 1 && restB.length > 0 && c.length === 1) {
    for (const bt of restB) pairs.push([bt, restC[0]!]);
    restB = [];
    restC = [];
  } else {
    while (restB.length > 0 && restC.length > 0) pairs.push([restB.shift()!, restC.shift()!]);
  }
  return { pairs, onlyB: restB, onlyC: restC };
}

/** Devices paired by id where both runs have it; a run of one device pairs with every device of the other. */
function profileWarnings(baseline: RunResults, candidate: RunResults): string[] {
  const warnings: string[] = [];
  const key = (p: ProfileInfo): string => `${p.name}\u0000${p.path ?? ''}`;
  for (const c of candidate.devices) {
    const b =
      baseline.devices.find((d) => d.id === c.id) ?? (baseline.devices.length === 1 ? baseline.devices[0] : undefined);
    if (!b?.profile || !c.profile || key(b.profile) === key(c.profile)) continue;
    const where = b.id === c.id ? b.id : `${b.id} -> ${c.id}`;
    warnings.push(
      `${where}: the baseline ran against profile ${describeProfile(b.profile)}, the candidate against ${describeProfile(c.profile)}: an expectation changed, not necessarily the firmware`,
    );
  }
  return warnings;
}

/** Compare two runs: regressions (now failing, removed, new failures, new security failures), fixes, new and removed tests. */
export function compareResults(baseline: RunResults, candidate: RunResults, options: CompareOptions = {}): Comparison {
  const bSide = side(baseline);
  const cSide = side(candidate);
  const multi = bSide.devices.length > 1 || cSide.devices.length > 1;
  const label = (t: TestResult): string => (multi ? `${t.id} [${t.device}]` : t.id);
  const out: Comparison = {
    regressions: [],
    fixes: [],
    newTests: [],
    removedTests: [],
    changed: [],
    securityFailures: [],
    unchanged: 0,
    profileWarnings: profileWarnings(baseline, candidate),
    baseline: bSide,
    candidate: cSide,
  };
  const bGroups = group(baseline);
  const cGroups = group(candidate);
  const baselineSecurity = new Set<string>();
  const regression = (change: TestChange, kind: RegressionKind): void => {
    out.regressions.push({ ...change, kind });
  };
  for (const id of new Set([...cGroups.keys(), ...bGroups.keys()])) {
    const { pairs, onlyB, onlyC } = pair(bGroups.get(id) ?? [], cGroups.get(id) ?? []);
    for (const t of onlyB) {
      const change: TestChange = { label: label(t), id, baseline: t };
      out.removedTests.push(change);
      // A test that passed and is gone cannot vouch for the candidate: unless removed on purpose.
      if (PASSING.includes(t.outcome) && !options.allowRemoved) regression(change, 'removed');
    }
    for (const t of onlyC) {
      const change: TestChange = { label: label(t), id, candidate: t };
      out.newTests.push(change);
      if (t.securityFailure) regression(change, 'new-security-failure');
      else if (t.outcome === 'fail') regression(change, 'new-failure');
    }
    for (const [bt, ct] of pairs) {
      const change: TestChange = { label: label(ct), id, baseline: bt, candidate: ct };
      if (bt.securityFailure) baselineSecurity.add(`${id}\u0000${ct.device}`);
      const from = bt.outcome;
      const to = ct.outcome;
      if (to === 'fail' && (PASSING.includes(from) || FAILING_KNOWN.includes(from))) regression(change, 'now-fails');
      else if (ct.securityFailure && !bt.securityFailure) regression(change, 'new-security-failure');
      else if (PASSING.includes(to) && (from === 'fail' || FAILING_KNOWN.includes(from))) out.fixes.push(change);
      else if (from !== to || (bt.verdict?.code ?? '') !== (ct.verdict?.code ?? '')) {
        // pass <-> fixed is the same behaviour (a known issue was added or dropped): not a change.
        if (PASSING.includes(from) && PASSING.includes(to) && (bt.verdict?.code ?? '') === (ct.verdict?.code ?? ''))
          out.unchanged++;
        else out.changed.push(change);
      } else out.unchanged++;
    }
  }
  for (const t of candidate.tests) {
    if (t.securityFailure)
      out.securityFailures.push({ label: label(t), test: t, isNew: !baselineSecurity.has(`${t.id}\u0000${t.device}`) });
  }
  return out;
}

/** Options of `formatComparison`: how the two runs are named in its sentences. */
export interface FormatOptions {
  /** How to name the baseline in sentences. Default: its firmware version(s). */
  baselineLabel?: string;
  /** How to name the candidate. Default: its firmware version(s). */
  candidateLabel?: string;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function why(t: TestResult | undefined): string {
  if (!t) return '';
  if (t.verdict) return `${t.verdict.summary} (${t.verdict.code})`;
  if (t.error) return t.error.split('\n')[0]!;
  if (t.skipReason) return t.skipReason;
  return 'no verdict recorded';
}

/** The change of one test in a release manager's words. */
function sentence(ch: TestChange, bl: string, cl: string): string {
  const b = ch.baseline!;
  const c = ch.candidate!;
  const was =
    b.outcome === 'expected-fail' && b.knownIssue
      ? `was a known failure on ${bl} (${b.knownIssue.reason})`
      : `was ${OUTCOME_LABELS[b.outcome].state} on ${bl}`;
  switch (c.outcome) {
    case 'fail':
      return `${was}, now fails on ${cl}: ${why(c)}`;
    case 'expected-fail':
      return `${was}, now fails on ${cl} as a known issue (${c.knownIssue?.reason ?? 'no reason given'}): ${why(c)}`;
    case 'pass':
    case 'fixed':
      return `${was}, now passes on ${cl}${c.outcome === 'fixed' ? ` (the known issue "${c.knownIssue?.reason ?? '?'}" looks fixed)` : ''}`;
    case 'skip':
      return `${was}, now skipped on ${cl}: ${c.skipReason ?? 'no reason given'}`;
  }
}

/** The kind of a regression, as the tag after its label. */
const KIND_TAGS: Record<RegressionKind, string> = {
  'now-fails': 'now fails',
  removed: 'removed',
  'new-failure': 'new test, fails',
  'new-security-failure': 'new SECURITY FAILURE',
};

/** The kinds in the verdict line: `2 now failing, 1 removed`. */
const KIND_WORDS: Record<RegressionKind, string> = {
  'now-fails': 'now failing',
  removed: 'removed',
  'new-failure': 'new and failing',
  'new-security-failure': 'new security failure',
};

/** A regression in a release manager's words, by kind. */
function regressionSentence(ch: TestChange, kind: RegressionKind, bl: string, cl: string): string {
  switch (kind) {
    case 'removed':
      return `was ${OUTCOME_LABELS[ch.baseline!.outcome].state} on ${bl}, did not run on ${cl} (if it was removed on purpose, compare with --allow-removed)`;
    case 'new-failure':
      return `new on ${cl}, and fails: ${why(ch.candidate)}`;
    case 'new-security-failure':
      return ch.baseline
        ? `${sentence(ch, bl, cl)}; a security failure ${bl} did not have`
        : `new on ${cl}, and a security failure: ${why(ch.candidate)}`;
    case 'now-fails':
      return sentence(ch, bl, cl);
  }
}

function firmwareLabel(s: RunSide): string {
  return s.firmware.length > 0 ? s.firmware.join(' + ') : '(no firmware recorded)';
}

/** Multi-line text for a release manager; ends with a one-line verdict. */
export function formatComparison(c: Comparison, options: FormatOptions = {}): string {
  const bl = options.baselineLabel ?? firmwareLabel(c.baseline);
  const cl = options.candidateLabel ?? firmwareLabel(c.candidate);
  const lines: string[] = [];
  const count = (s: RunSide): string =>
    `${plural(s.tests, 'test')}: ${OUTCOMES.map((o) => `${s.counts[o]} ${o}`).join(', ')}`;
  lines.push(`Comparing ${cl} (candidate) with ${bl} (baseline)`);
  lines.push(`  baseline  ${bl}: ${count(c.baseline)}`);
  lines.push(`  candidate ${cl}: ${count(c.candidate)}`);
  for (const w of c.profileWarnings ?? []) lines.push(`  warning: ${w}`);
  lines.push('');
  if (c.securityFailures.length > 0) {
    const fresh = c.securityFailures.filter((s) => s.isNew).length;
    lines.push(
      `SECURITY: ${plural(c.securityFailures.length, 'security failure')} on ${cl}${fresh > 0 ? ` (${fresh} new since ${bl})` : ''}: the module connected to a server it must refuse`,
    );
    for (const s of c.securityFailures) lines.push(`  - ${s.label}${s.isNew ? ' [NEW]' : ''}: ${why(s.test)}`);
    lines.push('');
  }
  const section = (title: string, items: TestChange[], render: (ch: TestChange) => string[]): void => {
    if (items.length === 0) return;
    lines.push(title);
    for (const ch of items) lines.push(...render(ch));
    lines.push('');
  };
  section(`${plural(c.regressions.length, 'regression')}:`, c.regressions, (ch) => {
    const kind = ch.kind ?? 'now-fails';
    const out = [
      `  - ${ch.label} [${KIND_TAGS[kind]}]${kind !== 'new-security-failure' && ch.candidate?.securityFailure ? ' [SECURITY FAILURE]' : ''}`,
      `      ${regressionSentence(ch, kind, bl, cl)}`,
    ];
    if (ch.candidate?.verdict?.fix) out.push(`      fix: ${ch.candidate.verdict.fix}`);
    return out;
  });
  section(`${plural(c.fixes.length, 'fix', 'fixes')}:`, c.fixes, (ch) => [
    `  - ${ch.label}`,
    `      ${sentence(ch, bl, cl)}`,
  ]);
  const changed = [...c.changed].sort(
    (x, y) => Number(y.candidate!.outcome === 'fail') - Number(x.candidate!.outcome === 'fail'),
  );
  section(`${plural(c.changed.length, 'other change')}:`, changed, (ch) => {
    const b = ch.baseline!;
    const cand = ch.candidate!;
    if (b.outcome === cand.outcome)
      return [
        `  - ${ch.label}`,
        `      ${OUTCOME_LABELS[cand.outcome].state} on both, for another reason:`,
        `        ${bl}: ${why(b)}`,
        `        ${cl}: ${why(cand)}`,
      ];
    return [`  - ${ch.label}${cand.securityFailure ? ' [SECURITY FAILURE]' : ''}`, `      ${sentence(ch, bl, cl)}`];
  });
  const failingNew = c.newTests.filter((ch) => ch.candidate!.outcome === 'fail').length;
  section(
    `${plural(c.newTests.length, 'new test')} on ${cl}${failingNew > 0 ? ` (${failingNew} failing)` : ''}:`,
    c.newTests,
    (ch) => [
      `  - ${ch.label}: ${ch.candidate!.outcome}${ch.candidate!.outcome === 'fail' ? `: ${why(ch.candidate)}` : ''}`,
    ],
  );
  section(`${plural(c.removedTests.length, 'removed test')} (ran on ${bl}, not on ${cl}):`, c.removedTests, (ch) => [
    `  - ${ch.label}: was ${ch.baseline!.outcome}`,
  ]);
  lines.push(`${plural(c.unchanged, 'test')} unchanged.`);
  const failing = c.candidate.counts.fail;
  const but: string[] = [];
  if (c.securityFailures.length > 0) but.push(plural(c.securityFailures.length, 'security failure'));
  if (failing > 0) but.push(`${plural(failing, 'failing test')} in all`);
  if (c.regressions.length > 0) {
    const kinds = (Object.keys(KIND_WORDS) as RegressionKind[])
      .map((k) => [k, c.regressions.filter((r) => (r.kind ?? 'now-fails') === k).length] as const)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${KIND_WORDS[k]}`);
    lines.push(
      `Verdict: ${cl} REGRESSES against ${bl}: ${plural(c.regressions.length, 'regression')} (${kinds.join(', ')}${but.length ? `; ${but.join(', ')}` : ''}).`,
    );
  } else if (but.length > 0) lines.push(`Verdict: no regression against ${bl}, but ${cl} has ${but.join(' and ')}.`);
  else lines.push(`Verdict: no regression against ${bl}.`);
  return lines.join('\n');
}
