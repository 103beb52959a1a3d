/**
 * The HIL fixtures: Vitest's `test.extend` over the harness library (docs/STYLE.md §9,
 * labgrid's two-file pytest plugin). The built-in suites (`suites/fixtures.ts`) and users' own
 * test files (`bx-hil/vitest`, docs/writing-tests.md) run these same fixtures. The policy lives
 * in harness/run/: the device's life (`DeviceSession`: opened once per test file, cleaned
 * between tests, failing every test at once with the original cause when it cannot be brought
 * up), the file's PKI and broker rigs (`suite-session.ts`) and each test's evidence
 * (`test-evidence.ts`). Broker rigs are started per test (a few ms each) so records and
 * verdicts never leak between tests; what a test opens itself and leaves open fails it by name
 * (`leaks.ts`).
 *
 * Glossary: the **module** / **device** is the BX310x under test, real (`serial:`,
 * `rfc2217://`, `tcp://`) or the **virtual module** (`sim:<profile>`) whose knobs are `vm`; a
 * **rig** is the MQTT broker the harness starts (aedes behind the TLS front door, which records
 * each handshake and gives a verdict); **pki** is this file's certificates; a **scenario** is
 * an entry of the certificate catalogue (S1..S27, D1..; docs/pki.md) built into material.
 */
import { test as base, type TestContext } from 'vitest';
import type { BrokerRig, BrokerRigOptions } from '../broker/index.ts';
import type { Bx310x } from '../bx310x/index.ts';
import { HarnessError } from '../errors.ts';
import type { EvidenceBus } from '../evidence.ts';
import { buildScenario, type BasicPki, type KeyPool, type ScenarioMaterial } from '../pki/index.ts';
import { hasTool, pollUntil, WaitTimeoutError } from '../processes.ts';
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
} from '../run/index.ts';
import { getVirtualModule, openTarget } from '../targets.ts';
import { unwatched, watchLeaks, type LeakWatch } from './leaks.ts';

/** The virtual module's knobs (host overrides, DNS server, faults, Wi-Fi drop): the `vm` fixture on `sim:`. */
export type VirtualModule = NonNullable<ReturnType<typeof getVirtualModule>>;
export type { RigFactory, TargetInfo, TestEvidence };
export { capabilityReason, hasTool };

/**
 * How long what a test opened may take to finish closing after the fixtures cleaned up (a
 * closed socket's handle goes a few event-loop turns later); room for a loaded 2-core machine.
 */
const LEAK_SETTLE_MS = 2_000; // 2 s

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
  /** Automatic, first up and last down: fails the test that left open what it opened, by name. */
  leftOpen: LeakWatch;
}

/** A catalogue scenario staged for a test by the `scenario` fixture. */
export interface StagedScenario {
  /** The scenario's certificates and keys: `rootForDevice`, `clientCert`, `clientKey` are what the module stores. */
  material: ScenarioMaterial;
  /** A rig presenting the scenario's server side (chain, key, TLS versions), trusting its device certificates; closed after the test. */
  rig: BrokerRig;
  /** Where the module must dial to reach `rig` (on `sim:` with the default host name, already routed to it). */
  endpoint: { host: string; port: number };
}

/** Options of the `scenario` fixture. */
export interface ScenarioOptions {
  /**
   * Host name the server certificate names and the module dials. Default: the target's broker
   * name, which the harness routes to the rig. Another name is the test's to route (the lab
   * DNS, `vm.setDnsServer`, or `vm.setResolve`).
   */
  hostName?: string;
  /** Rig options over the scenario's (e.g. `{ profile: 'aws-iot', aws: {...} }`). */
  rig?: Partial<BrokerRigOptions>;
}

