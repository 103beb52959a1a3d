/**
 * The report area's public API: evidence bundles, the HTML report, results validation and the
 * comparison of two runs. Other areas import from here.
 */
export { EVIDENCE_FILES, describeProfile } from './types.ts';
export type {
  DeviceInfo,
  KnownIssue,
  KnownIssueExpectation,
  Outcome,
  ProfileInfo,
  RunResults,
  TestResult,
  VerdictSummary,
} from './types.ts';
export { readEvidenceBundle, writeEvidenceBundle, defaultBundleLimits, certFileName } from './bundle.ts';
export type { BundleLimits, EvidenceBundle, LoadedBundle, WriteBundleOptions } from './bundle.ts';
export { REDACTED, containsPrivateKey, redactSecrets, redactValue, PrivateKeyStreamRedactor } from './redact.ts';
export { compareResults, formatComparison } from './compare.ts';
export type { CompareOptions, Comparison, FormatOptions, RunSide, SecurityFailure, TestChange } from './compare.ts';
export { RESULTS_SCHEMA, parseRunResults, readRunResults } from './validate.ts';
export { OUTCOMES, OUTCOME_LABELS, type OutcomeLabel } from './outcomes.ts';
export { ResultsFileError } from './errors.ts';
export { buildTimeline, classifyEvent } from './timeline.ts';
export type { Arrow, Lane, TimelineEntry } from './timeline.ts';
export { describeFloor, floorSummary, type FloorSummary } from './floor.ts';
export { buildReportModel, renderReportHtml, securityReason } from './html.ts';
export type { OutcomeView, ReportModel, ReportModelOptions } from './html.ts';
export { HTML_FILE, RESULTS_FILE, writeReport } from './write.ts';
export type { WriteReportOptions } from './write.ts';
export {
  INPUTS_DIR,
  copyEvidence,
  inputLabels,
  junitXml,
  mergeRuns,
  readMergeInput,
  withoutEvidence,
  type MergeConflict,
  type MergeConflictKind,
  type MergeInput,
  type MergeResult,
} from './merge.ts';
