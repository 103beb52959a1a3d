/**
 * The broker rig's public shapes: what one connection attempt left behind (`ConnectionRecord`),
 * what the rig concluded from it (`Verdict`), and the rig interface shared by the aedes rig,
 * the Mosquitto process and the container adapter.
 */
import type { EvidenceBus } from '../evidence.ts';
import type { Issued } from '../pki/index.ts';
import type { ConnectionRecord, Verdict } from '../diagnose/index.ts';

// The record and verdict shapes belong to the judgement (harness/diagnose); the rig's API hands them out.
export type {
  ClientHello,
  ConnectInfo,
  ConnectionRecord,
  EndedBy,
  FirstBytesKind,
  PacketInfo,
  PeerCertInfo,
  TlsOutcome,
  Verdict,
  VerdictCode,
} from '../diagnose/index.ts';

/** Fault injection. Every field is optional; `setFaults` merges. */
export interface BrokerFaults {
  /** Drop outgoing packets of these types (e.g. `['connack']`). Default none. */
  withhold?: Array<'connack' | 'puback' | 'suback' | 'pingresp' | 'unsuback'>;
  /** Close a connection after this many MQTT packets in either direction. Default off. */
  closeAfterPackets?: number;
  /** Close each connection right after a successful TLS handshake (before any MQTT). Default false. */
  closeAfterHandshake?: boolean;
  /** Close a connection this many ms after accept. Default off. */
  closeAfterMs?: number;
  /** Hold the raw socket this many ms before the TLS handshake starts (Infinity = never). Default 0. */
  stallHandshakeMs?: number;
  /** Answer plain bytes on the TLS port instead of TLS (then close). Default off. */
  plainAnswer?: string;
  /** Present this server certificate chain and key instead of the PKI's. */
  serverCert?: { chainPem: string; keyPem: string };
}

/** How a rig behaves: `strict` (mutual TLS), `mosquitto-like`, `aws-iot` (SNI, ALPN, registry), `tls-server-only` (no client certificate), `plain` (no TLS). */
export type ProfileName = 'strict' | 'mosquitto-like' | 'aws-iot' | 'tls-server-only' | 'plain';

/** The state of a device certificate in the `aws-iot` profile's registry (only `ACTIVE` may connect). */
export type CertStatus = 'ACTIVE' | 'INACTIVE' | 'REVOKED' | 'PENDING_ACTIVATION';

/** A device certificate the `aws-iot` profile knows: its status, SNI mode and the client ids its policy allows. */
export interface AwsRegistryEntry {
  status: CertStatus;
  /** `DEFAULT` or `SNI_ONLY` (T6/T8). Default `DEFAULT`. */
  mode?: 'DEFAULT' | 'SNI_ONLY';
  /** Client ids the attached policy allows (`iot:Connect`, M15). Default: any. */
  clientIds?: string[];
}

/** aws-iot profile settings. Every rule is named in docs/broker.md with its source tag. */
export interface AwsIotOptions {
  /** The endpoint host name the device must send as SNI (T6). Default `localhost`. */
  endpoint?: string;
  /**
   * SNI rule: `optional` (current docs, T6), `required` (2022 docs: refuse a ClientHello without
   * SNI, T7), `match` (SNI must equal `endpoint`, T6 "incorrect host_name ... will fail").
   * Default `optional`.
   */
  sniMode?: 'optional' | 'required' | 'match';
  /** Security policy (T4/T5). Default `IoTSecurityPolicy_TLS13_1_2_2022_10`. */
  securityPolicy?: AwsSecurityPolicy;
  /**
   * Registry of client certificates by SHA-256 fingerprint (`AA:BB:..` as Node prints it, T13).
   * When set, an unknown or not ACTIVE certificate is refused per `unknownCertMode`.
   * Default: no registry (every CA-valid certificate is accepted).
   */
  registry?: Record<string, AwsRegistryEntry>;
  /** How a not-ACTIVE/unregistered certificate is refused (T18): default `close-after-connect`. */
  unknownCertMode?: 'handshake' | 'close-after-connect';
  /** Open a second TLS listener that requires ALPN `x-amzn-mqtt-ca` (the 443-style port, T1/T2). Default false. */
  alpnListener?: boolean;
}

