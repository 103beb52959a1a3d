/**
 * What the HIL suites share per test file, built without Vitest (docs/STYLE.md §9): the target as
 * the suites see it (`TargetInfo`), its `DeviceSession`, this file's PKI, and the broker rigs a
 * test starts. `harness/vitest/fixtures.ts` only hands these out as fixtures.
 *
 * Glossary: the **module** / **device** is the BX310x under test (real hardware or the virtual
 * module `sim:<profile>`, whose knobs are `vm`); a **rig** is the MQTT broker the harness starts
 * for a test; the **lab file** lists the devices of a bench (harness/run/lab.ts).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startBrokerRig, type BrokerRig, type BrokerRigOptions } from '../broker/index.ts';
import { closeAll } from '../errors.ts';
import { EvidenceBus } from '../evidence.ts';
import type { LabDnsConfig } from '../lab/index.ts';
import { createBasicPki, KeyPool, type BasicPki } from '../pki/index.ts';
import type { KnownIssue, ProfileInfo } from '../report/index.ts';
import type { Profile, VirtualModule } from '../sim/index.ts';
import { INSTANT_TIMING, type Timing } from '../timing.ts';
import { startCapture, type Capture } from './capture.ts';
import { chooseProfile } from './device-profile.ts';
import { SERVER_CHAIN_EVENT, verifyKindsOf } from './floor.ts';
import { setWaitsInForce, suiteWaits } from './waits.ts';
import { brokerBindHost, DeviceSession, type TargetOpener } from './device-session.ts';
import { mergeKnownIssues } from './known-issues.ts';
import { labDeviceTiming, loadLabFile, type LabDevice } from './lab.ts';
import { safeTestDir, SUITE_ENV } from './meta.ts';

/** What the suites know about the target before any test runs. */
export interface TargetInfo {
  uri: string;
  /** The virtual module (its knobs are in `vm`). */
  isSim: boolean;
  /** `firmware 2.6.3 profile`: how skip reasons start, the same on sim: and on hardware run against that profile. */
  label: string;
  /** Firmware as read from the module (AT+CGMR). */
  firmware: string;
  model: string;
  /** Capabilities the profile declares; `undefined` until the device is up (then everything is tried). */
  capabilities: ReadonlySet<string> | undefined;
  /**
   * The profile the target runs against (the virtual module's, or the one chosen for hardware:
   * harness/run/device-profile.ts). Its data only: the simulator knobs stay in `vm`.
   */
  profile?: Profile;
  /** Where the profile came from, for the report. */
  profileInfo?: ProfileInfo;
  /** Profile's `sources` (dotted field → reference tag), for skip reasons. */
  sources: Record<string, string>;
  knownIssues: KnownIssue[];
  /** The broker host name the module is configured with (its server certificate names it). */
  brokerName: string;
  /** Address the rig binds (127.0.0.1 on sim, where the module reaches the host on hardware). */
  bindHost: string;
  labDevice?: LabDevice;
  /**
   * The lab file's `network.dns` on hardware (absent on `sim:`): where the modules' DHCP says
   * their DNS server is, the lab's own names and its upstream. The lab-dns suite serves its
   * scenario names there (docs/lab.md).
   */
  labDns?: LabDnsConfig;
  /**
   * How fast the module is (harness/timing.ts): the virtual module's own timing, or a real
   * module's from the lab file or its profile. Waits derive from it (suites/helpers.ts `waits`)
   * and each test's physical floor is computed against it. Instant until the device is up.
   */
  timing: Timing;
  /** The module's own upload guard time (its profile's `uploads.guardTimeMs`), ms: 0 until the profile is known. */
  uploadGuardMs: number;
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

/** Upload guard time on the virtual module: the profile's guard plus 10 ms, at least 60 ms (hardware keeps the driver's 1 s until its profile is matched). */
function simGuardMs(vm: VirtualModule): number {
  return Math.max(60, vm.profile.uploads.guardTimeMs + 10);
}

/**
 * Upload guard time on a real module whose profile was matched (named, or its AT+CGMR): the
 * profile's guard plus 30 ms. The margin covers what stands between the harness's clock and the
 * module's UART: a USB serial adapter holds bytes up to its latency timer (16 ms by default on
 * FTDI parts) and a loaded host wakes timers late; the bytes' own time on the wire is added by
 * the driver. An unmatched module (the `reference` fallback) keeps the driver's cautious 1 s.
 */
export const PROFILE_GUARD_MARGIN_MS = 30;
export function profileGuardMs(profile: Pick<Profile, 'uploads'>): number {
  return profile.uploads.guardTimeMs + PROFILE_GUARD_MARGIN_MS;
}

/** One test file's device, PKI and bus. */
export interface SuiteSession {
  target: TargetInfo;
  device: DeviceSession<VirtualModule>;
  bus: EvidenceBus;
  pool: KeyPool;
  pki: BasicPki;
  close(): Promise<void>;
}

/**
 * Open the device of `$BX_DEVICE` (default `sim:2.6.3`), with its lab file entry when
 * `$BX_HIL_LAB` names one. Never rejects for a device problem: the session is then `broken`
 * and every test that needs the device fails at once with the cause.
 */
export async function openSuiteSession(
  targets: TargetOpener<VirtualModule>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SuiteSession> {
  const uri = env[SUITE_ENV.device] ?? 'sim:2.6.3';
  const isSim = uri.startsWith('sim:');
  const bus = new EvidenceBus();
  const pool = new KeyPool();
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
    timing: INSTANT_TIMING,
    uploadGuardMs: 0,
  };
  let labDevice: LabDevice | undefined;
  let labIssues: KnownIssue[] = [];
  let labProfiles: string | undefined;
  let labDns: LabDnsConfig | undefined;
  let labProblem: unknown;
  try {
    const labFile = env[SUITE_ENV.labFile];
    if (labFile) {
      const lab = await loadLabFile(labFile);
      const id = env[SUITE_ENV.labDevice];
      labDevice = lab.devices.find((d) => d.id === id) ?? lab.devices.find((d) => d.uri === uri);
      labIssues = mergeKnownIssues(lab.knownIssues, labDevice?.knownIssues);
      labProfiles = lab.profiles;
      labDns = lab.network?.dns;
      if (labDevice) target.labDevice = labDevice;
    }
  } catch (err) {
    labProblem = err;
  }
  if (!isSim) {
    const hostAddress = labDevice?.hostAddress ?? env[SUITE_ENV.hostAddress];
    target.brokerName = hostAddress ?? '127.0.0.1';
    // The module reaches the test host over the network: listen where it can reach us.
    target.bindHost = brokerBindHost(hostAddress);
    if (labDns) target.labDns = labDns;
  }
  const device = new DeviceSession<VirtualModule>({
    uri,
    targets,
    bus,
    ...(labDevice ? { device: labDevice } : {}),
    driver: (vm) => ({ scope: 'dut', ...(vm ? { guardTimeMs: simGuardMs(vm), resetTimeoutMs: 5_000 } : {}) }),
  });
  const pki = await createBasicPki({ pool, serverNames: [target.brokerName, 'localhost', '127.0.0.1'] });
  if (labProblem !== undefined) device.break(labProblem);
  else {
    try {
      await device.link();
      const vm = device.vm;
      const id = await device.identify();
      target.firmware = id.firmware;
      target.model = id.model;
      // A real device runs against its firmware's profile: named, matched by AT+CGMR, or reference.
      const given = labDevice ? labDevice.profile : env[SUITE_ENV.profile];
      const chosen = chooseProfile({
        uri,
        ...(given ? { profile: given } : {}),
        ...(labProfiles ? { profilesDir: labProfiles } : {}),
        firmware: id.firmware,
      });
      const profile = vm?.profile ?? chosen.profile;
      target.profile = profile;
      target.profileInfo = chosen.info;
      target.label = `firmware ${profile.name} profile`;
      target.capabilities = new Set(profile.capabilities);
      target.sources = profile.sources;
      target.knownIssues = mergeKnownIssues(profile.knownIssues, labIssues);
      target.uploadGuardMs = profile.uploads.guardTimeMs;
      target.timing = timingOf(vm, labDevice, profile);
      setWaitsInForce(suiteWaits(target.timing, profile));
      // Over a real link the driver starts with its cautious 1 s guard; a matched profile knows better.
      if (!vm && chosen.info.chosenBy !== 'fallback') device.setUploadGuard(profileGuardMs(profile));
      await device.provision();
    } catch {
      // The session is broken with this cause: every test that needs the device reports it.
    }
  }
  return { target, device, bus, pool, pki, close: () => device.close() };
}

/**
 * The timing in force for the device under test: the virtual module's own, a real module's
 * lab-file `timing:`, or its profile's realistic block; instant where none is known.
 */
function timingOf(vm: VirtualModule | undefined, lab: LabDevice | undefined, profile: Profile): Timing {
  if (vm) return vm.timing;
  return lab ? labDeviceTiming(lab, profile) : profile.timing;
}

/** Starts broker rigs for one test (the `rigs` fixture). */
export interface RigFactory {
  /** Start a broker rig for this test (closed in teardown); default profile `strict` with this file's PKI. */
  start(options?: Partial<BrokerRigOptions>): Promise<BrokerRig>;
  /** Where the module must connect to reach `rig` (sim: the broker name redirected; hardware: host address + port). */
  endpoint(rig: BrokerRig): { host: string; port: number };
}

/**
 * The broker rigs of one test: each with a scratch TLS key log under `--keylog`, a packet
 * capture under `--capture`, and the virtual module's broker name pointed at it. `close()`
 * stops captures and rigs, reporting every failure.
 */
export function testRigs(
  suite: SuiteSession,
  test: { id: string; addRig(rig: BrokerRig): void },
  env: NodeJS.ProcessEnv = process.env,
): RigFactory & { close(): Promise<void> } {
  const started: BrokerRig[] = [];
  const captures: Capture[] = [];
  const evidenceDir = env[SUITE_ENV.evidenceDir];
  const keylogDir = env[SUITE_ENV.keylog] === '1' && evidenceDir ? join(evidenceDir, '.keylogs') : undefined;
  const { target } = suite;
  return {
    async start(options = {}) {
      let keylogPath: string | undefined;
      if (keylogDir) {
        mkdirSync(keylogDir, { recursive: true });
        keylogPath = join(keylogDir, `${process.pid}-${Date.now()}-${started.length}.log`);
      }
      const rig = await startBrokerRig({
        host: target.bindHost,
        port: 0,
        profile: 'strict',
        pki: suite.pki,
        bus: suite.bus,
        ...(keylogPath ? { keylogPath } : {}),
        ...options,
      });
      started.push(rig);
      test.addRig(rig);
      if (rig.profile !== 'plain') {
        // What the module will verify of the served chain, for the test's physical floor (harness/run/floor.ts).
        const { pki } = rig;
        const chain = options.serverCertChainPem ?? pki.server.certPem;
        const anchors = [pki.ca.certPem, ...(pki.extraCa ?? []).map((c) => c.certPem)];
        const verifyKinds = verifyKindsOf(chain, anchors);
        suite.bus.emit({
          source: 'suite',
          kind: SERVER_CHAIN_EVENT,
          summary: `rig on port ${rig.port} serves a chain the module verifies with ${verifyKinds.join(', ') || 'no known key'}`,
          data: { verifyKinds },
        });
      }
      if (env[SUITE_ENV.capture] === '1' && evidenceDir)
        captures.push(await startCapture(rig.port, join(evidenceDir, safeTestDir(test.id)), started.length));
      suite.device.vm?.setResolve(target.brokerName, { host: '127.0.0.1', port: rig.port });
      return rig;
    },
    endpoint(rig) {
      return { host: target.brokerName, port: suite.device.vm ? 8883 : rig.port };
    },
    close: () =>
      closeAll([...captures.map((c) => () => c.stop()), ...started.map((r) => () => r.close())], 'broker rigs'),
  };
}
