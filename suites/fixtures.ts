/**
 * The HIL suites' fixtures: a thin plugin layer over the harness library (STYLE.md §9).
 *
 * Glossary (the actors every suite talks about):
 * - **module** / **device**: the BX310x under test, driven over its link by the `Bx310x` driver.
 *   Real hardware (`serial:`, `rfc2217://`, `tcp://`) or the **virtual module** (`sim:<profile>`).
 * - **vm**: the virtual module's knobs (host overrides, faults, Wi-Fi drop); `undefined` on hardware.
 * - **rig** / **broker**: the MQTT broker the harness starts for a test (aedes behind the TLS
 *   **front door**, which records each handshake and gives a **verdict**).
 * - **pki**: the certificates of this file's run (a test root CA, a server and a client).
 *
 * Scopes, measured: the device is opened once per test file (per-test opening costs a boot and
 * an identity read each time) and cleaned between tests (MQTT sessions closed and deleted,
 * faults cleared, Wi-Fi rejoined); broker rigs are started per test (a few ms each) so records
 * and verdicts never leak between tests. A file whose device cannot be opened fails every test
 * at once with the original cause (labgrid's never_retry, STYLE.md §7).
 *
 * Each test's evidence (AT transcript, events of both sides, verdicts, certificates used) is
 * written to `$BX_HIL_EVIDENCE_DIR/<safe test id>/` when the variable is set (`bx-hil run`
 * sets it).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test as base, type TestContext } from 'vitest';
import { closeAll, HarnessError } from '../harness/errors.ts';
import { EvidenceBus, type EvidenceEvent } from '../harness/evidence.ts';
import { createBasicPki, KeyPool, type BasicPki } from '../harness/pki/factory.ts';
import { writeEvidenceBundle } from '../harness/report/bundle.ts';
import type { KnownIssue } from '../harness/report/types.ts';
import { findKnownIssue, judgeFailure, mergeKnownIssues } from '../harness/run/known-issues.ts';
import { SUITE_ENV, safeTestDir, testIdFor, type Heartbeat, type SuiteTestMeta } from '../harness/run/meta.ts';
import { loadRigFile, type RigDevice } from '../harness/run/rig.ts';
import { startBrokerRig, type BrokerRig, type BrokerRigOptions, type Verdict } from '../harness/broker/index.ts';
import type { Link } from '../harness/link/index.ts';
import { Bx310x } from '../harness/bx310x/index.ts';
import { getVirtualModule, openTarget } from '../harness/targets.ts';
import { hasTool, killOnExit } from '../harness/processes.ts';

export type VirtualModule = NonNullable<ReturnType<typeof getVirtualModule>>;

/** Upload guard time on the virtual module: the profile's guard plus 10 ms, at least 60 ms (hardware keeps the driver's 1 s). */
function simGuardMs(vm: VirtualModule): number {
  return Math.max(60, vm.profile.uploads.guardTimeMs + 10);
}

/** What the suites know about the target before any test runs. */
export interface TargetInfo {
  uri: string;
  /** The virtual module (its knobs are in `vm`). */
  isSim: boolean;
  /** `firmware 2.6.3 profile` (sim) or `firmware 2.6.3 on bench-a` (hardware): how skip reasons start. */
  label: string;
  /** Firmware as read from the module (AT+CGMR). */
  firmware: string;
  model: string;
  /** Capabilities the profile declares; `undefined` on hardware (everything is tried). */
  capabilities: ReadonlySet<string> | undefined;
  /** Profile's `sources` (dotted field → reference tag), for skip reasons. */
  sources: Record<string, string>;
  knownIssues: KnownIssue[];
  /** The broker host name the module is configured with (its server certificate names it). */
  brokerName: string;
  /** Address the rig binds (127.0.0.1 on sim, all interfaces on hardware). */
  bindHost: string;
  rigDevice?: RigDevice;
}

interface Session {
  target: TargetInfo;
  bus: EvidenceBus;
  pool: KeyPool;
  pki: BasicPki;
  driver?: Bx310x;
  vm?: VirtualModule;
  /** Why the device could not be used; every test fails at once with it. */
  broken?: unknown;
  closers: Array<() => unknown>;
  close(): Promise<void>;
}

