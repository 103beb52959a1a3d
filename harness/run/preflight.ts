/**
 * Preflight: before the suites, check per device that the port opens, AT answers, the
 * firmware can be read (and is the expected one), Wi-Fi is joined and the broker on the test
 * host is reachable from the module. Each step is labelled `rig` (fix the bench: cable, port,
 * power, Wi-Fi, firewall) or `firmware` (the module answers, but wrongly: a finding), so a rig
 * problem is never reported as twenty firmware failures (labgrid's never_retry, docs/STYLE.md §7).
 *
 * The steps talk to the module through `PreflightPort`, an interface the driver satisfies
 * (`preflight-driver.ts` wires the real driver and broker), so this logic is tested with fakes.
 */
import { isIPv4 } from 'node:net';
import { HarnessError } from '../errors.ts';
import { probeDns, startDnsResponder, type DnsResponder, type LabDnsConfig } from '../lab/index.ts';
import type { LabDevice } from './lab.ts';

export type PreflightCategory = 'rig' | 'firmware';

export interface PreflightStep {
  /** Short stable name: `port`, `at`, `firmware`, `wifi`, `broker`. */
  name: string;
  title: string;
  status: 'ok' | 'fail' | 'skip';
  /** Who must act when the step failed. */
  category: PreflightCategory;
  detail: string;
  durationMs: number;
  /** Error code of the failure, when there was one. */
  code?: string;
}

export interface PreflightResult {
  device: string;
  uri: string;
  ok: boolean;
  firmware?: string;
  model?: string;
  steps: PreflightStep[];
}

