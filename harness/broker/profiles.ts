/**
 * Broker profiles: TLS settings and the MQTT rules a profile enforces. Every aws-iot rule
 * carries its tag from docs/reference/aws-iot-and-mosquitto.md ([DOC], [DOC-OLD],
 * [OBS], [MEASURED], [GUESS]) and the rule id there (T1..T22, M1..M19).
 */
import type { Packet } from 'mqtt-packet';
import type { GateAction } from './mqtt-tap.ts';
import type { AwsIotOptions, AwsRegistryEntry, AwsSecurityPolicy, ProfileName } from './types.ts';

type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

export interface ProfileTls {
  enabled: boolean;
  requestCert: boolean;
  minVersion: TlsVersion;
  maxVersion: TlsVersion;
  /** OpenSSL cipher string (TLS <= 1.2), undefined = Node's default. */
  ciphers?: string;
  /** TLS 1.3 suites (colon list), undefined = Node's default. */
  ciphersuites?: string;
  /** Disable RFC 5077 session tickets (aws-iot T9). */
  noTickets: boolean;
}

/** AWS security policies (T4/T5 [DOC] transport-security policy table). */
const AWS_TLS12_SUITES = [
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-SHA256',
  'ECDHE-ECDSA-AES128-SHA256',
  'ECDHE-RSA-AES128-SHA',
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-SHA384',
  'ECDHE-ECDSA-AES256-SHA384',
  'ECDHE-RSA-AES256-SHA',
  'ECDHE-ECDSA-AES256-SHA',
  'AES128-GCM-SHA256',
  'AES128-SHA256',
  'AES128-SHA',
  'AES256-GCM-SHA384',
  'AES256-SHA256',
  'AES256-SHA',
];
const AWS_TLS13_SUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

/** The AWS IoT security policies the `aws-iot` profile offers: TLS versions and cipher suites of each. */
export const AWS_POLICIES: Record<
  AwsSecurityPolicy,
  { min: TlsVersion; max: TlsVersion; ciphers: string; source: string }
> = {
  // [DOC] T5: TLS 1.3 only, the three AEAD suites.
  IoTSecurityPolicy_TLS13_1_3_2022_10: {
    min: 'TLSv1.3',
    max: 'TLSv1.3',
    ciphers: AWS_TLS12_SUITES.join(':'),
    source: '[DOC] T5',
  },
  // [DOC] T4: default for new domain configurations (TLS 1.2 + 1.3).
  IoTSecurityPolicy_TLS13_1_2_2022_10: {
    min: 'TLSv1.2',
    max: 'TLSv1.3',
    ciphers: AWS_TLS12_SUITES.join(':'),
    source: '[DOC] T4/T5',
  },
  IoTSecurityPolicy_TLS12_1_2_2022_10: {
    min: 'TLSv1.2',
    max: 'TLSv1.2',
    ciphers: AWS_TLS12_SUITES.join(':'),
    source: '[DOC] T5',
  },
  // [DOC] T5: legacy regional policy; lacks AES128-SHA256 on 8883 (and allows TLS 1.0/1.1).
  IoTSecurityPolicy_TLS12_1_0_2016_01: {
    min: 'TLSv1',
    max: 'TLSv1.2',
    ciphers: AWS_TLS12_SUITES.filter((c) => c !== 'AES128-SHA256').join(':'),
    source: '[DOC] T4/T5',
  },
};

