/**
 * What the suites' fixtures record per test in `task.meta` (Vitest serialises it to the runner),
 * and what the runner reads back to build `results.json`. The one contract between
 * the fixtures (`harness/vitest/fixtures.ts`) and `harness/run/results.ts`.
 */
import type { KnownIssue, ProfileInfo, VerdictSummary } from '../report/index.ts';

export interface SuiteTestMeta {
  /** Scenario id (S1..S27, D1..) or reference tag ([BX-T] KCERTSTORE_0001) the test checks. */
  scenario?: string;
  /** The known issue that covered this test on this firmware (whether it failed or not). */
  knownIssue?: KnownIssue;
  /** Set when a known-issue test failed: the error, caught so the Vitest test passes. */
  expectedFailure?: { message: string; code?: string };
  /**
   * Set when a known-issue test failed otherwise than its known issue expects: the fixture
   * rethrew a `KnownIssueMismatchError` whose message says "failed differently from the known issue".
   */
  knownIssueMismatch?: { expected: string; actual: string };
  /** The module accepted a connection it must refuse: a "security failure". */
  securityFailure?: boolean;
  /** The rig's verdict for the test's connection, when there was one. */
  verdict?: VerdictSummary;
  /** Firmware as read from the module. */
  firmware?: string;
  model?: string;
  /** The firmware profile the test ran against (harness/run/device-profile.ts). */
  profile?: ProfileInfo;
  /** Why the test was skipped (capability, tool, hardware). */
  skipReason?: string;
  /** Evidence bundle directory, relative to BX_HIL_EVIDENCE_DIR. */
  evidenceDir?: string;
  /** The test's physical floor and what it took (harness/run/floor.ts), ms. */
  floor?: { floorMs: number; actualMs: number; parts: Record<string, number> };
}

/** Env vars the runner sets for the suites (and a user may set by hand). */
export const SUITE_ENV = {
  /** Device URI; default `sim:2.6.3`. */
  device: 'BX_DEVICE',
  /** Where per-test evidence bundles go; unset = none written. */
  evidenceDir: 'BX_HIL_EVIDENCE_DIR',
  /** A lab file and the id of the device in it (Wi-Fi, host address, known issues). */
  labFile: 'BX_HIL_LAB',
  labDevice: 'BX_HIL_LAB_DEVICE',
  /** The test host's address as the module sees it, without a lab file (`bx-hil run --host-address`). */
  hostAddress: 'BX_HIL_HOST_ADDRESS',
  /** The profile `bx-hil run --profile` names (a shipped name or a JSON file path), without a lab file. */
  profile: 'BX_HIL_PROFILE',
  /** Directory where each worker writes `<pid>.json` heartbeats (the command being waited on). */
  heartbeatDir: 'BX_HIL_HEARTBEAT_DIR',
  /** `1`: keep TLS key logs in evidence; `1`: packet capture. */
  keylog: 'BX_HIL_KEYLOG',
  capture: 'BX_HIL_CAPTURE',
} as const;

/** A heartbeat file's content. */
export interface Heartbeat {
  /** Test id running in that worker. */
  test: string;
  /** What the test waits on now (an AT command, a rig verdict). */
  waitingOn: string;
  /** Wall time (ms since epoch) when the wait began. */
  since: number;
}

/** Stable test id: `<suite>/<describe path>/<title>` (report/types.ts TestResult.id). */
export function testIdFor(file: string, names: ReadonlyArray<string>): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  const suite = base.replace(/\.test\.[cm]?[jt]s$/, '');
  return [suite, ...names].join('/');
}

/** A test id as a safe directory name. */
export function safeTestDir(id: string): string {
  return (
    id
      .replace(/[^A-Za-z0-9._-]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 120) || 'test'
  );
}
