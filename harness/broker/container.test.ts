/**
 * The container rig (startContainerRig) against a real Docker engine: the same connect/refuse
 * case table as the aedes and Mosquitto rigs, then its life cycle. The container shares the
 * host's network and Mosquitto listens on 127.0.0.1 on a free port (only loopback carries test
 * traffic). Every container is removed, whatever happens to the test or the container; the last
 * test checks that none of this file's containers is left (`docker ps -a` by a label).
 *
 * Without an engine everything here skips, with the reason in the title. With one, nothing
 * skips. CI builds the image offline (ci/build-broker-image.sh); elsewhere it is pulled.
 *
 * Glossary: "engine" = the Docker daemon; "rig" = startContainerRig's Mosquitto in a container;
 * "device" = the client tool standing in for a module.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { runTool } from '../processes.ts';
import { defineConnectCases } from './cases.contract.ts';
import { CONTAINER_LABEL, probeContainerRuntime, startContainerRig } from './container.ts';

const engine = await probeContainerRuntime();

// With the vfs storage driver the engine copies the whole image for each container: tens of
// seconds on a loaded 2-core CI machine. The bounds are for that, not for a hang.
vi.setConfig({ testTimeout: 300_000, hookTimeout: 300_000 });

/** This file's containers carry this label (and the rig's own CONTAINER_LABEL). */
const RUN_LABEL = 'org.bx-hil.test-run';
const RUN = randomUUID();
const labels = { [RUN_LABEL]: RUN };

async function docker(args: string[]): Promise<string> {
  const r = await runTool('docker', args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.err.trim()}`);
  return r.out.trim();
}

/** Ids of this file's containers, running or not. */
async function containersOfThisFile(): Promise<string[]> {
  const out = await docker(['ps', '-a', '-q', '--filter', `label=${RUN_LABEL}=${RUN}`]);
  return out.split('\n').filter(Boolean);
}

if (!engine.ok) {
  test.skip(`container rig: case table and life cycle [skipped: ${engine.reason}]`, () => undefined);
} else {
  defineConnectCases(
    `container rig (${engine.engine}): shared connect/refuse cases`,
    (m) => startContainerRig({ pki: m.pki, labels }),
    'mosquitto',
  );

  describe('container rig life cycle', () => {
    afterAll(async () => {
      // Whatever a failed test left: remove it, so one failure does not leak into the next run.
      const left = await containersOfThisFile();
      if (left.length > 0) await docker(['rm', '-f', '-v', ...left]);
    });

    test('the case table closed its rig: no container of it is left', async () => {
      expect(await containersOfThisFile()).toEqual([]);
    });

    test('host network, 127.0.0.1 on a free port; publish/subscribe; restart replaces the container; close removes it', async () => {
      const rig = await startContainerRig({ profile: 'plain', labels });
      try {
        expect(rig.kind).toBe('container');
        expect(rig.host).toBe('127.0.0.1');
        const [first, ...more] = await containersOfThisFile();
        expect(more).toEqual([]);
        const inspect = JSON.parse(await docker(['inspect', first!])) as Array<{
          HostConfig: { NetworkMode: string };
          Config: { Labels: Record<string, string> };
        }>;
        expect(inspect[0]!.HostConfig.NetworkMode).toBe('host');
        expect(inspect[0]!.Config.Labels[CONTAINER_LABEL]).toBe('container');

        const got: string[] = [];
        let heard: () => void = () => undefined;
        const message = new Promise<void>((r) => (heard = r));
        await rig.subscribe('t/#', (topic, p) => {
          got.push(`${topic}=${p.toString()}`);
          heard();
        });
        await rig.publish('t/1', 'hello', { qos: 1 });
        await message;
        expect(got).toEqual(['t/1=hello']);

        await rig.restart();
        const after = await containersOfThisFile();
        expect(after).toHaveLength(1);
        expect(after[0]).not.toBe(first);
        await rig.publish('t/2', 'again', { qos: 1 });
      } finally {
        await rig.close();
        await rig.close();
      }
      expect(await containersOfThisFile()).toEqual([]);
    });

    test('a broker killed under the test is still removed by close()', async () => {
      const rig = await startContainerRig({ profile: 'plain', labels });
      try {
        const [id] = await containersOfThisFile();
        await docker(['kill', id!]);
      } finally {
        await rig.close();
      }
      expect(await containersOfThisFile()).toEqual([]);
    });

    test('a broker that refuses its config: BXHIL_BROKER_START quoting its log, and no container left', async () => {
      const err = await startContainerRig({ profile: 'plain', labels, extraConfig: ['no_such_option 1'] }).then(
        () => undefined,
        (e: unknown) => e as { code?: string; logTail?: string },
      );
      expect(err?.code).toBe('BXHIL_BROKER_START');
      expect(err?.logTail).toMatch(/no_such_option/i);
      expect(await containersOfThisFile()).toEqual([]);
    });

    test('a container whose start fails after it was created (no mosquitto in the image) is removed too', async () => {
      // An empty image: the engine creates the container, then cannot start `mosquitto` in it.
      // testcontainers leaves such a container behind; the rig's sweep by label removes it.
      const image = `bx-hil-test/empty:${RUN.slice(0, 8)}`;
      // Two zero blocks of 512 bytes: a tar archive with no entries.
      const imported = await runTool('docker', ['import', '-', image], {
        input: Buffer.alloc(1024),
        timeoutMs: 60_000,
      });
      expect(imported.code, imported.err).toBe(0);
      try {
        await expect(startContainerRig({ image, profile: 'plain', labels })).rejects.toMatchObject({
          code: 'BXHIL_BROKER_START',
        });
        expect(await containersOfThisFile()).toEqual([]);
      } finally {
        await docker(['image', 'rm', image]);
      }
    });

    test('no container of this file is left', async () => {
      expect(await containersOfThisFile()).toEqual([]);
    });
  });
}