/** Mosquitto 2.0 default cipher string ([MEASURED]/source src/net.c, §4.1). */
const MOSQUITTO_CIPHERS = 'DEFAULT:!aNULL:!eNULL:!LOW:!EXPORT:!SSLv2:@STRENGTH';
const STRICT_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export function profileTls(profile: ProfileName, aws: AwsIotOptions | undefined): ProfileTls {
  switch (profile) {
    case 'plain':
      return { enabled: false, requestCert: false, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', noTickets: false };
    case 'tls-server-only':
      return { enabled: true, requestCert: false, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', noTickets: false };
    case 'strict':
      return {
        enabled: true,
        requestCert: true,
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.3',
        ciphers: STRICT_CIPHERS,
        noTickets: false,
      };
    case 'mosquitto-like':
      // Mosquitto 2.0: tls_version default = 1.2 and 1.3 (§4.1).
      return {
        enabled: true,
        requestCert: true,
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.3',
        ciphers: MOSQUITTO_CIPHERS,
        noTickets: false,
      };
    case 'aws-iot': {
      const policy = AWS_POLICIES[aws?.securityPolicy ?? 'IoTSecurityPolicy_TLS13_1_2_2022_10'];
      return {
        enabled: true,
        requestCert: true, // T13 [DOC-OLD]: AWS IoT requests an X.509 client certificate
        minVersion: policy.min,
        maxVersion: policy.max,
        ciphers: policy.ciphers,
        ciphersuites: AWS_TLS13_SUITES,
        noTickets: true, // T9 [DOC]: no SessionTicket extension
      };
    }
  }
}

/** State the gate needs about one connection. */
export interface GateContext {
  profile: ProfileName;
  aws: Required<Pick<AwsIotOptions, 'sniMode' | 'unknownCertMode'>> & AwsIotOptions;
  allowedClientIds?: string[];
  sni?: string;
  /** Registry entry of the client certificate (aws-iot), undefined = unregistered. */
  registryEntry?: AwsRegistryEntry;
  /** True when the registry is in use. */
  registryInUse: boolean;
  connackSent: () => boolean;
  subscriptionCount: number;
  /** Called when a rule fires, before the action is applied. */
  refuse(rule: string, source: string, reason: string, at: 'connect' | 'session'): void;
}

/** aws-iot limits (M6, M7, M9, M10, M11). */
export const AWS_LIMITS = {
  keepaliveMinS: 30, // M6 [DOC-OLD]/re:Post: 1..29 treated as 30
  keepaliveMaxS: 1200, // M6 [DOC-OLD]: 0 or > 1200 -> 1200
  clientIdMaxBytes: 128, // M7 [DOC-OLD]
  payloadMaxBytes: 128 * 1024, // M9 [DOC-OLD]
  topicMaxBytes: 256, // M10 [DOC-OLD]
  topicMaxSlashes: 7, // M10 [DOC-OLD]
  filtersPerSubscribe: 8, // M11 [DOC-OLD]
  subscriptionsPerConnection: 50, // M11 [DOC-OLD]
} as const;

const pass: GateAction = { action: 'pass' };

function topicProblem(topic: string): string | undefined {
  if (Buffer.byteLength(topic) > AWS_LIMITS.topicMaxBytes)
    return `topic is ${Buffer.byteLength(topic)} bytes (> ${AWS_LIMITS.topicMaxBytes})`;
  const slashes = topic.split('/').length - 1;
  if (slashes > AWS_LIMITS.topicMaxSlashes) return `topic has ${slashes} slashes (> ${AWS_LIMITS.topicMaxSlashes})`;
  return undefined;
}

/**
 * The inbound MQTT gate of a profile. Returns what to do with the packet; calls
 * `ctx.refuse` with the rule and its source tag before a close.
 */
export function gatePacket(packet: Packet, ctx: GateContext): GateAction {
  const v5 = (p: Packet): boolean => p.cmd === 'connect' && p.protocolVersion === 5;
  const close = (
    rule: string,
    source: string,
    reason: string,
    at: 'connect' | 'session',
    reply?: Packet,
  ): GateAction => {
    ctx.refuse(rule, source, reason, at);
    return reply ? { action: 'close', reason, reply } : { action: 'close', reason };
  };

  if (ctx.profile !== 'aws-iot') {
    if (packet.cmd === 'connect' && ctx.allowedClientIds && !ctx.allowedClientIds.includes(packet.clientId)) {
      // Mosquitto answers an authorisation failure with CONNACK 5 (v3) / 0x87 (v5) (§3 "Plain Mosquitto instead sends CONNACK 5").
      const reply: Packet = v5(packet)
        ? { cmd: 'connack', reasonCode: 0x87, sessionPresent: false }
        : { cmd: 'connack', returnCode: 5, sessionPresent: false };
      return close(
        'client-id-not-allowed',
        '[MEASURED] §3',
        `client id "${packet.clientId}" is not allowed`,
        'connect',
        reply,
      );
    }
    return pass;
  }

  // ---- aws-iot ----
  if (packet.cmd !== 'connect' && !ctx.connackSent()) {
    return close('packet-before-connack', '[DOC] M3', `${packet.cmd.toUpperCase()} sent before CONNACK`, 'connect');
  }
  switch (packet.cmd) {
    case 'connect': {
      const isV5 = packet.protocolVersion === 5;
      if (packet.will && packet.will.qos === 2) {
        return close(
          'qos2-will',
          '[OBS] M4',
          'Will QoS 2 in CONNECT (AWS closes the TCP connection without CONNACK)',
          'connect',
        );
      }
      if (Buffer.byteLength(packet.clientId) > AWS_LIMITS.clientIdMaxBytes) {
        return close(
          'client-id-length',
          '[DOC-OLD] M7',
          `client id is ${Buffer.byteLength(packet.clientId)} bytes (> 128)`,
          'connect',
        );
      }
      if (packet.clientId.startsWith('$')) {
        return close('client-id-reserved', '[DOC-OLD] M7', 'client ids starting with $ are reserved', 'connect');
      }
      // M15: a client id the policy does not allow; v3 closes without CONNACK [OBS], v5 answers
      // CONNACK 0x87 [DOC].
      const refuseClientId = () =>
        close(
          'iot-connect-policy',
          isV5 ? '[DOC] M15' : '[OBS] M15',
          `policy does not allow client id "${packet.clientId}"`,
          'connect',
          isV5 ? { cmd: 'connack', reasonCode: 0x87, sessionPresent: false } : undefined,
        );
      if (ctx.registryInUse) {
        const e = ctx.registryEntry;
        if (!e || e.status !== 'ACTIVE') {
          // T18 mode (b) [OBS]: handshake completes, CONNECT is dropped without CONNACK.
          ctx.refuse(
            'registry-status',
            '[OBS] T18',
            e ? `certificate status is ${e.status}` : 'certificate is not registered',
            'connect',
          );
          return { action: 'close', reason: 'certificate not ACTIVE' };
        }
        if (e.mode === 'SNI_ONLY' && (ctx.sni === undefined || (ctx.aws.endpoint && ctx.sni !== ctx.aws.endpoint))) {
          // T8 [OBS]: SNI_ONLY certificate without (the right) SNI -> terminated, no CONNACK.
          return close(
            'sni-only-cert',
            '[OBS] T8',
            `SNI_ONLY certificate but SNI was ${ctx.sni ?? 'absent'}`,
            'connect',
          );
        }
        if (e.clientIds && !e.clientIds.includes(packet.clientId)) return refuseClientId();
      }
      if (ctx.allowedClientIds && !ctx.allowedClientIds.includes(packet.clientId)) return refuseClientId();
      const ka = packet.keepalive ?? 0;
      // M6 [DOC-OLD] + re:Post: 0 or > 1200 -> 1200; 1..29 -> 30.
      const clamped =
        ka === 0 || ka > AWS_LIMITS.keepaliveMaxS
          ? AWS_LIMITS.keepaliveMaxS
          : ka < AWS_LIMITS.keepaliveMinS
            ? AWS_LIMITS.keepaliveMinS
            : ka;
      if (clamped !== ka) return { action: 'replace', packet: { ...packet, keepalive: clamped } };
      return pass;
    }
    case 'publish': {
      if (packet.qos === 2)
        return close('qos2-publish', '[OBS] M4', 'QoS 2 PUBLISH (AWS supports QoS 0 and 1 only)', 'session');
      const payloadBytes =
        typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload.length;
      if (payloadBytes > AWS_LIMITS.payloadMaxBytes) {
        return close(
          'payload-size',
          '[DOC-OLD] M9 [GUESS: disconnect]',
          `payload is ${payloadBytes} bytes (> 128 KB)`,
          'session',
        );
      }
      const problem = topicProblem(packet.topic);
      if (problem) return close('topic-limit', '[DOC-OLD] M10', problem, 'session');
      return pass;
    }
    case 'subscribe': {
      if (packet.subscriptions.length > AWS_LIMITS.filtersPerSubscribe) {
        return close(
          'filters-per-subscribe',
          '[DOC-OLD] M11',
          `${packet.subscriptions.length} filters in one SUBSCRIBE (> 8)`,
          'session',
        );
      }
      for (const s of packet.subscriptions) {
        const problem = topicProblem(s.topic);
        if (problem) return close('topic-limit', '[DOC-OLD] M10', `filter ${problem}`, 'session');
      }
      if (packet.subscriptions.some((s) => s.qos === 2)) {
        // M4 [DOC]: "When QoS level 2 is requested, the message broker doesn't send a PUBACK or SUBACK."
        return { action: 'drop', reason: 'QoS 2 SUBSCRIBE gets no SUBACK [DOC] M4' };
      }
      if (ctx.subscriptionCount + packet.subscriptions.length > AWS_LIMITS.subscriptionsPerConnection) {
        return close(
          'subscriptions-per-connection',
          '[DOC-OLD] M11',
          `more than 50 subscriptions on one connection`,
          'session',
        );
      }
      ctx.subscriptionCount += packet.subscriptions.length;
      return pass;
    }
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return close('qos2-flow', '[DOC] M2', `${packet.cmd.toUpperCase()} is not supported (no QoS 2)`, 'session');
    default:
      return pass;
  }
}
