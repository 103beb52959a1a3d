/**
 * Typed BX310x URCs on top of the engine's generic `Urc` (docs/reference/bx310x-at.md §6.5, §6.7, §8).
 */
import type { Urc } from '../at/index.ts';

/** `+KMQTT_IND` codes [HL-Z fork `mqtt_offload_socket.h`; matches BX-L and 3P HL7811]. */
export const KMQTT_IND = Object.freeze({
  ABORTED: 0,
  CONNACK: 1,
  SUBACK: 2,
  UNSUBACK: 3,
  PUBACK: 4,
  GENERIC_ERROR: 5,
});

/** What each `+KMQTT_IND: <id>,<code>` code means, in words (docs/reference/bx310x-at.md). */
export const KMQTT_IND_MEANINGS: Readonly<Record<number, string>> = Object.freeze({
  0: 'MQTT connection aborted (also a failed connect, e.g. TLS or credentials refused)',
  1: 'CONNACK received (connected)',
  2: 'SUBACK received',
  3: 'UNSUBACK received',
  4: 'PUBACK (QoS 1) or PUBCOMP (QoS 2) received',
  5: 'MQTT generic error',
});

/** The meaning of a `+KMQTT_IND` code in words, or `unknown code <n>`. */
export function kmqttIndMeaning(code: number): string {
  return KMQTT_IND_MEANINGS[code] ?? `unknown +KMQTT_IND code ${code}`;
}

/** A `+KMQTT_IND: <id>,<code>` indication: the session and what happened to it. */
export interface MqttInd {
  sessionId: number;
  code: number;
  meaning: string;
  line: string;
}

/** A message the module received on a subscription (`+KMQTT_DATA` / `+KMQTTSUB`): topic, payload and session. */
export interface MqttMessage {
  /** Absent for the legacy `+KMQTTSUB: "<topic>","<message>"` form [BX-T], which has no session id. */
  sessionId?: number;
  topic: string;
  /** The payload decoded as UTF-8. */
  payload: string;
  /** The payload's bytes as received. */
  payloadBytes: Buffer;
  line: string;
}

/** A Wi-Fi indication of the module: joined, lost (with the reason code), or an address obtained. */
export type WifiEvent =
  | { kind: 'connected'; ssid: string; bssid?: string; channel?: number; line: string }
  | { kind: 'disconnected'; reason?: number; line: string }
  | { kind: 'ip'; ip: string; netmask?: string; gateway?: string; line: string };

/** ESP-IDF disconnect reasons the [BX-L] enum names. */
export const WIFI_REASONS: Readonly<Record<number, string>> = Object.freeze({
  8: 'station leaving',
  200: 'beacon timeout',
  201: 'no AP found',
  202: 'authentication failed',
  204: 'handshake timeout',
});

const str = (v: unknown): string => (v === undefined ? '' : String(v));
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** The `MqttInd` of a URC, or undefined when it is not a `+KMQTT_IND`. */
export function toMqttInd(urc: Urc): MqttInd | undefined {
  if (urc.name !== '+KMQTT_IND') return undefined;
  const [id, code] = urc.params;
  if (typeof id !== 'number' || typeof code !== 'number') return undefined;
  return { sessionId: id, code, meaning: kmqttIndMeaning(code), line: urc.line };
}

/** The `MqttMessage` of a URC, or undefined when it is not an incoming message. */
export function toMqttMessage(urc: Urc): MqttMessage | undefined {
  let sessionId: number | undefined;
  let topic: unknown;
  let payload: unknown;
  if (urc.name === '+KMQTT_DATA') {
    [sessionId, topic, payload] = [num(urc.params[0]), urc.params[1], urc.params[2]];
    if (sessionId === undefined) return undefined;
  } else if (urc.name === '+KMQTTSUB') {
    [topic, payload] = urc.params;
  } else {
    return undefined;
  }
  const payloadBytes = Buffer.from(str(payload), 'latin1');
  return {
    ...(sessionId !== undefined ? { sessionId } : {}),
    topic: Buffer.from(str(topic), 'latin1').toString('utf8'),
    payload: payloadBytes.toString('utf8'),
    payloadBytes,
    line: urc.line,
  };
}

/** The `WifiEvent` of a URC, or undefined when it is not a Wi-Fi indication. */
export function toWifiEvent(urc: Urc): WifiEvent | undefined {
  if (urc.name === '+SRWSTASTATUS') {
    const [state, a, b, c] = urc.params;
    if (state === 1) {
      return {
        kind: 'connected',
        ssid: str(a),
        ...(b !== undefined ? { bssid: str(b) } : {}),
        ...(num(c) !== undefined ? { channel: num(c)! } : {}),
        line: urc.line,
      };
    }
    return { kind: 'disconnected', ...(num(a) !== undefined ? { reason: num(a)! } : {}), line: urc.line };
  }
  if (urc.name === '+SRWSTAIP') {
    const [ip, netmask, gateway] = urc.params;
    return {
      kind: 'ip',
      ip: str(ip),
      ...(netmask !== undefined ? { netmask: str(netmask) } : {}),
      ...(gateway !== undefined ? { gateway: str(gateway) } : {}),
      line: urc.line,
    };
  }
  return undefined;
}