/** Per-test evidence collector (the `evidence` fixture). */
export interface TestEvidence {
  readonly id: string;
  readonly events: EvidenceEvent[];
  /** Record a certificate (public PEM) used by the test; private keys are redacted on write. */
  cert(name: string, pem: string): void;
  /** Set what the test waits on now (shown by `bx-hil run` during long waits). */
  waiting(what: string | undefined): void;
  /** Note a fact for the bundle's meta.json. */
  note(key: string, value: unknown): void;
  /** Rigs started by the test: their verdicts go into the bundle. */
  addRig(rig: BrokerRig): void;
}

export interface RigFactory {
  /** Start a broker rig for this test (closed in teardown); default profile `strict` with this file's PKI. */
  start(options?: Partial<BrokerRigOptions>): Promise<BrokerRig>;
  /** Where the module must connect to reach `rig` (sim: the broker name redirected; hardware: host address + port). */
  endpoint(rig: BrokerRig): { host: string; port: number };
}

/** Capability → the profile field its source tag is under (for skip reasons). */
const CAPABILITY_SOURCE: Record<string, string> = {
  'tls.1.2': 'tls.maxVersion',
  'tls.1.3': 'tls.maxVersion',
  'tls.sni': 'tls.sni',
  'tls.verifyChain': 'tls.verify',
  'tls.verifyName': 'tls.verify',
  'tls.verifyDates': 'tls.verify',
  'tls.weakCrypto': 'tls.allowWeakCrypto',
  'tls.rsa4096': 'tls.maxRsaBits',
  'tls.mutual': 'tls.clientIdentity',
  'mqtt.v31': 'mqtt.versions',
  'mqtt.qos1': 'mqtt.maxQos',
  'mqtt.qos2': 'mqtt.maxQos',
  'mqtt.will': 'mqtt.will',
  'mqtt.indOnSubscribe': 'mqtt.indOnSubscribe',
  'mqtt.indOnQos0': 'mqtt.indOnQos0Publish',
  'mqtt.dataUrc': 'mqtt.incomingUrc',
  'mqtt.subUrc': 'mqtt.incomingUrc',
  'keys.readForm': 'keys.readForm',
  'keys.pkcs1': 'keys.forms',
  'keys.pkcs8': 'keys.forms',
  'keys.sec1': 'keys.forms',
  'uploads.lf': 'uploads.lineEndings',
  'uploads.crlf': 'uploads.lineEndings',
  'uploads.pemCheck': 'uploads.check',
  wifi: 'wifi.enabled',
  'clock.settable': 'clock.settable',
};

/** The skip reason for a missing capability: `firmware 2.6.3 profile: tls.1.3 not supported (source: [guess] ...)`. */
export function capabilityReason(target: TargetInfo, capability: string): string | undefined {
  if (!target.capabilities || target.capabilities.has(capability)) return undefined;
  const field = CAPABILITY_SOURCE[capability];
  const source = (field && target.sources[field]) || 'profile';
  return `${target.label}: ${capability} not supported (source: ${source.length > 100 ? `${source.slice(0, 97)}...` : source})`;
}

export { hasTool };

async function openSession(): Promise<Session> {
  const uri = process.env[SUITE_ENV.device] ?? 'sim:2.6.3';
  const isSim = uri.startsWith('sim:');
  let rigDevice: RigDevice | undefined;
  let rigIssues: KnownIssue[] = [];
  const rigFile = process.env[SUITE_ENV.rigFile];
  const bus = new EvidenceBus();
  const pool = new KeyPool();
  const closers: Array<() => unknown> = [];
  const target: TargetInfo = {
    uri,
    isSim,
    label: isSim ? `firmware ${uri.slice(4).split('?')[0]} profile` : `device ${uri}`,
    firmware: 'unknown',
    model: 'unknown',
    capabilities: undefined,
    sources: {},
    knownIssues: [],
    brokerName: isSim ? 'broker.bx-hil.test' : '127.0.0.1',
    bindHost: '127.0.0.1',
  };
  const session: Session = {
    target,
    bus,
    pool,
    pki: undefined as unknown as BasicPki,
    closers,
    close: () => closeAll(closers, 'suite session'),
  };
  try {
    if (rigFile) {
      const rig = await loadRigFile(rigFile);
      const id = process.env[SUITE_ENV.rigDevice];
      rigDevice = rig.devices.find((d) => d.id === id) ?? rig.devices.find((d) => d.uri === uri);
      rigIssues = mergeKnownIssues(rig.knownIssues, rigDevice?.knownIssues);
      if (rigDevice) target.rigDevice = rigDevice;
    }
    if (!isSim) {
      const hostAddress = rigDevice?.hostAddress ?? process.env[SUITE_ENV.hostAddress];
      target.brokerName = hostAddress ?? '127.0.0.1';
      // The module reaches the test host over the network: listen on every interface.
      target.bindHost = hostAddress && hostAddress !== '127.0.0.1' ? '0.0.0.0' : '127.0.0.1';
    }
    session.pki = await createBasicPki({ pool, serverNames: [target.brokerName, 'localhost', '127.0.0.1'] });
    await bringUp(session);
    const id = await session.driver!.identity();
    target.firmware = id.firmware;
    target.model = id.model;
    if (!isSim) target.label = `firmware ${id.firmware} on ${rigDevice?.id ?? uri}`;
    const vm = session.vm;
    target.knownIssues = mergeKnownIssues(vm?.profile.knownIssues, rigIssues);
    if (rigDevice?.wifi) {
      await session.driver!.wifiStationConfig(rigDevice.wifi.ssid, rigDevice.wifi.password, true);
      await session.driver!.wifiConnect();
    }
  } catch (err) {
    session.broken = err;
  }
  return session;
}

