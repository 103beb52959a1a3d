/**
 * Mosquitto in a container through testcontainers (loaded lazily; without an engine it says why
 * it cannot start), behind the same BrokerRig, config and log mapping as the local process
 * (mosquitto.ts): only where Mosquitto runs differs.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as Testcontainers from 'testcontainers';
import { closeAll, ConfigError } from '../errors.ts';
import type { EvidenceBus } from '../evidence.ts';
import { createBasicPki } from '../pki/index.ts';
import { freePort } from '../processes.ts';
import { BrokerStartError, NoContainerRuntimeError } from './errors.ts';
import { configFiles } from './mosquitto-config.ts';
import { MosquittoRig, type MosquittoPlace, type MosquittoRigOptions } from './mosquitto.ts';
import type { BrokerRig, ProfileName } from './types.ts';

/** A container to run Mosquitto in (testcontainers), instead of a local process. */
interface ContainerLaunch {
  tc: TestcontainersModule;
  image: string;
  /** CONTAINER_LABEL, this rig's CONTAINER_ID_LABEL and the caller's labels. */
  labels: Record<string, string>;
  startTimeoutMs: number;
}

/** Every container the rig starts carries `org.bx-hil.rig=container` (`docker ps -a --filter label=…`). */
export const CONTAINER_LABEL = 'org.bx-hil.rig';
/** One value per rig: close() removes whatever carries it, even after a start that failed half-way. */
const CONTAINER_ID_LABEL = 'org.bx-hil.rig-id';
const CONTAINER_DIR = '/mosquitto/config';
/** Mosquitto 2 logs this once every listener is open: the container's readiness event. */
const RUNNING_LINE = /mosquitto version \S+ running/;

/** Remove every container of this rig (stopped or not): what `stop()` removed, or a half-started one. */
async function removeContainers(c: ContainerLaunch): Promise<void> {
  const client = await c.tc.getContainerRuntimeClient();
  const docker = client.container.dockerode;
  const left = await docker.listContainers({
    all: true,
    filters: { label: [`${CONTAINER_ID_LABEL}=${c.labels[CONTAINER_ID_LABEL]}`] },
  });
  for (const info of left) await docker.getContainer(info.Id).remove({ force: true, v: true });
}

/**
 * Network rule: only loopback carries test traffic. The container shares the host's network
 * (no bridge, no port mapping) and Mosquitto listens on `host:port` (127.0.0.1 and a free
 * port), exactly as the local process does. Ready when Mosquitto logs that it is running,
 * which it does after opening its listeners: no probe connection, so nothing to filter out.
 */
function inContainer(c: ContainerLaunch, profile: ProfileName): MosquittoPlace {
  let started: { stop(): Promise<unknown> } | undefined;
  return {
    confDir: CONTAINER_DIR,
    async start(dir, onLog) {
      started = await new c.tc.GenericContainer(c.image)
        .withNetworkMode('host')
        .withLabels(c.labels)
        .withCopyContentToContainer(
          configFiles(profile).map((n) => ({
            content: readFileSync(join(dir, n)),
            target: `${CONTAINER_DIR}/${n}`,
            mode: 0o644,
          })),
        )
        .withCommand(['mosquitto', '-c', `${CONTAINER_DIR}/mosquitto.conf`])
        .withLogConsumer((logs) => {
          logs.on('data', (d: Buffer | string) => onLog(d.toString()));
          // The log stream ends with the container; an error on it is kept as a log line.
          logs.on('error', (err: Error) => onLog(`container log stream: ${err.message}\n`));
        })
        .withWaitStrategy(c.tc.Wait.forLogMessage(RUNNING_LINE))
        .withStartupTimeout(c.startTimeoutMs)
        .start();
    },
    async stop() {
      const s = started;
      started = undefined;
      // Stop (which removes), then sweep by label whatever is left; both run, failures collected.
      await closeAll([() => removeContainers(c), () => s?.stop()], 'container rig');
    },
  };
}

type TestcontainersModule = typeof Testcontainers;

/** Options of `startContainerRig`: Mosquitto in a container (docker or podman, through testcontainers). */
export interface ContainerRigOptions {
  /**
   * Default `eclipse-mosquitto:2`, pulled when missing (docs/reference/dependencies.md §2.6: there is no
   * mosquitto module; use GenericContainer). Without registry access, build it offline with
   * ci/build-broker-image.sh (docs/broker.md).
   */
  image?: string;
  /** Default `mosquitto-like`. */
  profile?: ProfileName;
  pki?: BrokerRig['pki'];
  bus?: EvidenceBus;
  tlsVersion?: MosquittoRigOptions['tlsVersion'];
  extraConfig?: string[];
  /** Default 127.0.0.1: the container shares the host's network and Mosquitto listens here. */
  host?: string;
  /** Default: a free port found by binding port 0 first. */
  port?: number;
  /** Budget of the ended connections kept in `records`/`verdicts`, as for startMosquittoRig. */
  retainBytes?: number;
  /** Extra container labels (e.g. a CI job id), beside `org.bx-hil.rig=container`. */
  labels?: Record<string, string>;
  /** Bound on creating the container and waiting for Mosquitto. Default 60000 (a 2-core CI with vfs copies the image per container). */
  startTimeoutMs?: number;
}