/** The name of an AWS IoT TLS security policy (`AWS_POLICIES` lists what each allows). */
export type AwsSecurityPolicy =
  | 'IoTSecurityPolicy_TLS13_1_3_2022_10'
  | 'IoTSecurityPolicy_TLS13_1_2_2022_10'
  | 'IoTSecurityPolicy_TLS12_1_2_2022_10'
  | 'IoTSecurityPolicy_TLS12_1_0_2016_01';

/** Options of `startBrokerRig`: where it listens, its profile, the certificates it presents and trusts, TLS limits, faults, the evidence bus. */
export interface BrokerRigOptions {
  /** Address to bind. Default `127.0.0.1`. */
  host?: string;
  /** Port; 0 picks a free one (read back from `rig.port`). Default 0. */
  port?: number;
  /** Default `strict`. */
  profile?: ProfileName;
  /** Certificates; default `createBasicPki()`. `extraCa` are also trusted for client certificates. */
  pki?: { ca: Issued; server: Issued; client?: Issued; extraCa?: Issued[] };
  /** Present this server chain (PEM, leaf first) instead of `pki.server` (a scenario's server cert). */
  serverCertChainPem?: string;
  /** Key for `serverCertChainPem`. Secret: never logged. */
  serverKeyPem?: string;
  /** Trust these CA certificates (PEM, concatenated) for client certificates instead of `pki.ca` + `extraCa`. */
  clientCaPem?: string;
  /** A CRL (PEM) checked against client certificates (a scenario's `clientCrl`). Default none. */
  crlPem?: string;
  tls?: {
    /** Default per profile (TLSv1.2 for strict and aws-iot). */
    minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
    maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
    /** OpenSSL cipher string for TLS <= 1.2 (plus TLS 1.3 suite names, as Node accepts). */
    ciphers?: string;
    /** Ask for a client certificate. Default true except `tls-server-only` and `plain`. */
    requestCert?: boolean;
  };
  aws?: AwsIotOptions;
  /**
   * Client ids allowed to connect (mosquitto-like and strict answer CONNACK 5 to others;
   * aws-iot closes without CONNACK, M15). Default: any.
   */
  allowedClientIds?: string[];
  faults?: BrokerFaults;
  /** Evidence bus; default a private one. */
  bus?: EvidenceBus;
  /** Write the TLS key log (NSS format) here. Default: not written. Secret material. */
  keylogPath?: string;
  /** A connection that sends nothing (or no CONNECT after TLS) for this long is judged. Default 10000 (10 s). */
  connectTimeoutMs?: number;
  /** Bound on buffering a ClientHello before handing the socket to TLS anyway. Default 5000 (5 s). */
  clientHelloTimeoutMs?: number;
  /**
   * Budget (JSON bytes) of the ended connections the aedes rig keeps in `records`/`verdicts`; past
   * it the oldest go, with a `records-dropped` evidence event. Default 8 MiB (the last few thousand
   * attempts), at least 16 KiB.
   */
  retainBytes?: number;
}

/** A running broker rig: where it listens, the connections it recorded with a verdict each, in-process publish and subscribe, faults, `close()`. */
export interface BrokerRig {
  readonly kind: 'aedes' | 'mosquitto' | 'container';
  readonly host: string;
  readonly port: number;
  /** Second port (aws-iot ALPN listener), when opened. */
  readonly alpnPort?: number;
  /** `mqtts://host:port` (or `mqtt://` for `plain`). */
  readonly url: string;
  readonly profile: ProfileName;
  readonly pki: { ca: Issued; server: Issued; client?: Issued; extraCa?: Issued[] };
  readonly bus: EvidenceBus;
  readonly records: ConnectionRecord[];
  readonly verdicts: Verdict[];
  /** Where the TLS key log is appended (the `keylogPath` option); undefined when none is written. */
  readonly keylogPath?: string;
  /** Resolve with the first verdict (past or future) matching `filter`; default bound 10 s. */
  waitForVerdict(filter?: (v: Verdict) => boolean, timeoutMs?: number): Promise<Verdict>;
  onVerdict(cb: (v: Verdict) => void): () => void;
  /** Publish into the broker in-process. */
  publish(topic: string, payload: string | Buffer, options?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  /** Subscribe in-process; resolves with the unsubscribe function. */
  subscribe(topic: string, cb: (topic: string, payload: Buffer) => void): Promise<() => Promise<void>>;
  setFaults(partial: BrokerFaults): void;
  /** Stop and start again on the same port(s), keeping records. */
  restart(): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}
