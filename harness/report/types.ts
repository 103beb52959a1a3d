/**
 * The results of one `bx-hil run` (results.json), the contract between the runner
 * (`harness/cli/run.ts` + `harness/run/`), the reports (`harness/report/`) and `bx-hil compare`.
 * Bump `schema` on an incompatible change.
 */
import type { KnownIssue } from '../known-issue.ts';

/** What became of a test, after known issues were applied. */
export type Outcome =
  /** Passed, and was expected to pass. */
  | 'pass'
  /** Failed, and no known issue covers it: a failure (a regression if it passed before). */
  | 'fail'
  /** Failed, and a known issue for this firmware covers it. */
  | 'expected-fail'
  /** Passed although a known issue says it fails: the issue looks fixed. */
  | 'fixed'
  /** Not run (capability missing, tool missing, filtered); `skipReason` says why. */
  | 'skip';

/**
 * A known issue and how its test fails (`expects`): one shape for profiles, lab files and
 * results (`harness/known-issue.ts`). results.json written before `expects` existed lacks it.
 */
export type { KnownIssue, KnownIssueExpectation } from '../known-issue.ts';

/** A rig verdict as `results.json` keeps it: code, summary, fix and the first evidence lines. */
export interface VerdictSummary {
  /** Stable code, e.g. OK, NO_CLIENT_CERT, DEVICE_REJECTED_SERVER_CERT. */
  code: string;
  summary: string;
  fix?: string;
  evidence?: string[];
}

/** A device of a run: id, URI, firmware, model and the profile it ran against. */
export interface DeviceInfo {
  /** Rig-file id or a name derived from the URI, e.g. `sim-2.6.3`. */
  id: string;
  uri: string;
  /** Firmware as read from the module (AT+CGMR), or the expected one if it could not be read. */
  firmware: string;
  model?: string;
  /** The firmware profile the tests ran against (capabilities, known issues); absent in older results. */
  profile?: ProfileInfo;
}

/**
 * Which profile a device ran against, and where it came from: a shipped profile, a user's
 * JSON file (its path), or one learned by `bx-hil probe` (its date: the profile's `sources.name`
 * starts with `[probe YYYY-MM-DD]`). `chosenBy` says why: the `sim:` URI, `profile:` in the lab
 * file or `--profile` (`given`), the module's AT+CGMR (`cgmr`), or no match (`fallback`, then
 * `note` says so).
 */
export interface ProfileInfo {
  name: string;
  source: 'shipped' | 'file' | 'probe';
  path?: string;
  /** Date the probe learned it (`source: 'probe'`). */
  learnedAt?: string;
  chosenBy: 'sim' | 'given' | 'cgmr' | 'fallback';
  note?: string;
}

/** A profile in words: `2.6.3 (shipped)`, `mine (user file ./p.json)`, `b (learned by probe 2026-11-30, ./b.json)`. */
export function describeProfile(p: ProfileInfo): string {
  const from =
    p.source === 'shipped'
      ? 'shipped'
      : p.source === 'probe'
        ? `learned by probe${p.learnedAt ? ` ${p.learnedAt}` : ''}${p.path ? `, ${p.path}` : ''}`
        : `user file ${p.path ?? '?'}`;
  return `${p.name} (${from})`;
}

/** One test's result on one device: id, outcome, error, verdict, known issue, evidence directory. */
export interface TestResult {
  /** Stable id: `<suite>/<describe path>/<title>` e.g. `tls-handshake/S4 expired server certificate`. */
  id: string;
  /** Suite name: cert-upload, tls-handshake, mqtt, robustness, ... */
  suite: string;
  title: string;
  /** DeviceInfo.id of the device it ran on. */
  device: string;
  firmware: string;
  /** Scenario id (S1..S27, D1..) or reference tag the test checks. */
  scenario?: string;
  /** Raw result from the runner before known issues were applied. */
  status: 'passed' | 'failed' | 'skipped';
  outcome: Outcome;
  verdict?: VerdictSummary;
  /** True when the device accepted a connection it must refuse (untrusted/expired/wrong-name server). */
  securityFailure?: boolean;
  durationMs: number;
  /**
   * The physical floor of the test against its module (harness/run/floor.ts): the least time
   * any harness could take, from the AT transcript's bytes at the line rate, the module's
   * latencies (its timing) and the waits the test exists to observe, ms. Absent in older results.
   */
  floorMs?: number;
  /** The floor's parts, ms each (`line`, `flash`, `tls`, `guard`, ...). */
  floorParts?: Record<string, number>;
  /** What the test took against that floor: from its evidence's start to the device's cleanup done, ms. */
  actualMs?: number;
  attempts: number;
  error?: string;
  skipReason?: string;
  knownIssue?: KnownIssue;
  /** Directory of this test's evidence bundle, relative to the report directory. */
  evidenceDir?: string;
}

/** A run's `results.json` (schema `bx-hil/results@1`): when, the harness version, the devices and every test's result. */
export interface RunResults {
  schema: 'bx-hil/results@1';
  startedAt: string;
  finishedAt: string;
  /** The bx-hil version that produced the results. */
  harnessVersion: string;
  devices: DeviceInfo[];
  tests: TestResult[];
}

/**
 * What a test's evidence bundle directory contains (all optional). Written by the suites'
 * fixtures; read by the HTML report.
 * - `transcript.txt` / `transcript.json`: the AT transcript (keys redacted).
 * - `events.jsonl`: every EvidenceEvent of the test (module and broker side), one per line.
 * - `verdicts.json`: the rig's verdicts.
 * - `certs/`: the certificates used (public parts only unless asked).
 * - `keylog.txt`, `capture.pcapng`: only when asked for by flag.
 */
export const EVIDENCE_FILES = {
  transcriptText: 'transcript.txt',
  transcriptJson: 'transcript.json',
  events: 'events.jsonl',
  verdicts: 'verdicts.json',
  meta: 'meta.json',
  certs: 'certs',
  keylog: 'keylog.txt',
  capture: 'capture.pcapng',
} as const;