/** Open the link and the driver for a session (again after a test broke them). */
async function bringUp(session: Session): Promise<void> {
  const link: Link = await openTarget(session.target.uri);
  session.closers.push(() => link.close());
  const vm = getVirtualModule(link);
  if (vm) {
    session.vm = vm;
    session.target.label = `firmware ${vm.profile.name} profile`;
    session.target.capabilities = new Set(vm.profile.capabilities);
    session.target.sources = vm.profile.sources;
  }
  const driver = await Bx310x.open(link, {
    bus: session.bus,
    scope: 'dut',
    ...(vm ? { guardTimeMs: simGuardMs(vm), resetTimeoutMs: 5_000 } : {}),
  });
  session.closers.push(() => driver.close());
  session.driver = driver;
}

interface Capture {
  stop(): Promise<void>;
}

/** Bound on tshark starting to capture, ms. */
const CAPTURE_START_MS = 10_000; // 10 s

/**
 * `--capture`: a packet capture of the rig's port for the test, written into its evidence
 * bundle (`capture.pcapng`, or `capture-<n>.pcapng` for a test's later rigs). Needs tshark and
 * the right to capture on `lo`; without them the test goes on and the bundle says why.
 */
async function startCapture(port: number, dir: string, n: number): Promise<Capture> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, n === 1 ? 'capture.pcapng' : `capture-${n}.pcapng`);
  if (!hasTool('tshark')) {
    writeFileSync(
      join(dir, 'capture-missing.txt'),
      'tshark is not installed: apt-get install tshark to capture packets\n',
    );
    return { stop: async () => {} };
  }
  const child = killOnExit(
    spawn('tshark', ['-i', 'lo', '-f', `tcp port ${port}`, '-w', file, '-q'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  let err = '';
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, CAPTURE_START_MS);
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
      if (/Capturing on/.test(err)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          if (!/Capturing on/.test(err))
            writeFileSync(join(dir, 'capture-missing.txt'), `tshark could not capture: ${err.trim()}\n`);
          return resolve();
        }
        const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill('SIGINT');
      }),
  };
}

/**
 * Heartbeats for `bx-hil run`'s progress: what the test waits on now. An explicit wait
 * (`evidence.waiting('...')`, e.g. a URC after OK) stays until cleared; an AT command in flight
 * shows over it and gives way to it again at its final result.
 */
function heartbeatWriter(testId: string): {
  explicit(what: string | undefined): void;
  command(what: string | undefined): void;
} {
  const dir = process.env[SUITE_ENV.heartbeatDir];
  if (!dir) return { explicit: () => {}, command: () => {} };
  const file = join(dir, `${process.pid}.json`);
  let explicit: { what: string; since: number } | undefined;
  let command: { what: string; since: number } | undefined;
  const write = () => {
    const now = command ?? explicit;
    try {
      if (now === undefined) rmSync(file, { force: true });
      else
        writeFileSync(
          file,
          JSON.stringify({ test: testId, waitingOn: now.what, since: now.since } satisfies Heartbeat),
        );
    } catch {
      // heartbeats are best effort: a missing directory must not fail a test
    }
  };
  return {
    explicit(what) {
      explicit = what === undefined ? undefined : { what, since: Date.now() };
      write();
    },
    command(what) {
      command = what === undefined ? undefined : { what, since: Date.now() };
      write();
    },
  };
}

