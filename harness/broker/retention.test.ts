/**
 * A long bench session: the aedes rig (and the Mosquitto rig, through the same window) keeps
 * what it has seen of ended connections under a byte budget (a rolling window), drops the oldest
 * with a `records-dropped` evidence event, and still judges and reports every attempt as it
 * happens. Only loopback, port 0.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { ConfigError } from '../errors.ts';
import type { EvidenceEvent } from '../evidence.ts';
import { createBasicPki } from '../pki/index.ts';
import { startMosquittoRig } from './mosquitto.ts';
import { startBrokerRig } from './rig.ts';
import { hasTool } from './testing.ts';
import type { BrokerRig } from './types.ts';

const rigs: BrokerRig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close();
});

/** Open a TCP connection to the rig and close it at once (a device that gives up). */
function touch(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.end());
    s.on('error', reject);
    s.on('close', () => resolve());
  });
}

/** The rig's `records-dropped` markers, and a promise of its first `n` verdicts. */
function watch(rig: BrokerRig, n: number): { markers: EvidenceEvent[]; allJudged: Promise<void>; judged(): number } {
  const markers: EvidenceEvent[] = [];
  rig.bus.subscribe((e) => {
    if (e.kind === 'records-dropped') markers.push(e);
  });
  let judged = 0;
  const allJudged = new Promise<void>((resolve) =>
    rig.onVerdict(() => {
      if (++judged === n) resolve();
    }),
  );
  return { markers, allJudged, judged: () => judged };
}

describe('aedes rig: bounded memory over many connection attempts', () => {
  test('thousands of attempts keep the retained records under retainBytes; the oldest go with a marker', async () => {
    const N = 2_000;
    const CAP = 64 * 1024; // 64 KiB: a few dozen attempts
    const rig = await startBrokerRig({ profile: 'strict', pki: await createBasicPki(), retainBytes: CAP });
    rigs.push(rig);
    const { markers, allJudged, judged } = watch(rig, N);
    // 16 at a time: bounded in count and in time (a few seconds on a loaded 2-core machine).
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < N) {
          next++;
          await touch(rig.port);
        }
      }),
    );
    await allJudged;

    expect(judged()).toBe(N);
    const retained = Buffer.byteLength(JSON.stringify(rig.records));
    expect(retained).toBeLessThanOrEqual(CAP);
    expect(rig.records.length).toBeGreaterThan(0);
    expect(rig.records.length).toBeLessThan(N / 10);
    // Verdicts leave with their connections; the newest attempt is always kept.
    expect(rig.verdicts.length).toBeLessThanOrEqual(rig.records.length);
    expect(rig.records.map((r) => r.id)).toContain(`conn-${N}`);
    // Each drop left a marker, and together they account for every attempt no longer kept.
    expect(markers.length).toBeGreaterThan(0);
    const droppedTotal = markers.reduce((n, e) => n + (e.data?.['dropped'] as number), 0);
    expect(droppedTotal + rig.records.length).toBe(N);
    expect(markers.at(-1)?.summary).toMatch(/^dropped the \d+ oldest ended connections \(conn-\d+ \.\. conn-\d+\)/);
  });

  test('retainBytes below 16 KiB or not a whole number is refused naming the field', async () => {
    for (const bad of [1_000, 1.5e5 + 0.5, Number.NaN]) {
      const err = await startBrokerRig({ retainBytes: bad }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toContain('retainBytes');
    }
  });
});

describe('mosquitto rig: the same window bounds its records and verdicts', () => {
  test.skipIf(!hasTool('mosquitto'))(
    'hundreds of attempts keep the retained records under retainBytes; the oldest go with a marker',
    async () => {
      const N = 200;
      const CAP = 16 * 1024; // 16 KiB: a few dozen attempts
      const rig = await startMosquittoRig({ profile: 'plain', retainBytes: CAP });
      rigs.push(rig);
      const { markers, allJudged } = watch(rig, N);
      // One at a time: Mosquitto's log names no port when a client without an id leaves.
      for (let i = 0; i < N; i++) await touch(rig.port);
      await allJudged;

      expect(Buffer.byteLength(JSON.stringify(rig.records))).toBeLessThanOrEqual(CAP);
      expect(rig.records.length).toBeGreaterThan(0);
      expect(rig.records.length).toBeLessThan(N / 2);
      expect(rig.verdicts.length).toBeLessThanOrEqual(rig.records.length);
      expect(rig.records.map((r) => r.id)).toContain(`conn-${N}`);
      const droppedTotal = markers.reduce((n, e) => n + (e.data?.['dropped'] as number), 0);
      expect(droppedTotal + rig.records.length).toBe(N);
    },
  );

  test('retainBytes below 16 KiB is refused naming the field', async () => {
    const err = await startMosquittoRig({ retainBytes: 1_000, command: '/nonexistent' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain('retainBytes');
  });
});
