/**
 * The HIL suites' fixtures: Vitest's `test.extend` over the harness library (docs/STYLE.md §9,
 * labgrid's two-file pytest plugin). The policy lives in harness/run/: the device's life
 * (`DeviceSession`: opened once per test file, cleaned between tests, failing every test at once
 * with the original cause when it cannot be brought up), the file's PKI and broker rigs
 * (`suite-session.ts`) and each test's evidence (`test-evidence.ts`). Broker rigs are started
 * per test (a few ms each) so records and verdicts never leak between tests.
 *
 * Glossary: the **module** / **device** is the BX310x under test, real (`serial:`,
 * `rfc2217://`, `tcp://`) or the **virtual module** (`sim:<profile>`) whose knobs are `vm`; a
 * **rig** is the MQTT broker the harness starts (aedes behind the TLS front door, which records
 * each handshake and gives a verdict); **pki** is this file's certificates.
 */
import { test as base, type TestContext } from 'vitest';
import type { BrokerRig } from '../harness/broker/index.ts';
import type { Bx310x } from '../harness/bx310x/index.ts';
import { HarnessError } from '../harness/errors.ts';
import type { EvidenceBus } from '../harness/evidence.ts';
import type { BasicPki, KeyPool } from '../harness/pki/index.ts';
import { hasTool } from '../harness/processes.ts';
import {
  findKnownIssue,
  judgeFailure,
  testIdFor,
  type SuiteTestMeta,
  capabilityReason,
  openSuiteSession,
  testRigs,
  type RigFactory,
  type SuiteSession,
  type TargetInfo,
  collectTestEvidence,
  type TestEvidence,
} from '../harness/run/index.ts';
import { getVirtualModule, openTarget } from '../harness/targets.ts';

export type VirtualModule = NonNullable<ReturnType<typeof getVirtualModule>>;
export type { RigFactory, TargetInfo, TestEvidence };
export { capabilityReason, hasTool };

/** `<suite>/<describe path>/<title>` of a running test. */
export function testIdOf(task: TestContext['task']): string {
  const names = [task.name];
  for (let s = task.suite; s && s.type === 'suite' && s.name !== ''; s = s.suite) {
    if (s === (task.file as unknown)) break;
    names.unshift(s.name);
  }
  return testIdFor(task.file.name, names);
}

interface FileFixtures {
  suite: SuiteSession;
}

export interface HilFixtures {
  target: TargetInfo;
  bus: EvidenceBus;
  pki: BasicPki;
  pool: KeyPool;
  /** The module driver; cleaned after each test. Throws the original cause if the device could not be opened. */
  device: Bx310x;
  /** The virtual module's knobs, or undefined on hardware. */
  vm: VirtualModule | undefined;
  evidence: TestEvidence;
  rigs: RigFactory;
  /** A `strict` (mutual TLS) rig with this file's PKI, started for the test. */
  rig: BrokerRig;
}

export const test = base.extend<HilFixtures & FileFixtures>({
  suite: [
    async ({}, use) => {
      const suite = await openSuiteSession({ open: openTarget, virtualModule: getVirtualModule });
      await use(suite);
      await suite.close();
    },
    { scope: 'file' },
  ],
  target: async ({ suite }, use) => use(suite.target),
  bus: async ({ suite }, use) => use(suite.bus),
  pki: async ({ suite }, use) => use(suite.pki),
  pool: async ({ suite }, use) => use(suite.pool),
  vm: async ({ suite }, use) => use(suite.device.vm),
  evidence: [
    async ({ suite, task }, use) => {
      const { evidence, finish } = collectTestEvidence(suite.bus, {
        id: testIdOf(task),
        meta: task.meta as SuiteTestMeta,
        device: { uri: suite.target.uri, firmware: suite.target.firmware, model: suite.target.model },
        floor: suite.target,
      });
      // Which profile the test ran against (the runner's report names it per device).
      if (suite.target.profileInfo) (task.meta as SuiteTestMeta).profile = suite.target.profileInfo;
      await use(evidence);
      await finish();
    },
    { auto: true },
  ],
  device: async ({ suite, evidence }, use) => {
    await use(suite.device.acquire());
    evidence.waiting('cleanup after the test');
    // The device is shared by the file: faults off, Wi-Fi back, MQTT sessions gone (or broken, with the cause).
    await suite.device.ensureClean();
    evidence.waiting(undefined);
  },
  rigs: async ({ suite, evidence }, use) => {
    const rigs = testRigs(suite, evidence);
    await use(rigs);
    await rigs.close();
  },
  rig: async ({ rigs }, use) => use(await rigs.start()),
});

