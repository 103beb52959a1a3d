/**
 * The broker profiles' accept rules, one named rule each, in the order they are checked: the
 * way the sim's connect sequence is written (`connectSteps`, after aedes' `connectActions`).
 * A rule that refuses returns why; the rig records the refusal under the rule's name, emits a
 * `refusal` evidence event carrying it, and closes. The MQTT rules (CONNECT, PUBLISH, ...) are
 * the profile's gate in profiles.ts; these are the ones decided before any MQTT.
 */
import type { ClientHello } from './client-hello.ts';
import type { GateContext } from './profiles.ts';
import type { ConnectionRecord, ProfileName } from './types.ts';

/** ALPN of AWS IoT's MQTT-over-mTLS on port 443 (T1 [DOC-OLD]/[DOC]). */
export const AWS_MQTT_ALPN = 'x-amzn-mqtt-ca';

export type Refusal = NonNullable<ConnectionRecord['refusal']>;

/** What the accept rules know of one connection. */
export interface AcceptContext {
  profile: ProfileName;
  aws: GateContext['aws'];
  /** Which listener took the connection. */
  listener: ConnectionRecord['listener'];
  /** The parsed ClientHello; undefined when none was complete. */
  hello: ClientHello | undefined;
  /** SHA-256 fingerprint of the verified handshake's client certificate (handshake rules). */
  peerFingerprint?: string;
}

export interface AcceptRule {
  /** The rule's name, as `refusal.rule` and in the evidence. */
  readonly name: string;
  /** When it is checked: on the ClientHello (before TLS) or after the handshake. */
  readonly at: 'front-door' | 'handshake';
  /** Undefined to accept; else the source tag and the reason of the refusal. */
  check(ctx: AcceptContext): { source: string; reason: string } | undefined;
}

/** Checked on the ClientHello, before Node's TLS stack sees the socket. */
export const helloRules: readonly AcceptRule[] = [
  {
    // T1/T2 [DOC]: on 443, X.509 MQTT needs ALPN x-amzn-mqtt-ca; without it the connection fails.
    name: 'alpn',
    at: 'front-door',
    check: ({ listener, hello }) =>
      listener === 'alpn' && !hello?.alpn?.includes(AWS_MQTT_ALPN)
        ? { source: '[DOC] T1/T2', reason: `ALPN ${hello?.alpn?.join(',') ?? '(none)'} instead of ${AWS_MQTT_ALPN}` }
        : undefined,
  },
  {
    // SNI rules apply to any profile that sets aws.sniMode (a scenario's `require-sni`).
    // T7 [DOC-OLD]: "Connection attempts that don't include the SNI are refused".
    // T6 [DOC]: with `match`, a missing host_name fails like a wrong one.
    name: 'sni-required',
    at: 'front-door',
    check: ({ aws, hello }) => {
      if (hello?.sni) return undefined;
      if (aws.sniMode === 'required') return { source: '[DOC-OLD] T7', reason: 'the ClientHello carries no SNI' };
      if (aws.sniMode === 'match')
        return { source: '[DOC] T6', reason: `no SNI; the endpoint "${aws.endpoint}" requires it` };
      return undefined;
    },
  },
  {
    // T6 [DOC]: "incorrect or invalid host_name value will fail".
    name: 'sni-match',
    at: 'front-door',
    check: ({ aws, hello }) =>
      aws.sniMode === 'match' && hello?.sni && hello.sni !== aws.endpoint
        ? { source: '[DOC] T6', reason: `SNI "${hello.sni}" is not the endpoint "${aws.endpoint}"` }
        : undefined,
  },
];

/** Checked once the handshake is done and the client certificate verified. */
export const handshakeRules: readonly AcceptRule[] = [
  {
    // T18 (a) [OBS]: an unregistered or not ACTIVE certificate refused in the handshake (AWS
    // sends alert 46; Node cannot choose the alert after the fact, so the rig closes right after
    // the handshake). Mode (b), after CONNECT, is the gate's `registry-status` in profiles.ts.
    name: 'registry-status',
    at: 'handshake',
    check: ({ profile, aws, peerFingerprint }) => {
      if (profile !== 'aws-iot' || !aws.registry || aws.unknownCertMode !== 'handshake') return undefined;
      const entry = peerFingerprint ? aws.registry[peerFingerprint] : undefined;
      if (entry?.status === 'ACTIVE') return undefined;
      return {
        source: '[OBS] T18',
        reason: entry ? `certificate status is ${entry.status}` : 'certificate is not registered',
      };
    },
  },
];

/** The first rule of `rules` that refuses, as a refusal naming it; undefined when all accept. */
export function firstRefusal(rules: readonly AcceptRule[], ctx: AcceptContext): Refusal | undefined {
  for (const rule of rules) {
    const r = rule.check(ctx);
    if (r) return { rule: rule.name, source: r.source, reason: r.reason, at: rule.at };
  }
  return undefined;
}
