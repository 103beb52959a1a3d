/**
 * The suites' waits come from the module's timing and its profile's bounds: on the instant
 * module they are the documented bounds plus the stated slack; at realistic timing each grows by
 * exactly what the model says the event takes.
 */
import { describe, expect, test } from 'vitest';
import { loadProfile } from '../sim/index.ts';
import { INSTANT_TIMING } from '../timing.ts';
import { LOADED_HOST_SLACK_MS, suiteWaits } from './waits.ts';

describe('suiteWaits', () => {
  const p = loadProfile('2.6.3');

  test('instant: the module answers a connect at the latest at its own handshake + CONNACK bounds; a verdict is due at once', () => {
    const w = suiteWaits(INSTANT_TIMING, p);
    expect(w.handshakeMs).toBe(0);
    expect(w.connectMs).toBe(p.tls.handshakeTimeoutMs + p.mqtt.connectTimeoutMs + LOADED_HOST_SLACK_MS);
    expect(w.verdictMs).toBe(LOADED_HOST_SLACK_MS);
    expect(w.deliveryMs(1000)).toBe(LOADED_HOST_SLACK_MS);
    expect(w.quietMs(500)).toBe(500);
    expect(w.bootMs).toBe(p.framing.bootMs + LOADED_HOST_SLACK_MS);
  });

  test('realistic 2.6.3: each wait grows by the modelled cost of its event', () => {
    const t = p.timing;
    const w = suiteWaits(t, p);
    // key exchange + 4 verifies at the dearest kind + the dearest signature
    const hs =
      t.tls.keyExchangeMs +
      4 * Math.max(...Object.values(t.tls.verifyPerCertMs)) +
      Math.max(...Object.values(t.tls.signMs));
    expect(w.handshakeMs).toBe(hs);
    expect(w.verdictMs).toBe(hs + t.mqtt.connackMs + LOADED_HOST_SLACK_MS);
    expect(w.connectMs).toBe(
      Math.max(p.tls.handshakeTimeoutMs, hs) + p.mqtt.connectTimeoutMs + t.mqtt.connackMs + LOADED_HOST_SLACK_MS,
    );
    // 1152 bytes (1024 + a 128-byte envelope) at 115200 8N1 is 100 ms on the line.
    expect(w.deliveryMs(1024)).toBeCloseTo(t.mqtt.publishMs + 100 + LOADED_HOST_SLACK_MS, 5);
    expect(w.quietMs(500, 1024)).toBeCloseTo(500 + t.mqtt.publishMs + 100, 5);
    expect(w.bootMs).toBe(t.bootMs + LOADED_HOST_SLACK_MS);
    expect(w.wifiJoinMs).toBe(3 * t.wifi.joinMs + LOADED_HOST_SLACK_MS);
  });

  test('without a profile (the device never came up) the documented 10 s bounds stand in', () => {
    expect(suiteWaits(INSTANT_TIMING).connectMs).toBe(20_000 + LOADED_HOST_SLACK_MS);
  });
});