type RuntimeClient = Awaited<ReturnType<TestcontainersModule['getContainerRuntimeClient']>>;

/** testcontainers, loaded lazily, and the engine it found; BXHIL_NO_CONTAINER_RUNTIME when there is none. */
async function containerRuntime(): Promise<{ tc: TestcontainersModule; client: RuntimeClient }> {
  let tc: TestcontainersModule;
  try {
    tc = await import('testcontainers');
  } catch (err) {
    throw new NoContainerRuntimeError(
      'testcontainers is not installed: npm install --save-dev testcontainers@11.14.0 (P8: not 12.x on Node 20)',
      { cause: err },
    );
  }
  // The rig never uses testcontainers' idea of where the engine's host is: Mosquitto shares the
  // host's network and listens on 127.0.0.1. But inside a container (/.dockerenv), testcontainers
  // looks that host up as the gateway of the `bridge` network and, on an engine without one
  // (CI: dockerd --bridge=none), gives up on the engine altogether; its fallback runs an alpine
  // image, which cannot be pulled without a registry. Naming the host ends the lookup.
  process.env['TESTCONTAINERS_HOST_OVERRIDE'] ??= '127.0.0.1';
  try {
    return { tc, client: await tc.getContainerRuntimeClient() };
  } catch (err) {
    throw new NoContainerRuntimeError(
      `no container runtime: ${(err as Error).message}. Start a Docker engine (or set DOCKER_HOST), or use startMosquittoRig() with the local mosquitto binary`,
      { cause: err },
    );
  }
}

/**
 * Whether startContainerRig() can reach an engine, found the same way it finds one: the
 * engine's version, or why not (for a skip reason).
 */
export async function probeContainerRuntime(): Promise<{ ok: true; engine: string } | { ok: false; reason: string }> {
  try {
    const { client } = await containerRuntime();
    const { serverVersion, operatingSystem } = client.info.containerRuntime;
    return { ok: true, engine: `Docker ${serverVersion} on ${operatingSystem}` };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

/**
 * Mosquitto in a container via testcontainers, loaded lazily, behind the same interface and log
 * mapping as startMosquittoRig. The container uses the host's network and Mosquitto listens on
 * 127.0.0.1 on a free port (only loopback carries test traffic). Without a Docker/Podman engine
 * it rejects fast with BXHIL_NO_CONTAINER_RUNTIME (docs/reference/dependencies.md §2.6: the runtime probe
 * fails in a few ms). close() removes the container, also after a failed start.
 */
export async function startContainerRig(options: ContainerRigOptions = {}): Promise<BrokerRig> {
  const { tc, client } = await containerRuntime();
  // Ryuk, testcontainers' reaper, is a helper container that removes ours if this process dies.
  // Its image must be pulled, and where no registry is reachable (CI here: only npm and Debian)
  // that pull fails and takes every container start with it. So when its image is not present
  // and the user has not chosen, run without it: close() removes the container (stop, then a
  // sweep by this rig's label), and only a killed process can leave one behind.
  if (process.env['TESTCONTAINERS_RYUK_DISABLED'] === undefined) {
    const { REAPER_IMAGE } = await import('testcontainers/build/reaper/reaper.js');
    if (!(await client.image.exists(tc.ImageName.fromString(REAPER_IMAGE))))
      process.env['TESTCONTAINERS_RYUK_DISABLED'] = 'true';
  }
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (await freePort(host));
  if (!Number.isInteger(port) || port <= 0 || port > 65535)
    throw new ConfigError('port', port, 'port must be 1..65535 for the container rig (omit it to pick a free one)');
  const pki = options.pki ?? (await createBasicPki());
  const mosqOptions: MosquittoRigOptions = {};
  if (options.bus) mosqOptions.bus = options.bus;
  if (options.tlsVersion) mosqOptions.tlsVersion = options.tlsVersion;
  if (options.extraConfig) mosqOptions.extraConfig = options.extraConfig;
  if (options.retainBytes !== undefined) mosqOptions.retainBytes = options.retainBytes;
  const image = options.image ?? 'eclipse-mosquitto:2';
  const pulled = !(await client.image.exists(tc.ImageName.fromString(image)));
  const profile = options.profile ?? 'mosquitto-like';
  const launch: ContainerLaunch = {
    tc,
    image,
    labels: { ...options.labels, [CONTAINER_LABEL]: 'container', [CONTAINER_ID_LABEL]: randomUUID() },
    startTimeoutMs: options.startTimeoutMs ?? 60_000,
  };
  const rig = new MosquittoRig(host, port, profile, pki, mosqOptions, inContainer(launch, profile));
  try {
    await rig.start();
  } catch (err) {
    const closing = await rig.close().then(
      () => '',
      (e: unknown) => `; removing the container failed too: ${(e as Error).message}`,
    );
    throw new BrokerStartError(
      'container',
      `the Mosquitto container did not start: ${(err as Error).message}${closing}` +
        (pulled ? `; ${image} was not present: pull it, or build it offline with ci/build-broker-image.sh` : '') +
        (rig.logTail ? `; its log says:\n${rig.logTail.split('\n').slice(-5).join('\n')}` : ''),
      rig.logTail,
      { cause: err },
    );
  }
  return rig;
}