/** `<suite>/<describe path>/<title>` of a running test. */
export function testIdOf(task: TestContext['task']): string {
  const names = [task.name];
  for (let s = task.suite; s && s.type === 'suite' && s.name !== ''; s = s.suite) {
    if (s === (task.file as unknown)) break;
    names.unshift(s.name);
  }
  return testIdFor(task.file.name, names);
}

/** Render AT events as a readable transcript (`+0.123 > AT+CGMR`). */
function transcriptOf(events: ReadonlyArray<EvidenceEvent>): string {
  const at = events.filter((e) => e.source === 'at');
  const t0 = events[0]?.t ?? 0;
  const arrow: Record<string, string> = {
    command: '>',
    data: '>',
    line: '<',
    final: '<',
    urc: '<',
    timeout: '!',
    reset: '!',
    garbage: '?',
    resync: '!',
  };
  return (
    at.map((e) => `+${((e.t - t0) / 1000).toFixed(3)} ${arrow[e.kind] ?? ' '} ${e.summary}`).join('\n') +
    (at.length ? '\n' : '')
  );
}

/**
 * The module sent back stored key material during the test (the AT engine's `secret-echo`
 * events, harness/secrets.ts): a SECURITY FAILURE even when the test itself passed.
 */
function secretEchoFinding(meta: SuiteTestMeta, events: ReadonlyArray<EvidenceEvent>): void {
  const echoes = events.filter((e) => e.source === 'at' && e.kind === 'secret-echo').length;
  if (echoes === 0) return;
  meta.securityFailure = true;
  throw new HarnessError(
    'BXHIL_SECRET_ECHO',
    `SECURITY FAILURE: the module echoed stored key material (${echoes} line${echoes === 1 ? '' : 's'}, redacted; the secret-echo events of the evidence say where)`,
  );
}

