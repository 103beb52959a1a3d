/**
 * Preflight wired to the real pieces: a `DeviceSession` over a target opener (the CLI passes
 * `openTarget` from harness/targets.ts, so `sim:` works too: the run layer may not import it) and
 * a `plain` broker rig on the test host as the reachability probe. The logic and the lab/firmware
 * labels live in `preflight.ts`.
 */
import { startBrokerRig } from '../broker/index.ts';
import { givenProfileFirmware } from './device-profile.ts';
import { brokerBindHost, DeviceSession, type TargetOpener } from './device-session.ts';
import type { LabDevice } from './lab.ts';
import {
  preflightDevice,
  type PreflightModule,
  type PreflightOptions,
  type PreflightPort,
  type PreflightResult,
} from './preflight.ts';

export type { TargetOpener };

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Bound on `AT` answering at open, ms. */
const OPEN_SYNC_MS = 5_000; // 5 s

export function driverPreflightPort(targets: TargetOpener, device?: LabDevice): PreflightPort {
  return {
    async open(uri) {
      // sync: false: "AT answers" is its own step, so a silent module is labelled correctly.
      const session = new DeviceSession({
        uri,
        targets,
        ...(device ? { device } : {}),
        driver: { sync: false, defaultTimeoutMs: OPEN_SYNC_MS },
      });
      try {
        await session.link();
      } catch (err) {
        await session.close().catch((closeErr: unknown) => {
          throw new AggregateError([err, closeErr], `${uri}: the open failed, and so did closing what it opened`);
        });
        throw err;
      }
      const driver = session.driver!;
      const mod: PreflightModule = {
        async ping(timeoutMs) {
          await driver.at.command('AT', { timeoutMs }).catch(async () => {
            // One resynchronisation (echo, stale data mode) before calling the module silent.
            await driver.at.sync();
          });
        },
        identity: () => session.identify(),
        // The lab file's Wi-Fi (preflight calls this only when it gives one).
        joinWifi: (_ssid, _password, timeoutMs) => session.provision({ wifiTimeoutMs: timeoutMs }),
        async mqttProbe(host, port, timeoutMs) {
          // On the virtual module the host is reached directly (its sessions dial 127.0.0.1 as given).
          if (session.vm && host !== '127.0.0.1') session.vm.setResolve(host, { host: '127.0.0.1', port });
          const id = await driver.mqttConfigure({
            secure: false,
            server: host,
            port,
            clientId: `bx-hil-preflight-${process.pid}`,
          });
          let failure: unknown;
          try {
            await driver.mqttConnect(id, { timeoutMs });
            await driver.mqttClose(id);
          } catch (err) {
            failure = err;
          }
          // The probe session is deleted either way; a failed delete is reported with, not instead of, the probe's failure.
          await driver.mqttDelete(id).catch((err: unknown) => {
            throw failure === undefined
              ? err
              : new AggregateError([failure, err], `${describe(failure)}; deleting the probe session failed too`);
          });
          if (failure !== undefined) throw failure;
        },
        close: () => session.close(),
      };
      return mod;
    },
    async startProbeBroker(hostAddress) {
      // Listen where the module can reach us (device-session.ts says where, once).
      const rig = await startBrokerRig({ host: brokerBindHost(hostAddress), port: 0, profile: 'plain' });
      return { port: rig.port, close: () => rig.close() };
    },
  };
}

export function preflightWithDriver(
  device: LabDevice,
  targets: TargetOpener,
  options: PreflightOptions = {},
): Promise<PreflightResult> {
  // The profile the lab file or --profile names holds the module to its firmware.
  const profile = givenProfileFirmware(device);
  return preflightDevice(device, driverPreflightPort(targets, device), { ...(profile ? { profile } : {}), ...options });
}
