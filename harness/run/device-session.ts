/**
 * One device under test, brought up and kept usable by one object (labgrid's Strategy): the
 * policy the suites' fixtures, `bx-hil preflight` and `bx-hil run` share.
 *
 * States: `unknown → linked → identified → provisioned → clean`, or `broken` with its cause.
 * - `linked`: the link and the driver are open (`link()`).
 * - `identified`: the module said who it is (`identify()`: ATI, AT+CGMR, AT+FMM).
 * - `provisioned`: the lab file's Wi-Fi is joined (`provision()`; nothing to do without one).
 *   Handing the driver out (`acquire()`) also goes back here: a test may leave anything behind.
 * - `clean`: no MQTT session left, faults off, Wi-Fi joined (`ensureClean()`).
 * - `broken`: a step failed; every later `acquire()` fails at once with the original cause
 *   (labgrid's never_retry, docs/STYLE.md §7) instead of twenty timeouts.
 *
 * The session owns the link, the driver, the virtual module's knobs (when it is one), the
 * evidence bus and the closers; `close()` closes them all and reports every failure. Cleanup
 * errors are never dropped: an MQTT session that cannot be deleted breaks the session with the
 * cause, and a close that fails on the way is an evidence event (`driver`/`cleanup-error`).
 */
import { Bx310x, type Bx310xOptions } from '../bx310x/index.ts';
import { closeAll, HarnessError } from '../errors.ts';
import { EvidenceBus } from '../evidence.ts';
import type { Link } from '../link/index.ts';
import type { VirtualModule } from '../sim/index.ts';
import type { LabDevice } from './lab.ts';

export type DeviceSessionState = 'unknown' | 'linked' | 'identified' | 'provisioned' | 'clean' | 'broken';

/** What the session uses of the virtual module: its profile, Wi-Fi state, faults and host overrides. */
export type VirtualKnobs = Pick<VirtualModule, 'profile' | 'wifi' | 'setFaults' | 'setResolve'>;

/** How to open a target and reach the virtual module's knobs (the CLI and the suites pass harness/targets.ts). */
export interface TargetOpener<V extends VirtualKnobs = VirtualKnobs> {
  open(uri: string): Promise<Link>;
  virtualModule(link: Link): V | undefined;
}

export interface DeviceSessionOptions<V extends VirtualKnobs> {
  uri: string;
  targets: TargetOpener<V>;
  /** The lab file's entry for the device: Wi-Fi to join, the host address. */
  device?: LabDevice;
  /** Default: a new bus. */
  bus?: EvidenceBus;
  /** Driver options; a function sees the virtual module (undefined on hardware). */
  driver?: Bx310xOptions | ((vm: V | undefined) => Bx310xOptions);
  /** Bound on rejoining Wi-Fi the virtual module dropped, in `ensureClean()`. Default 5 000 ms. */
  rejoinTimeoutMs?: number;
}

/** The device could not be brought up (or a test left it unusable): every test that needs it fails at once. */
export class DeviceBrokenError extends HarnessError {
  constructor(uri: string, cause: unknown) {
    const msg = cause instanceof Error ? cause.message : String(cause);
    super(
      'BXHIL_DEVICE_BROKEN',
      `the device ${uri} could not be brought up for this file, so no test can run: ${msg}. Fix the device or its link (run \`bx-hil preflight\`) and rerun`,
      { cause },
    );
  }
}

/**
 * Where the broker listens so that a module dialling `hostAddress` reaches it: loopback for a
 * loopback address or `localhost` (nothing beyond this host needs it), every interface otherwise.
 */
export function brokerBindHost(hostAddress: string | undefined): string {
  if (hostAddress === undefined || hostAddress === 'localhost' || /^127\./.test(hostAddress)) return '127.0.0.1';
  if (hostAddress === '::1') return '::1';
  return '0.0.0.0';
}

/** Faults off: what every test starts with on the virtual module. */
const NO_FAULTS = Object.freeze({
  dropRate: 0,
  corruptRate: 0,
  responseDelayMs: 0,
  spuriousUrcEveryMs: 0,
  resetAtCommand: '',
});

export class DeviceSession<V extends VirtualKnobs = VirtualKnobs> {
  readonly uri: string;
  readonly bus: EvidenceBus;
  readonly device: LabDevice | undefined;
  #state: DeviceSessionState = 'unknown';
  #cause: unknown;
  #driver: Bx310x | undefined;
  #vm: V | undefined;
  #identity: { model: string; firmware: string; family: string } | undefined;
  #closers: Array<() => unknown> = [];
  #uploadGuardMs: number | undefined;
  readonly #options: DeviceSessionOptions<V>;

  constructor(options: DeviceSessionOptions<V>) {
    this.#options = options;
    this.uri = options.uri;
    this.device = options.device;
    this.bus = options.bus ?? new EvidenceBus();
  }

  get state(): DeviceSessionState {
    return this.#state;
  }

  /** Why the session is `broken`; undefined otherwise. */
  get cause(): unknown {
    return this.#state === 'broken' ? this.#cause : undefined;
  }

  /** The driver, once linked (also while broken, for evidence); use `acquire()` to drive the module. */
  get driver(): Bx310x | undefined {
    return this.#driver;
  }

  /** The virtual module's knobs; undefined on hardware (and before `link()`). */
  get vm(): V | undefined {
    return this.#vm;
  }

  /** What the module said it is, once identified. */
  get identity(): { model: string; firmware: string; family: string } | undefined {
    return this.#identity;
  }