export interface HilTestOptions {
  /** Scenario id (S1..S27, D1..) or reference tag the test checks; recorded in `task.meta.scenario`. */
  scenario: string;
  /** Capabilities the target must have; otherwise the test is skipped with the profile's reason. */
  needs?: string[];
  /** External tools (openssl, mosquitto, socat, ser2net) the test needs; skipped with the reason when absent. */
  tools?: string[];
  /** Needs the virtual module's knobs (host override, faults, Wi-Fi drop): skipped on hardware. */
  sim?: string;
  /** The harness cannot stage this test on any target: skipped with this reason. */
  cannotStage?: string;
  /** The virtual module cannot model this (a simulator gap, not a firmware fact): skipped on sim: with this reason, run on hardware. */
  simGap?: string;
  /** Test timeout in ms. Default the config's (30 s). */
  timeoutMs?: number;
}

export type HilContext = Omit<HilFixtures, 'rig'> & {
  task: TestContext['task'];
  skip: TestContext['skip'];
  meta: SuiteTestMeta;
};

/** Mark a test with its scenario/reference tag (also done by `hil()` from its options). */
export function tag(task: TestContext['task'], scenario: string): void {
  (task.meta as SuiteTestMeta).scenario = scenario;
}

/**
 * Fail the test as a SECURITY FAILURE: the module accepted a connection it must refuse, named
 * in those words so a reader of the report finds it. Never excused by a known issue.
 */
export function securityFailure(meta: SuiteTestMeta, what: string): never {
  meta.securityFailure = true;
  throw new HarnessError('BXHIL_SECURITY_FAILURE', `SECURITY FAILURE: ${what}`);
}

/**
 * A HIL test: tagged with its scenario, skipped with a reason when the target lacks a capability
 * or a tool or is not the simulator, and wrapped for known issues: a known issue that fails the
 * way it `expects` is recorded (`meta.expectedFailure`) and the Vitest test passes, so `npm test`
 * passes with expected failures; one that fails another way fails with a `KnownIssueMismatchError`
 * ("failed differently from the known issue", the original error as its cause); one that passes
 * is reported `fixed` by the runner.
 */
export function hil(title: string, options: HilTestOptions, fn: (ctx: HilContext) => Promise<void>): void {
  test(
    title,
    async ({ task, skip, target, bus, pki, pool, device, vm, evidence, rigs }) => {
      const meta = task.meta as SuiteTestMeta;
      meta.scenario = options.scenario;
      const reasons: string[] = options.cannotStage ? [options.cannotStage] : [];
      for (const cap of options.needs ?? []) {
        const r = capabilityReason(target, cap);
        if (r) reasons.push(r);
      }
      for (const tool of options.tools ?? [])
        if (!hasTool(tool)) reasons.push(`needs ${tool}, which is not installed (CI installs it)`);
      if (options.simGap && vm) reasons.push(`virtual module gap: ${options.simGap}`);
      if (options.sim && !vm) reasons.push(`needs the virtual module's ${options.sim}: not available on ${target.uri}`);
      if (reasons.length > 0) {
        meta.skipReason = reasons.join('; ');
        skip(meta.skipReason);
        return;
      }
      const issue = findKnownIssue(evidence.id, target.knownIssues);
      if (issue) meta.knownIssue = issue;
      try {
        await fn({ task, skip, target, bus, pki, pool, device, vm, evidence, rigs, meta });
      } catch (err) {
        // The module sent back a stored key (harness/secrets.ts): a security failure.
        if ((err as { code?: unknown })?.code === 'BXHIL_SECRET_ECHO') meta.securityFailure = true;
        // A skip from inside the test (Vitest's PendingError) and a security failure are never excused.
        if (!issue || meta.securityFailure || (err as { code?: unknown })?.code === 'VITEST_PENDING') throw err;
        // Only the failure the known issue names is expected (harness/run/known-issues.ts).
        const judged = judgeFailure(issue, err, meta.verdict?.code);
        if (judged.matched) {
          meta.expectedFailure = judged.expectedFailure;
          return;
        }
        meta.knownIssueMismatch = judged.mismatch;
        throw judged.error;
      }
    },
    options.timeoutMs,
  );
}

/** `hil` with one capability, for the common case: `testIf('mqtt.qos2', 'QoS 2 round trip', {scenario}, fn)`. */
export function testIf(
  capability: string,
  title: string,
  options: Omit<HilTestOptions, 'needs'>,
  fn: (ctx: HilContext) => Promise<void>,
): void {
  hil(title, { ...options, needs: [capability] }, fn);
}
