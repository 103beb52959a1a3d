/**
 * The Mosquitto adapter passes the same connect/refuse case table as the aedes rig (with the
 * codes its coarser log allows), and the container adapter says why it cannot start.
 * Glossary: "device" = the client tool; "rig" = startMosquittoRig (a real mosquitto process).
 */
import { describe, expect, test } from 'vitest';
import { defineConnectCases } from './cases.contract.ts';
import { startContainerRig, startMosquittoRig, topicMatches } from './mosquitto.ts';
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
        const off = await rig.subscribe('t/#', (topic, p) => got.push(`${topic}=${p.toString()}`));
        await rig.publish('t/1', 'hello', { qos: 1 });
        const deadline = Date.now() + 5000;
        while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
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
  test('without a Docker engine it rejects fast with BXHIL_NO_CONTAINER_RUNTIME', async () => {
    const t0 = Date.now();
    await expect(startContainerRig()).rejects.toMatchObject({ code: 'BXHIL_NO_CONTAINER_RUNTIME' });
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});