/** The fixtures a HIL test can ask for (`test('...', async ({ device, rig }) => ...)`). */
export interface HilFixtures {
  /** The target as the file sees it: URI, firmware, profile, capabilities, known issues, broker name. */
  target: TargetInfo;
  /** The file's evidence bus: module and broker events (the `evidence` fixture keeps this test's). */
  bus: EvidenceBus;
  /** This file's certificates (CA, server for the broker name, client) for the default rig. */
  pki: BasicPki;
  /** This file's key pool: scenario material built with it reuses keys instead of generating. */
  pool: KeyPool;
  /** The module driver; cleaned after each test. Throws the original cause if the device could not be opened. */
  device: Bx310x;
  /** The virtual module's knobs, or undefined on hardware. */
  vm: VirtualModule | undefined;
  /** This test's evidence (automatic): transcript, events, verdicts, certificates; written as a bundle under `bx-hil run`. */
  evidence: TestEvidence;
  /** Start broker rigs for this test (closed after it) and find where the module dials them. */
  rigs: RigFactory;
  /** A `strict` (mutual TLS) rig with this file's PKI, started for the test. */
  rig: BrokerRig;
  /**
   * Build catalogue scenario `id` (S1..S27, D1..; `bx-hil scenarios`) with this file's key pool
   * and start a rig for its server side: `await scenario('S1')`. Tags the test with `id` when
   * it has no tag yet; the scenario's certificates go into the evidence.
   */
  scenario: (id: string, options?: ScenarioOptions) => Promise<StagedScenario>;
}

/**
 * Vitest's `test` with the HIL fixtures: `device`, `vm`, `target`, `rig`, `rigs`, `scenario`,
 * `pki`, `pool`, `bus` and (automatic) `evidence`. The device comes from `$BX_DEVICE` (default
 * `sim:2.6.3`; `bx-hil run` sets it), opened once per file and cleaned after each test.
 */
export const test = base.extend<HilFixtures & FileFixtures>({
  // Defined first, with no dependency: set up before and torn down after every other fixture,
  // so the rigs and sessions the fixtures close are gone when it looks.
  leftOpen: [
    async ({ task }, use) => {
      const watch = watchLeaks(task.file.filepath);
      try {
        await use(watch);
        watch.pause();
        const settled = await pollUntil(() => watch.open().length === 0, {
          timeoutMs: LEAK_SETTLE_MS,
          intervalMs: 20,
          what: 'what the test opened to close',
        }).catch((err: unknown) => {
          if (err instanceof WaitTimeoutError) return false;
          throw err;
        });
        const left = settled ? [] : watch.open();
        if (left.length > 0)
          throw new HarnessError(
            'BXHIL_LEFT_OPEN',
            `the test left open what it opened: ${left.join('; ')}. Close each in the test (in a finally block), or start broker rigs with ctx.rigs.start(), which closes them`,
          );
      } finally {
        watch.stop();
      }
    },
    { auto: true },
  ],
  suite: [
    async ({}, use) => {
      // Its device link (a tcp:// connection on a file's first test) is not the test's leak.
      const suite = await unwatched(() => openSuiteSession({ open: openTarget, virtualModule: getVirtualModule }));
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
  device: async ({ suite, evidence, leftOpen }, use) => {
    await use(suite.device.acquire());
    // What the session opens from here on (a link reopened after a broken test) is its own.
    leftOpen.pause();
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
  scenario: async ({ suite, rigs, evidence, task }, use) => {
    await use(async (id, options = {}) => {
      const meta = task.meta as SuiteTestMeta;
      meta.scenario ??= id;
      const hostName = options.hostName ?? suite.target.brokerName;
      const material = await buildScenario(id, { pool: suite.pool, hostName });
      evidence.cert('scenario-root', material.root.certPem);
      if (material.serverCert) evidence.cert('server', material.serverCert);
      if (material.clientCert) evidence.cert('client', material.clientCert);
      const rig = await rigs.start({
        profile: 'strict',
        pki: { ca: material.root, server: material.serverLeaf ?? material.root },
        tls: { ...material.tls, requestCert: true },
        ...(material.serverCert ? { serverCertChainPem: material.serverCert, serverKeyPem: material.serverKey } : {}),
        ...(material.clientCa ? { clientCaPem: material.clientCa } : {}),
        ...options.rig,
      });
      const endpoint = hostName === suite.target.brokerName ? rigs.endpoint(rig) : { host: hostName, port: rig.port };
      return { material, rig, endpoint };
    });
  },
});

/** What a HIL test needs and checks: its tag, and why it may be skipped on a target. */
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

/** What a `hil()` test function gets: the fixtures (rigs started on demand), the task, `skip` and the test's `meta`. */
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
    async ({ task, skip, target, bus, pki, pool, device, vm, evidence, rigs, scenario }) => {
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
        await fn({ task, skip, target, bus, pki, pool, device, vm, evidence, rigs, scenario, meta });
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