interface FileFixtures {
  session: Session;
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
  session: [
    async ({}, use) => {
      const session = await openSession();
      await use(session);
      await session.close();
    },
    { scope: 'file' },
  ],
  target: async ({ session }, use) => use(session.target),
  bus: async ({ session }, use) => use(session.bus),
  pki: async ({ session }, use) => use(session.pki),
  pool: async ({ session }, use) => use(session.pool),
  vm: async ({ session }, use) => use(session.vm),
  evidence: [
    async ({ session, task }, use) => {
      const id = testIdOf(task);
      const events: EvidenceEvent[] = [];
      const certs: { name: string; pem: string }[] = [];
      const notes: Record<string, unknown> = {};
      const rigs: BrokerRig[] = [];
      const beat = heartbeatWriter(id);
      const unsubscribe = session.bus.subscribe((e) => {
        events.push(e);
        if (e.source === 'at' && e.kind === 'command') beat.command(e.summary);
        else if (e.source === 'at' && (e.kind === 'final' || e.kind === 'timeout')) beat.command(undefined);
      });
      const meta = task.meta as SuiteTestMeta;
      meta.firmware = session.target.firmware;
      meta.model = session.target.model;
      const evidence: TestEvidence = {
        id,
        events,
        cert: (name, pem) => void certs.push({ name, pem }),
        waiting: (what) => beat.explicit(what),
        note: (key, value) => void (notes[key] = value),
        addRig: (rig) => void rigs.push(rig),
      };
      await use(evidence);
      unsubscribe();
      beat.command(undefined);
      beat.explicit(undefined);
      const root = process.env[SUITE_ENV.evidenceDir];
      if (!root) return secretEchoFinding(meta, events);
      const dirName = safeTestDir(id);
      const verdicts: Verdict[] = rigs.flatMap((r) => r.verdicts);
      const keylogs = rigs.map((r) => (r as { keylogPath?: string }).keylogPath).filter((p): p is string => !!p);
      let keylog: string | undefined;
      if (process.env[SUITE_ENV.keylog] === '1') {
        keylog = keylogs
          .map((p) => {
            try {
              return readFileSync(p, 'utf8');
            } catch {
              return '';
            }
          })
          .join('');
      }
      // The per-rig key logs were scratch files: only the bundle keeps the key log (mode 0600).
      for (const p of keylogs) rmSync(p, { force: true });
      await writeEvidenceBundle(join(root, dirName), {
        events,
        transcriptText: transcriptOf(events),
        verdicts,
        certs,
        meta: {
          test: id,
          device: session.target.uri,
          firmware: session.target.firmware,
          model: session.target.model,
          ...meta,
          ...notes,
        },
        ...(keylog !== undefined ? { keylog } : {}),
      });
      meta.evidenceDir = join('evidence', dirName);
      secretEchoFinding(meta, events);
    },
    { auto: true },
  ],
  device: async ({ session, evidence }, use) => {
    if (session.broken !== undefined || !session.driver) {
      const cause = session.broken;
      const msg = cause instanceof Error ? cause.message : String(cause);
      throw new HarnessError(
        'BXHIL_RIG_BROKEN',
        `the device ${session.target.uri} could not be brought up for this file, so no test can run: ${msg}. Fix the rig (run \`bx-hil preflight\`) and rerun`,
        { cause },
      );
    }
    await use(session.driver);
    evidence.waiting('cleanup after the test');
    // Reset between tests (the device is shared by the file): faults off, Wi-Fi back, MQTT sessions gone.
    session.vm?.setFaults({
      dropRate: 0,
      corruptRate: 0,
      responseDelayMs: 0,
      spuriousUrcEveryMs: 0,
      resetAtCommand: '',
    });
    await cleanDevice(session);
    evidence.waiting(undefined);
  },
  rigs: async ({ session, evidence }, use) => {
    const started: BrokerRig[] = [];
    const captures: Capture[] = [];
    const keylogDir =
      process.env[SUITE_ENV.keylog] === '1' && process.env[SUITE_ENV.evidenceDir]
        ? join(process.env[SUITE_ENV.evidenceDir]!, '.keylogs')
        : undefined;
    const factory: RigFactory = {
      async start(options = {}) {
        let keylogPath: string | undefined;
        if (keylogDir) {
          mkdirSync(keylogDir, { recursive: true });
          keylogPath = join(keylogDir, `${process.pid}-${Date.now()}-${started.length}.log`);
        }
        const rig = await startBrokerRig({
          host: session.target.bindHost,
          port: 0,
          profile: 'strict',
          pki: session.pki,
          bus: session.bus,
          ...(keylogPath ? { keylogPath } : {}),
          ...options,
        });
        if (keylogPath) Object.assign(rig, { keylogPath });
        started.push(rig);
        evidence.addRig(rig);
        if (process.env[SUITE_ENV.capture] === '1' && process.env[SUITE_ENV.evidenceDir]) {
          captures.push(
            await startCapture(
              rig.port,
              join(process.env[SUITE_ENV.evidenceDir]!, safeTestDir(evidence.id)),
              started.length,
            ),
          );
        }
        if (session.vm) session.vm.setResolve(session.target.brokerName, { host: '127.0.0.1', port: rig.port });
        return rig;
      },
      endpoint(rig) {
        return session.vm
          ? { host: session.target.brokerName, port: 8883 }
          : { host: session.target.brokerName, port: rig.port };
      },
    };
    await use(factory);
    await closeAll([...captures.map((c) => () => c.stop()), ...started.map((r) => () => r.close())], 'broker rigs');
  },
  rig: async ({ rigs }, use) => use(await rigs.start()),
});

/**
 * Close and delete every MQTT session and rejoin Wi-Fi when a test dropped it. A driver a test
 * left broken (link faults, resets) is closed and opened again, so the next test starts clean;
 * if that fails, the session is broken and later tests fail at once with the cause.
 */
async function cleanDevice(session: Session): Promise<void> {
  try {
    let driver = session.driver!;
    if (driver.state !== 'open') {
      await closeAll(session.closers.splice(0), 'reopen after a broken test').catch(() => undefined);
      await bringUp(session);
      driver = session.driver!;
    }
    for (const s of await driver.mqttSessions()) {
      await driver.mqttClose(s.id).catch(() => undefined);
      await driver.mqttDelete(s.id).catch(() => undefined);
    }
    if (session.vm && !session.vm.wifi.joined) await driver.wifiConnect({ timeoutMs: 5_000 });
  } catch (err) {
    session.broken = err;
  }
}

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
