/**
 * harness/run's public face: the runner library behind `bx-hil run`, `bx-hil preflight` and
 * the suites' fixtures. The CLI and suites/ import from here, never from the files behind it
 * (harness/layering.test.ts).
 */
export {
  DeviceBrokenError,
  DeviceSession,
  brokerBindHost,
  type DeviceSessionOptions,
  type DeviceSessionState,
  type TargetOpener,
  type VirtualKnobs,
} from './device-session.ts';
export { chooseProfile, type ChosenProfile } from './device-profile.ts';
export { RigCommandError } from './errors.ts';
export { findKnownIssue, judgeFailure } from './known-issues.ts';
export { checkHostAddress, labFromDevice, loadLabFile, type LabConfig } from './lab.ts';
export { SUITE_ENV, testIdFor, type Heartbeat, type SuiteTestMeta } from './meta.ts';
export { runDevice, type DeviceRunContext, type SuiteRunOutput } from './orchestrate.ts';
export { preflightFailure, preflightToTap } from './preflight.ts';
export { preflightWithDriver } from './preflight-driver.ts';
export { finishReport } from './report.ts';
export {
  emptyRunProblem,
  judgeRecord,
  mergeRunResults,
  summarize,
  summaryLine,
  type RawTestRecord,
} from './results.ts';
export { checkShardOptions, describeShard, durationsFrom, parseShard, planShards, type ShardItem } from './shard.ts';
export {
  capabilityReason,
  openSuiteSession,
  testRigs,
  type RigFactory,
  type SuiteSession,
  type TargetInfo,
} from './suite-session.ts';
export { collectTestEvidence, type FloorBasis, type TestEvidence } from './test-evidence.ts';
export { computeFloor, type Floor, type FloorParts } from './floor.ts';
export { LOADED_HOST_SLACK_MS, suiteWaits, waitsInForce, type SuiteWaits } from './waits.ts';
export {
  MEASURE_DEFAULTS,
  measureTiming,
  type MeasureTimingOptions,
  type MeasuredBlock,
  type TimingMeasurement,
  type TimingStep,
  type TimingStepName,
} from './measure-timing.ts';
