/**
 * The suites' waits, derived from the module they run against: its timing (harness/timing.ts:
 * line rate, TLS costs, CONNACK, publish, Wi-Fi, boot) and its profile's own bounds (the
 * handshake and CONNACK timeouts after which the module reports a failure by itself). A wait
 * returns as soon as its event comes; the bound only decides how long a test waits for an event
 * that never comes, so it is what the model says the event takes, plus one stated slack.
 *
 * The waits in force are those of the test file's device (`openSuiteSession` sets them once
 * the device is identified; a Vitest worker runs one test file at a time). Before that, and for
 * a device that could not be brought up, they are the instant module's with the documented
 * bounds.
 */
import type { Profile } from '../sim/index.ts';
import { INSTANT_TIMING, timingLineMs, TIMING_KEY_KINDS, type Timing } from '../timing.ts';

/**
 * Added once to every derived bound: what a loaded 2-core CI machine (five test processes, a
 * broker, the virtual module) may delay an event by. An event on time comes well within it.
 */
export const LOADED_HOST_SLACK_MS = 2_000;

/** The longest server chain a staged scenario serves (leaf, two intermediates, a root sent along). */
const MAX_CHAIN_CERTS = 4;

/**
 * A Wi-Fi join depends on the access point and the air (scan, 4-way handshake, DHCP retries):
 * the bound allows 3 times the modelled join.
 */
const WIFI_JOIN_FACTOR = 3;

/** Bounds used before a profile is known: docs/reference/bx310x-at.md's handshake and CONNACK timeouts. */
const DOCUMENTED_BOUNDS = { handshakeTimeoutMs: 10_000, connectTimeoutMs: 10_000, bootMs: 100 };

export interface SuiteWaits {
  /** The costliest TLS handshake the module may do here (key exchange, a 4-certificate chain at the dearest verify, the dearest signature), ms. */
  handshakeMs: number;
  /** AT+KMQTTCNX → `+KMQTT_IND`: the module answers at the latest when its own handshake and CONNACK bounds run out. */
  connectMs: number;
  /** The rig's verdict once the module has answered: the handshake and CONNACK the rig may still be judging. */
  verdictMs: number;
  /** A message the module publishes reaching the broker, or the broker's reaching the module (`bytes` on the line). */
  deliveryMs(bytes?: number): number;
  /** The module's SUBSCRIBE reaching the broker and its SUBACK coming back. */
  subscribeMs: number;
  /** The module reporting a lost connection (`+KMQTT_IND: <id>,0`) once its socket is gone. */
  lossMs: number;
  /**
   * A quiet window: `baseMs` (the window the test observes on an instant module, stated where
   * it is used) plus what a message that should not come would take to show (publish + line).
   */
  quietMs(baseMs: number, bytes?: number): number;
  /** AT+RST (or a reset) → `READY`. */
  bootMs: number;
  /** AT+SRWSTACON=1 → joined. */
  wifiJoinMs: number;
}

/** Derive the waits from the module's timing and its profile's bounds (see the file comment). */
export function suiteWaits(timing: Timing, profile?: Pick<Profile, 'tls' | 'mqtt' | 'framing'>): SuiteWaits {
  const t = timing;
  const max = (r: Record<string, number>): number => Math.max(...TIMING_KEY_KINDS.map((k) => r[k] ?? 0));
  const handshakeMs = t.tls.keyExchangeMs + MAX_CHAIN_CERTS * max(t.tls.verifyPerCertMs) + max(t.tls.signMs);
  const handshakeTimeoutMs = profile?.tls.handshakeTimeoutMs ?? DOCUMENTED_BOUNDS.handshakeTimeoutMs;
  const connectTimeoutMs = profile?.mqtt.connectTimeoutMs ?? DOCUMENTED_BOUNDS.connectTimeoutMs;
  const slack = LOADED_HOST_SLACK_MS;
  // An MQTT packet's framing and topic on the line, beside its payload (a +KMQTT_DATA URC).
  const envelope = 128;
  return {
    handshakeMs,
    connectMs: Math.max(handshakeTimeoutMs, handshakeMs) + connectTimeoutMs + t.mqtt.connackMs + slack,
    verdictMs: handshakeMs + t.mqtt.connackMs + slack,
    deliveryMs: (bytes = 0) => t.mqtt.publishMs + timingLineMs(t, bytes + envelope) + slack,
    subscribeMs: t.mqtt.publishMs + timingLineMs(t, envelope) + slack,
    lossMs: timingLineMs(t, envelope) + slack,
    quietMs: (baseMs, bytes = 0) => baseMs + t.mqtt.publishMs + timingLineMs(t, bytes + envelope),
    bootMs: Math.max(profile?.framing.bootMs ?? DOCUMENTED_BOUNDS.bootMs, t.bootMs) + slack,
    wifiJoinMs: WIFI_JOIN_FACTOR * t.wifi.joinMs + slack,
  };
}

let inForce: SuiteWaits = suiteWaits(INSTANT_TIMING);

/** The waits of this test file's device (see the file comment). */
export function waitsInForce(): SuiteWaits {
  return inForce;
}

/** Set by `openSuiteSession` once the device's timing and profile are known. */
export function setWaitsInForce(w: SuiteWaits): void {
  inForce = w;
}
