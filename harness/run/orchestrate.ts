/**
 * One device's run, without Vitest (docs/STYLE.md §9): rig commands (flash, power cycle), preflight,
 * then the suites through an injected `runSuites` (the CLI supplies Vitest's Node API), and the
 * raw records turned into `RunResults`. A device whose rig is broken fails fast with the
 * original cause (labgrid's never_retry): its preflight failure is the result, the suites do not
 * run, and twenty timeouts never happen.
 */
import { HarnessError } from '../errors.ts';
import {
  describeProfile,
  type DeviceInfo,
  type ProfileInfo,
  type RunResults,
  type TestResult,
} from '../report/index.ts';
import { redactUrlCredentials, runRigCommand } from './exec.ts';
import { mergeKnownIssues } from './known-issues.ts';
import { preflightFailure, type PreflightResult } from './preflight.ts';
import { toTestResult, type RawTestRecord } from './results.ts';
import type { LabConfig, LabDevice } from './lab.ts';

export interface DeviceRunContext {
  device: LabDevice;
  lab: LabConfig;
  /** Directory this device's report files go to. */
  outDir: string;
}

export interface SuiteRunOutput {
  records: RawTestRecord[];
  /** Errors outside any test (a crashed worker, a failing hook), as messages. */
  unhandled: string[];
}

export interface DeviceRunDeps {
  /** Omit to skip preflight. */
  preflight?(device: LabDevice): Promise<PreflightResult>;
  runSuites(ctx: DeviceRunContext): Promise<SuiteRunOutput>;
  /**
   * The profile the device runs against, from the firmware preflight read (undefined without
   * preflight): the CLI passes `chooseProfile` (device-profile.ts). Omit to record none.
   */
  profileFor?(device: LabDevice, firmware: string | undefined): ProfileInfo;
  /** Progress lines (one per step). */
  log(line: string): void;
  harnessVersion: string;
}

function syntheticFailure(device: DeviceInfo, id: string, title: string, error: string): TestResult {
  return {
    id,
    suite: id.split('/')[0]!,
    title,
    device: device.id,
    firmware: device.firmware,
    status: 'failed',
    outcome: 'fail',
    durationMs: 0,
    attempts: 1,
    error,
  };
}

export async function runDevice(ctx: DeviceRunContext, deps: DeviceRunDeps): Promise<RunResults> {
  const { device } = ctx;
  const startedAt = new Date().toISOString();
  const info: DeviceInfo = { id: device.id, uri: device.uri, firmware: device.firmware ?? 'unknown' };
  const tests: TestResult[] = [];
  const done = (): RunResults => ({
    schema: 'bx-hil/results@1',
    startedAt,
    finishedAt: new Date().toISOString(),
    harnessVersion: deps.harnessVersion,
    devices: [info],
    tests,
  });

  for (const step of ['flash', 'powerCycle'] as const) {
    const cmd = device[step];
    if (!cmd) continue;
    deps.log(`${device.id}: ${step}: ${redactUrlCredentials(cmd.command)}`);
    try {
      const r = await runRigCommand(step, cmd, { device: device.id, uri: device.uri });
      deps.log(`${device.id}: ${step} done in ${(r.durationMs / 1000).toFixed(1)} s`);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      deps.log(`${device.id}: ${step} FAILED (rig problem): ${msg}`);
      tests.push(syntheticFailure(info, `rig/${step}`, step, `rig problem: ${msg}`));
      return done();
    }
  }

  if (deps.preflight) {
    const pf = await deps.preflight(device);
    if (pf.firmware) info.firmware = pf.firmware;
    if (pf.model) info.model = pf.model;
    for (const s of pf.steps)
      deps.log(
        `${device.id}: preflight ${s.status === 'ok' ? 'ok  ' : s.status === 'skip' ? 'skip' : 'FAIL'} ${s.title}${s.status === 'ok' ? '' : `: ${s.detail}`}`,
      );
    const failure = preflightFailure(pf);
    if (failure) {
      const what = failure.category === 'rig' ? 'rig problem' : 'firmware failure';
      tests.push(syntheticFailure(info, `preflight/${failure.name}`, failure.title, `${what}: ${failure.detail}`));
      return done();
    }
  }

  // Said once, at the top of the run: which profile, and a fallback to reference in words.
  // Without preflight the firmware is not known yet: the suites' choice is read from their records.
  if (deps.profileFor && (deps.preflight || device.profile !== undefined || device.uri.startsWith('sim:'))) {
    info.profile = deps.profileFor(device, info.firmware === 'unknown' ? undefined : info.firmware);
    deps.log(`${device.id}: profile ${describeProfile(info.profile)}`);
    if (info.profile.note) deps.log(`${device.id}: NOTE: ${info.profile.note}`);
  }

  let out: SuiteRunOutput;
  try {
    out = await deps.runSuites(ctx);
  } catch (err) {
    const msg =
      err instanceof HarnessError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    tests.push(syntheticFailure(info, 'run/suites', 'suites ran', `the suites could not run: ${msg}`));
    return done();
  }
  const issues = mergeKnownIssues(ctx.lab.knownIssues, device.knownIssues);
  for (const raw of out.records) {
    const r = toTestResult(raw, info, issues);
    tests.push(r);
    if (info.firmware === 'unknown' && raw.meta.firmware) info.firmware = raw.meta.firmware;
    if (!info.model && raw.meta.model) info.model = raw.meta.model;
    if (!info.profile && raw.meta.profile) info.profile = raw.meta.profile;
  }
  for (const t of tests) if (t.firmware === 'unknown') t.firmware = info.firmware;
  out.unhandled.forEach((msg, i) =>
    tests.push(syntheticFailure(info, `run/unhandled error ${i + 1}`, `unhandled error ${i + 1}`, msg)),
  );
  return done();
}