  /** `link()`, `identify()`, `provision()`: from `unknown` to `provisioned`, or `broken` (and rejects with the cause). */
  async open(): Promise<this> {
    await this.link();
    await this.identify();
    await this.provision();
    return this;
  }

  /** Open the link and the driver (again, after `close()` or a reopen). */
  async link(): Promise<void> {
    await this.#step('linked', async () => {
      const link = await this.#options.targets.open(this.uri);
      this.#closers.push(() => link.close());
      const vm = this.#options.targets.virtualModule(link);
      this.#vm = vm;
      const extra = this.#options.driver;
      const options = typeof extra === 'function' ? extra(vm) : (extra ?? {});
      // Bx310x.open leaves a link it was given open when it fails: the closer above closes it.
      const driver = await Bx310x.open(link, { bus: this.bus, ...options });
      this.#closers.push(() => driver.close());
      if (this.#uploadGuardMs !== undefined) driver.setGuardTime(this.#uploadGuardMs);
      this.#driver = driver;
    });
  }

  async identify(): Promise<{ model: string; firmware: string; family: string }> {
    await this.#step('identified', async () => {
      this.#identity = await this.#linked().identity();
    });
    return this.#identity!;
  }

  /** Join the lab file's Wi-Fi, when it gives one (otherwise the module is assumed joined). */
  async provision(options: { wifiTimeoutMs?: number } = {}): Promise<void> {
    await this.#step('provisioned', async () => {
      const wifi = this.device?.wifi;
      if (!wifi) return;
      const driver = this.#linked();
      await driver.wifiStationConfig(wifi.ssid, wifi.password, true);
      await driver.wifiConnect(options.wifiTimeoutMs === undefined ? {} : { timeoutMs: options.wifiTimeoutMs });
    });
  }

  /**
   * Use `ms` as the upload guard time from now on, on this driver and on any the session opens
   * again (once the firmware's profile is known: harness/run/suite-session.ts).
   */
  setUploadGuard(ms: number): void {
    this.#uploadGuardMs = ms;
    this.#driver?.setGuardTime(ms);
  }

  /** The driver for a test; throws `DeviceBrokenError` with the original cause when broken. */
  acquire(): Bx310x {
    if (this.#state === 'broken' || !this.#driver) throw new DeviceBrokenError(this.uri, this.#cause);
    this.#state = 'provisioned';
    return this.#driver;
  }

  /**
   * Back to `clean` after a test: faults off, a driver the test broke closed and opened again,
   * every MQTT session closed and deleted, Wi-Fi the virtual module dropped rejoined. Never
   * rejects: a failure leaves the session `broken` with the cause, which later tests report.
   */
  async ensureClean(): Promise<DeviceSessionState> {
    if (this.#state === 'broken' || this.#state === 'unknown') return this.#state;
    await this.#step('clean', () => this.#clean()).catch(() => {
      // Not dropped: #step kept it as the session's cause, which every later acquire() throws.
    });
    return this.#state;
  }

  async #clean(): Promise<void> {
    this.#vm?.setFaults(NO_FAULTS);
    if (this.#driver?.state !== 'open') {
      // The old link and driver are gone for good; a failure closing them is worth a line, not a stop.
      await closeAll(this.#closers.splice(0), 'reopen after a broken test').catch((err: unknown) =>
        this.#report('closing the broken driver before reopening', err),
      );
      this.#driver = undefined;
      await this.link();
    }
    const driver = this.#linked();
    const failures: unknown[] = [];
    for (const s of await driver.mqttSessions()) {
      // A session that is not connected refuses AT+KMQTTCLOSE (+CME ERROR: 922): what matters is the delete.
      await driver.mqttClose(s.id).catch((err: unknown) => this.#report(`closing MQTT session ${s.id}`, err));
      await driver.mqttDelete(s.id).catch((err: unknown) => failures.push(err));
    }
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1)
      throw new AggregateError(failures, `cleanup: ${failures.length} MQTT sessions could not be deleted`);
    if (this.#vm && !this.#vm.wifi.joined)
      await driver.wifiConnect({ timeoutMs: this.#options.rejoinTimeoutMs ?? 5_000 });
  }

  /** Mark the session broken (e.g. a step outside it found the device unusable). */
  break(cause: unknown): void {
    this.#state = 'broken';
    this.#cause = cause;
  }

  /**
   * Close the driver and the link (idempotent); every failure is collected, never dropped:
   * one rejects as itself, several as an `AggregateError` (harness/errors.ts `closeAll`).
   */
  async close(): Promise<void> {
    this.#driver = undefined;
    if (this.#state !== 'broken') this.#state = 'unknown';
    await closeAll(this.#closers.splice(0), `device session ${this.uri}`);
  }

  async #step(to: DeviceSessionState, fn: () => Promise<void>): Promise<void> {
    if (this.#state === 'broken') throw new DeviceBrokenError(this.uri, this.#cause);
    try {
      await fn();
      if ((this.#state as DeviceSessionState) !== 'broken') this.#state = to;
    } catch (err) {
      if (this.#state !== 'broken') this.break(err);
      throw err;
    }
  }

  #linked(): Bx310x {
    if (!this.#driver) throw new HarnessError('BXHIL_DEVICE_BROKEN', `the device ${this.uri} is not linked`);
    return this.#driver;
  }

  #report(what: string, err: unknown): void {
    this.bus.emit({
      source: 'driver',
      kind: 'cleanup-error',
      summary: `${what}: ${err instanceof Error ? err.message : String(err)}`,
      data: { code: (err as { code?: unknown })?.code ?? null },
    });
  }
}
