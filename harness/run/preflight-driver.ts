/**
 * Preflight wired to the real pieces: the `Bx310x` driver over a target opener (the CLI passes
 * `openTarget` from harness/targets.ts, so `sim:` works too: the run layer may not import it) and
 * a `plain` broker rig on the test host as the reachability probe. The logic and the rig/firmware
 * labels live in `preflight.ts`.
 */
import { startBrokerRig } from '../broker/index.ts';
import { Bx310x } from '../bx310x/index.ts';
import type { Link } from '../link/index.ts';
import {
  preflightDevice,
  type PreflightModule,
  type PreflightOptions,
  type PreflightPort,
  type PreflightResult,
} from './preflight.ts';
import type { RigDevice } from './rig.ts';

/** Bound on `AT` answering at open, ms. */
const OPEN_SYNC_MS = 5_000; // 5 s

/** How to open a target and reach the virtual module's host overrides (undefined on hardware). */
export interface TargetOpener {
  open(uri: string): Promise<Link>;
  virtualModule(link: Link): { setResolve(host: string, target: { host: string; port: number }): void } | undefined;
}

export function driverPreflightPort(targets: TargetOpener): PreflightPort {
  return {
    async open(uri) {
      const link = await targets.open(uri);
      const vm = targets.virtualModule(link);
      let driver: Bx310x;
      try {
        // sync: false: "AT answers" is its own step, so a silent module is labelled correctly.
        driver = await Bx310x.open(link, { sync: false, defaultTimeoutMs: OPEN_SYNC_MS });
      } catch (err) {
        await link.close().catch(() => undefined);
        throw err;
      }
      const mod: PreflightModule = {
        async ping(timeoutMs) {
          await driver.at.command('AT', { timeoutMs }).catch(async () => {
            // One resynchronisation (echo, stale data mode) before calling the module silent.
            await driver.at.sync();
          });
        },
        identity: () => driver.identity(),
        async joinWifi(ssid, password, timeoutMs) {
          await driver.wifiStationConfig(ssid, password, true);
          await driver.wifiConnect({ timeoutMs });
        },
        async mqttProbe(host, port, timeoutMs) {
          // On the virtual module the host is reached directly (its sessions dial 127.0.0.1 as given).
          if (vm && host !== '127.0.0.1') vm.setResolve(host, { host: '127.0.0.1', port });
          const id = await driver.mqttConfigure({
            secure: false,
            server: host,
            port,
            clientId: `bx-hil-preflight-${process.pid}`,
          });
          try {
            await driver.mqttConnect(id, { timeoutMs });
            await driver.mqttClose(id).catch(() => undefined);
          } finally {
            await driver.mqttDelete(id).catch(() => undefined);
          }
        },
        close: () => driver.close(),
      };
      return mod;
    },
    async startProbeBroker(hostAddress) {
      // Listen where the module can reach us: loopback for a local address, every interface otherwise.
      const bind = hostAddress === '127.0.0.1' || hostAddress === 'localhost' ? '127.0.0.1' : '0.0.0.0';
      const rig = await startBrokerRig({ host: bind, port: 0, profile: 'plain' });
      return { port: rig.port, close: () => rig.close() };
    },
  };
}

export function preflightWithDriver(
  device: RigDevice,
  targets: TargetOpener,
  options: PreflightOptions = {},
): Promise<PreflightResult> {
  return preflightDevice(device, driverPreflightPort(targets), options);
}
