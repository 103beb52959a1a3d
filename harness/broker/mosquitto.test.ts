/**
 * The Mosquitto adapter passes the same connect/refuse case table as the aedes rig (with the
 * codes its coarser log allows); the container adapter starts when an engine answers and says
 * why it cannot when none does.
 * Glossary: "device" = the client tool; "rig" = startMosquittoRig (a real mosquitto process).
 */
import { describe, expect, test } from 'vitest';
import { defineConnectCases } from './cases.contract.ts';
import { probeContainerRuntime, startContainerRig } from './container.ts';
import { startMosquittoRig, topicMatches } from './mosquitto.ts';
import { hasTool } from './testing.ts';

const MOSQUITTO = hasTool('mosquitto');

if (MOSQUITTO) {
  defineConnectCases(
    'mosquitto adapter: shared connect/refuse cases',
    (m) => startMosquittoRig({ pki: m.pki }),
    'mosquitto',
  );
} else {
  test.skip('mosquitto adapter: shared cases [skipped: mosquitto not installed; apt-get install mosquitto]', () =>
    undefined);
}

describe('mosquitto adapter', () => {
  test.skipIf(!MOSQUITTO)(
    'publish/subscribe in-process through the adapter, and close() kills the process',
    async () => {
      const rig = await startMosquittoRig({});
      try {
        const got: string[] = [];
        let arrived!: () => void;
        const first = new Promise<void>((resolve) => (arrived = resolve));
        const off = await rig.subscribe('t/#', (topic, p) => {
          got.push(`${topic}=${p.toString()}`);
          arrived();
        });
        await rig.publish('t/1', 'hello', { qos: 1 });
        await first; // the message's own arrival, not a polled deadline
        expect(got).toEqual(['t/1=hello']);
        await off();
      } finally {
        await rig.close();
        await rig.close();
      }
    },
  );

  test.skipIf(!MOSQUITTO)(
    "the readiness probe is not the device's: after start, the first connection is conn-1 and the only record",
    async () => {
      for (const profile of ['plain', 'mosquitto-like'] as const) {
        const rig = await startMosquittoRig({ profile });
        try {
          // Mosquitto logs in order: once this connection's verdict is in, any probe line is too.
          await rig.publish('t/probe', 'x', { qos: 1 });
          await rig.waitForVerdict((v) => v.code === 'OK', 10_000);
          const seen = { profile, records: rig.records.map((r) => r.id), verdicts: rig.verdicts.map((v) => v.code) };
          expect(seen).toEqual({ profile, records: ['conn-1'], verdicts: ['OK'] });
        } finally {
          await rig.close();
        }
      }
    },
  );

  test('topicMatches', () => {
    expect(topicMatches('a/#', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+/c', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+', 'a/b/c')).toBe(false);
    expect(topicMatches('a/b', 'a/b')).toBe(true);
  });
});

describe('container adapter', () => {
  // Holds with and without an engine: the rig agrees with the probe, and a rig that started is
  // closed (container.test.ts runs the case table and the life cycle against the container).
  test(
    'startContainerRig agrees with the engine probe: a container when an engine answers, else BXHIL_NO_CONTAINER_RUNTIME at once',
    async () => {
      const engine = await probeContainerRuntime();
      const t0 = Date.now();
      const started = startContainerRig({ profile: 'plain' });
      if (!engine.ok) {
        await expect(started).rejects.toMatchObject({ code: 'BXHIL_NO_CONTAINER_RUNTIME' });
        expect(Date.now() - t0).toBeLessThan(15_000);
        return;
      }
      const rig = await started;
      try {
        expect(rig.kind).toBe('container');
      } finally {
        await rig.close();
      }
    },
    // With an engine: a container start, which the vfs storage driver makes slow on a loaded CI.
    300_000,
  );
});