/** What preflight needs from an open module. The `Bx310x` driver provides all of it. */
export interface PreflightModule {
  /** Plain `AT` round trip. */
  ping(timeoutMs: number): Promise<void>;
  identity(): Promise<{ model: string; firmware: string }>;
  /** Join the given network (only called when the lab file gives credentials). */
  joinWifi(ssid: string, password: string, timeoutMs: number): Promise<void>;
  /** Connect a plain MQTT session to host:port and close it again; resolves when CONNACK came. */
  mqttProbe(host: string, port: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface PreflightPort {
  open(uri: string): Promise<PreflightModule>;
  /** Start a plain MQTT listener reachable at `hostAddress`; returns its port and a closer. */
  startProbeBroker(hostAddress: string): Promise<{ port: number; close(): Promise<void> }>;
}

export interface PreflightOptions {
  /** Per-step bound for AT answers. Default 5 000 ms. */
  atTimeoutMs?: number;
  /** Bound for the Wi-Fi join. Default 30 000 ms. */
  wifiTimeoutMs?: number;
  /** Bound for the broker probe. Default 20 000 ms. */
  brokerTimeoutMs?: number;
  /**
   * The profile the lab file (`profile:`) or `--profile` names, and the firmware it is for
   * (its `identity.cgmr`): a module reporting another is a rig problem, like `firmware:`.
   */
  profile?: { name: string; firmware: string };
  /** The lab file's `network.dns`: checked to answer its first name on the address the modules use. */
  dns?: LabDnsConfig;
  /**
   * The run serves `dns` itself (the lab-dns suite binds `listen` during its tests): preflight
   * starts the responder there with the lab's names and asks it, instead of expecting a
   * `bx-hil dns` already running, and a port another process holds is the problem it names.
   */
  dnsServedByRun?: boolean;
  /** Bound for the DNS check. Default 2 000 ms. */
  dnsTimeoutMs?: number;
}

const DEFAULTS: Required<Omit<PreflightOptions, 'profile' | 'dns' | 'dnsServedByRun'>> = Object.freeze({
  atTimeoutMs: 5_000, // 5 s
  wifiTimeoutMs: 30_000, // 30 s
  brokerTimeoutMs: 20_000, // 20 s
  dnsTimeoutMs: 2_000, // 2 s: a responder on the lab network answers in milliseconds
});

/**
 * The lab's DNS responder answers the first of its names with its address, asked where the
 * modules ask (`listen`; a wildcard listen is asked at the device's host address).
 */
async function checkDns(dns: LabDnsConfig, device: LabDevice, timeoutMs: number, serve = false): Promise<string> {
  const wildcard = dns.listen.host === '0.0.0.0';
  const host = wildcard ? (isIPv4(device.hostAddress) ? device.hostAddress : '127.0.0.1') : dns.listen.host;
  const [name, want] = Object.entries(dns.names)[0]!;
  const where = `${host}:${dns.listen.port}`;
  let served: DnsResponder | undefined;
  if (serve) {
    try {
      served = await startDnsResponder({
        host: dns.listen.host,
        port: dns.listen.port,
        names: dns.names,
        ...(dns.forward ? { forward: dns.forward } : {}),
        field: 'network.dns.listen',
      });
    } catch (err) {
      throw new HarnessError(
        'BXHIL_PREFLIGHT_DNS',
        `the run serves the lab's DNS at ${dns.listen.host}:${dns.listen.port} during the lab-dns suite but cannot bind it: ${(err as Error).message}${/in use/i.test((err as Error).message) ? ' (stop bx-hil dns: the run answers the lab names there itself)' : ''}`,
      );
    }
  }
  let got: Awaited<ReturnType<typeof probeDns>>;
  try {
    got = await probeDns({ host, port: dns.listen.port }, name, timeoutMs);
  } finally {
    await served?.close();
  }
  if (!got.answered) {
    throw new HarnessError(
      'BXHIL_PREFLIGHT_DNS',
      `no DNS answer from ${where} within ${timeoutMs} ms: start the responder (bx-hil dns --lab <file>) on the address the modules' DHCP names, and check the firewall (UDP ${dns.listen.port})`,
    );
  }
  if (!got.addresses.includes(want)) {
    throw new HarnessError(
      'BXHIL_PREFLIGHT_DNS',
      `the DNS server at ${where} answers ${name} with ${got.addresses.join(', ') || got.rcode}, not ${want}: another server holds that address, or it runs without the lab file's names`,
    );
  }
  return `${where} answers ${name} → ${want}${served ? ' (served by this run during the lab-dns suite)' : ''}`;
}

function describe(err: unknown): { code?: string; message: string } {
  if (err instanceof HarnessError) return { code: err.code, message: err.message };
  if (err instanceof Error) return { message: err.message };
  return { message: String(err) };
}

/** Run the preflight steps for one device. Never throws for a device problem: it reports it. */
export async function preflightDevice(
  device: LabDevice,
  port: PreflightPort,
  options: PreflightOptions = {},
): Promise<PreflightResult> {
  const o = { ...DEFAULTS, ...options };
  const steps: PreflightStep[] = [];
  const result: PreflightResult = { device: device.id, uri: device.uri, ok: false, steps };
  let failed = false;

  async function step(
    name: string,
    title: string,
    category: PreflightCategory,
    fn: () => Promise<string>,
  ): Promise<boolean> {
    if (failed) {
      steps.push({ name, title, status: 'skip', category, detail: 'skipped: an earlier step failed', durationMs: 0 });
      return false;
    }
    const t0 = performance.now();
    try {
      const detail = await fn();
      steps.push({ name, title, status: 'ok', category, detail, durationMs: performance.now() - t0 });
      return true;
    } catch (err) {
      failed = true;
      const d = describe(err);
      const s: PreflightStep = {
        name,
        title,
        status: 'fail',
        category,
        detail: d.message,
        durationMs: performance.now() - t0,
      };
      if (d.code) s.code = d.code;
      steps.push(s);
      return false;
    }
  }

  let mod: PreflightModule | undefined;
  try {
    await step('port', `port opens (${device.uri})`, 'rig', async () => {
      mod = await port.open(device.uri);
      return 'opened';
    });
    await step('at', 'AT answers', 'rig', async () => {
      await mod!.ping(o.atTimeoutMs);
      return 'OK';
    });
    // An identity read that errors on a module which answers AT is the firmware's fault; an
    // unexpected version is the bench's (wrong build flashed).
    let identity: { model: string; firmware: string } | undefined;
    await step('firmware', 'firmware read', 'firmware', async () => {
      identity = await mod!.identity();
      result.firmware = identity.firmware;
      result.model = identity.model;
      return `${identity.model} firmware ${identity.firmware}`;
    });
    // A module running another build than the lab file or the profile names would give red tests
    // that are not regressions: the bench is wrong, not the firmware (docs/lab-file.md).
    if (device.firmware !== undefined) {
      await step('firmware-expected', `firmware is ${device.firmware}`, 'rig', async () => {
        if (!identity!.firmware.includes(device.firmware!)) {
          throw new HarnessError(
            'BXHIL_PREFLIGHT_FIRMWARE_MISMATCH',
            `the module reports firmware "${identity!.firmware}" but the lab file's firmware: is "${device.firmware}": update \`firmware:\` or flash the build you meant`,
          );
        }
        return 'as expected';
      });
    }
    const profile = options.profile;
    if (profile !== undefined) {
      await step('profile-firmware', `firmware is ${profile.firmware} (profile ${profile.name})`, 'rig', async () => {
        if (identity!.firmware.trim() !== profile.firmware.trim()) {
          throw new HarnessError(
            'BXHIL_PREFLIGHT_FIRMWARE_MISMATCH',
            `the module reports firmware "${identity!.firmware}" but profile ${profile.name} is for firmware "${profile.firmware}": update \`profile:\` (or --profile) or flash the build you meant`,
          );
        }
        return 'as expected';
      });
    }
    if (device.wifi) {
      const { ssid, password } = device.wifi;
      await step('wifi', `Wi-Fi joined (${ssid})`, 'rig', async () => {
        await mod!.joinWifi(ssid, password, o.wifiTimeoutMs);
        return `joined ${ssid}`;
      });
    } else {
      steps.push({
        name: 'wifi',
        title: 'Wi-Fi joined',
        status: 'skip',
        category: 'rig',
        detail: 'no wifi credentials in the lab file: assumed joined',
        durationMs: 0,
      });
    }
    const dns = options.dns;
    if (dns) {
      await step('dns', `DNS responder answers at ${dns.listen.host}:${dns.listen.port}`, 'rig', () =>
        checkDns(dns, device, o.dnsTimeoutMs, options.dnsServedByRun),
      );
    }
    await step('broker', `broker reachable at ${device.hostAddress}`, 'rig', async () => {
      const broker = await port.startProbeBroker(device.hostAddress);
      try {
        await mod!.mqttProbe(device.hostAddress, broker.port, o.brokerTimeoutMs);
      } catch (err) {
        throw new HarnessError(
          'BXHIL_PREFLIGHT_BROKER',
          `the module could not reach a plain MQTT broker at ${device.hostAddress}:${broker.port} (${describe(err).message}); check hostAddress in the lab file, the firewall and the module's network`,
          { cause: err },
        );
      } finally {
        await broker.close();
      }
      return `CONNACK from ${device.hostAddress}:${broker.port}`;
    });
  } finally {
    if (mod) {
      try {
        await mod.close();
      } catch (err) {
        steps.push({
          name: 'close',
          title: 'port closes',
          status: 'fail',
          category: 'rig',
          detail: describe(err).message,
          durationMs: 0,
        });
        failed = true;
      }
    }
  }
  result.ok = !failed;
  return result;
}

/** The first failing step of a result, with its category: the one-line cause for reports. */
export function preflightFailure(result: PreflightResult): PreflightStep | undefined {
  return result.steps.find((s) => s.status === 'fail');
}

function yamlString(s: string): string {
  return JSON.stringify(s);
}

/**
 * TAP version 13 for a set of preflight results: one test point per step, YAML diagnostics on
 * failures (message, category, code). `tap-junit` turns it into JUnit for CI dashboards.
 */
export function preflightToTap(results: ReadonlyArray<PreflightResult>): string {
  const lines = ['TAP version 13'];
  const points = results.flatMap((r) => r.steps.map((s) => ({ r, s })));
  lines.push(`1..${points.length}`);
  points.forEach(({ r, s }, i) => {
    const title = `${r.device}: ${s.title}`.replace(/#/g, '\\#');
    if (s.status === 'skip') {
      lines.push(`ok ${i + 1} - ${title} # SKIP ${s.detail}`);
    } else if (s.status === 'ok') {
      lines.push(`ok ${i + 1} - ${title}`);
    } else {
      lines.push(`not ok ${i + 1} - ${title}`);
      lines.push('  ---');
      lines.push(`  message: ${yamlString(s.detail)}`);
      lines.push(`  category: ${s.category === 'rig' ? 'rig problem' : 'firmware failure'}`);
      if (s.code) lines.push(`  code: ${s.code}`);
      lines.push(`  device: ${yamlString(r.uri)}`);
      lines.push('  ...');
    }
  });
  return lines.join('\n') + '\n';
}
