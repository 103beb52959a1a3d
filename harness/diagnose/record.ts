/**
 * What the judgement reads: one connection attempt as the broker rig recorded it
 * (`ConnectionRecord`, with the parsed ClientHello and the TLS outcome) and what is concluded
 * from it (`Verdict`, `VerdictCode`). The shapes live here, below the broker, because the
 * judgement lives here (docs/DESIGN.md: evidence -> diagnose -> verdict): the broker records and
 * asks `judgeRecord`; it does not judge.
 */
import type { EvidenceEvent } from '../evidence.ts';

/** The TLS ClientHello the module sent, parsed: versions, cipher suites, SNI, ALPN. */
export interface ClientHello {
  /** legacy_version of the record body, e.g. `TLS1.2` (TLS 1.3 clients also say TLS1.2 here). */
  version: string;
  /** From the supported_versions extension; when absent, just `[version]`. */
  supportedVersions: string[];
  cipherSuites: string[];
  sni?: string;
  alpn?: string[];
  groups?: string[];
  signatureAlgorithms?: string[];
  /** Max Fragment Length in bytes (512..4096) when the extension is present (RFC 6066 §4). */
  maxFragmentLength?: number;
  /** True when the session_ticket extension is present (RFC 5077). */
  sessionTicket: boolean;
  /** Extension names in the order sent. */
  extensions: string[];
}

/** What the first bytes of a connection looked like: TLS, plain MQTT, HTTP, or something else. */
export type FirstBytesKind = 'tls' | 'mqtt' | 'http' | 'other';

/**
 * Stable verdict codes (tests, docs and reports spell them this way). Codes beyond the first list:
 * `CLIENT_CERT_NOT_YET_VALID`, `CLIENT_CERT_NOT_ACTIVE` (aws-iot registry), `NO_ALPN`,
 * `HANDSHAKE_THEN_SILENT`, `HANDSHAKE_ABORTED`, `CONNACK_WITHHELD`, `STALLED_BY_RIG`, `CLOSED_BY_RIG` (a close fault),
 * `BROKER_NOT_REACHED` (the module tried, the broker saw nothing: from diagnose), `UNKNOWN`.
 */
export type VerdictCode =
  | 'OK'
  | 'NO_CLIENT_CERT'
  | 'CLIENT_CERT_UNTRUSTED'
  | 'CLIENT_CERT_EXPIRED'
  | 'CLIENT_CERT_NOT_YET_VALID'
  | 'CLIENT_CERT_NOT_ACTIVE'
  | 'DEVICE_REJECTED_SERVER_CERT'
  | 'KEY_MISMATCH'
  | 'NO_SNI'
  | 'SNI_MISMATCH'
  | 'NO_ALPN'
  | 'TLS_VERSION_MISMATCH'
  | 'NO_SHARED_CIPHER'
  | 'PLAINTEXT_ON_TLS_PORT'
  | 'NEVER_SPOKE'
  | 'HANDSHAKE_THEN_SILENT'
  | 'HANDSHAKE_ABORTED'
  | 'CONNECT_REFUSED'
  | 'CONNACK_WITHHELD'
  | 'POLICY_DISCONNECT'
  | 'STALLED_BY_RIG'
  | 'CLOSED_BY_RIG'
  | 'BROKER_NOT_REACHED'
  | 'UNKNOWN';

/** The rig's judgement of one connection: a code (`OK`, `DEVICE_REJECTED_SERVER_CERT`, `NO_SNI`, ...), a summary, the fix, and the evidence lines it rests on. */
export interface Verdict {
  code: VerdictCode;
  /** Plain words for a non-specialist. */
  summary: string;
  /** The evidence lines the verdict rests on (event summaries, log lines). */
  evidence: string[];
  /** What to change. */
  fix: string;
  connectionId?: string;
  /** Which side has to change something. */
  side?: 'device' | 'broker' | 'both';
}

/** The client certificate a connection presented: subject, issuer, validity, fingerprint. */
export interface PeerCertInfo {
  subject: string;
  issuer: string;
  fingerprint256: string;
  validFrom: string;
  validTo: string;
}

/** How the TLS handshake of a connection ended: established (version, cipher) or the alert and error. */
export interface TlsOutcome {
  /** e.g. `TLSv1.3`; absent when the handshake failed. */
  version?: string;
  /** OpenSSL/IANA cipher name chosen. */
  cipher?: string;
  /** The client certificate verified against the rig's CA(s). */
  authorized: boolean;
  /** Node's `authorizationError` code, e.g. `CERT_HAS_EXPIRED`. */
  authorizationError?: string;
  alpn?: string;
  sni?: string;
  peerCert?: PeerCertInfo;
  /** When the handshake failed: Node's error code and message (e.g. `ERR_SSL_NO_SHARED_CIPHER`). */
  error?: { code: string; message: string };
  /** A TLS alert involved in the failure, by name, and who sent it. */
  alert?: { name: string; from: 'client' | 'server' };
}

/** MQTT CONNECT fields as recorded. The password value is never kept: only whether it was there. */
export interface ConnectInfo {
  clientId: string;
  protocolVersion: number;
  keepalive: number;
  /** Keep-alive the broker applied after profile rules (aws-iot clamps it, M6). */
  keepaliveApplied?: number;
  clean: boolean;
  username?: string;
  password: 'present' | 'absent';
  will?: { topic: string; qos: number; retain: boolean };
}

/** One MQTT packet of a connection, in or out, with its time and a one-line summary. */
export interface PacketInfo {
  t: number;
  dir: 'in' | 'out';
  cmd: string;
  /** A short line such as `PUBLISH qos=1 topic=a/b 12 B`. */
  summary: string;
  returnCode?: number;
  /** Set when the rig dropped the packet (fault injection or a profile rule). */
  withheld?: boolean;
}

/** Which side ended a connection: the module (`client`), the broker (`server`), or the rig itself. */
export type EndedBy = 'client' | 'server' | 'rig';

/** Everything the rig saw of one connection: first bytes, ClientHello, TLS outcome, the client certificate, MQTT packets, how it ended. */
export interface ConnectionRecord {
  /** `conn-1`, `conn-2`, ... in accept order. */
  id: string;
  /** `address:port` of the peer. */
  remote: string;
  /** Every event of this connection in order (also published on the bus). */
  events: EvidenceEvent[];
  /** Which listener took it: the main one, or the aws-iot ALPN one. */
  listener: 'main' | 'alpn';
  firstBytes?: FirstBytesKind;
  clientHello?: ClientHello;
  tls?: TlsOutcome;
  mqtt: { connect?: ConnectInfo; connack?: { returnCode: number; sessionPresent: boolean }; packets: PacketInfo[] };
  /** A rule of the profile that refused or closed the connection, with its source tag. */
  refusal?: { rule: string; source: string; reason: string; at: 'front-door' | 'handshake' | 'connect' | 'session' };
  /** A fault the rig injected on this connection (e.g. `withhold CONNACK`). */
  faults: string[];
  end?: { reason: string; by: EndedBy; t: number };
}
