/**
 * The aedes broker rig: a `net.Server` front door that reads the ClientHello before Node's TLS
 * stack takes the socket, a `tls.Server` used as the handshake engine (never listening itself),
 * an `MqttTap` shim that records every MQTT packet and applies profile rules and faults, and
 * aedes behind it (aedes owns no sockets, STYLE.md §12).
 *
 *   device --TCP--> front door (accept, first bytes, ClientHello, SNI/ALPN rules, stall fault)
 *          --TLS--> tls.Server 'connection' (handshake, client certificate check, keylog)
 *          --MQTT-> MqttTap (packets, gate, withheld packets) --> aedes
 *
 * TLS settings follow docs/reference/dependencies.md P7: `requestCert: true, rejectUnauthorized: false`, then
 * the rig reads `authorized` / `authorizationError` itself and refuses, so the reason is known.
 */
import { Aedes } from 'aedes';
import type { Client as AedesClient } from 'aedes';
import createDebug from 'debug';
import { createWriteStream, type WriteStream } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { constants as cryptoConstants } from 'node:crypto';
import type { Packet } from 'mqtt-packet';
import { ConfigError, closeAll } from '../errors.ts';
import { EvidenceBus, type EvidenceEvent, type EvidenceSource } from '../evidence.ts';
import { openAppendPrivate } from '../files.ts';
import { createBasicPki } from '../pki/factory.ts';
import { classifyFirstBytes, clientHelloBytesNeeded, parseClientHello } from './client-hello.ts';
import { BrokerStartError } from './errors.ts';
import { RETAIN_BYTES_DEFAULT, RollingWindow, VerdictLog } from './verdict-log.ts';
import { MqttTap } from './mqtt-tap.ts';
import { gatePacket, profileTls, type GateContext, type ProfileTls } from './profiles.ts';
import type {
  AwsIotOptions,
  BrokerFaults,
  BrokerRig,
  BrokerRigOptions,
  ConnectionRecord,
  EndedBy,
  PacketInfo,
  ProfileName,
  Verdict,
} from './types.ts';
import { alertFromError, judgeRecord } from './verdict.ts';

const debug = createDebug('bx-hil:broker');

const PROFILES: readonly ProfileName[] = ['strict', 'mosquitto-like', 'aws-iot', 'tls-server-only', 'plain'];
const TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
/** ALPN of AWS IoT's MQTT-over-mTLS on port 443 (T1 [DOC-OLD]/[DOC]). */
export const AWS_MQTT_ALPN = 'x-amzn-mqtt-ca';
/** A ClientHello larger than this is not waited for (a real one is < 2 KB; 16 KB record max). */
const HELLO_MAX_BYTES = 20_000;
/** Per connection, packets beyond this many are counted but not kept as events (bench runs). */
const PACKET_EVENTS_PER_CONNECTION = 500;
/** Packets that decide verdicts: always parsed and recorded. */
const ALWAYS_PARSE = new Set(['connect', 'connack', 'disconnect']);

export interface ParsedRigOptions {
  host: string;
  port: number;
  profile: ProfileName;
  tls: ProfileTls;
  aws: GateContext['aws'];
  allowedClientIds?: string[];
  faults: BrokerFaults;
  keylogPath?: string;
  clientCaPem?: string;
  crlPem?: string;
  connectTimeoutMs: number;
  clientHelloTimeoutMs: number;
  retainBytes: number;
}

/** At least one ended connection of any size fits; below this a budget is a typo. */
const RETAIN_BYTES_MIN = 16 * 1024; // 16 KiB

function retainBytes(value: number | undefined): number {
  const v = value ?? RETAIN_BYTES_DEFAULT;
  if (!(Number.isSafeInteger(v) && v >= RETAIN_BYTES_MIN))
    throw new ConfigError(
      'retainBytes',
      value,
      `retainBytes must be a whole number of bytes, at least ${RETAIN_BYTES_MIN} (default ${RETAIN_BYTES_DEFAULT})`,
    );
  return v;
}

/** Validate options once, at the edge (STYLE.md §6). Throws ConfigError naming the field. */
export function parseBrokerRigOptions(options: BrokerRigOptions): ParsedRigOptions {
  const profile = options.profile ?? 'strict';
  if (!PROFILES.includes(profile))
    throw new ConfigError(
      'profile',
      profile,
      `unknown broker profile "${String(profile)}": use one of ${PROFILES.join(', ')}`,
    );
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '')
    throw new ConfigError('host', host, 'host must be an address such as 127.0.0.1');
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError('port', port, `port must be an integer 0..65535 (0 = pick a free one), got ${String(port)}`);
  const ms = (field: string, value: number | undefined, dflt: number): number => {
    const v = value ?? dflt;
    if (!(typeof v === 'number' && v > 0))
      throw new ConfigError(field, value, `${field} must be a positive number of milliseconds`);
    return v;
  };
  const aws: AwsIotOptions = options.aws ?? {};
  if (aws.sniMode && !['optional', 'required', 'match'].includes(aws.sniMode)) {
    throw new ConfigError('aws.sniMode', aws.sniMode, 'aws.sniMode must be optional, required or match');
  }
  const t = profileTls(profile, aws);
  const tlsOpt = options.tls ?? {};
  for (const f of ['minVersion', 'maxVersion'] as const) {
    const v = tlsOpt[f];
    if (v !== undefined && !TLS_VERSIONS.includes(v))
      throw new ConfigError(`tls.${f}`, v, `tls.${f} must be one of ${TLS_VERSIONS.join(', ')}`);
  }
  const merged: ProfileTls = {
    ...t,
    minVersion: tlsOpt.minVersion ?? t.minVersion,
    maxVersion: tlsOpt.maxVersion ?? t.maxVersion,
    requestCert: tlsOpt.requestCert ?? t.requestCert,
  };
  if (tlsOpt.ciphers !== undefined) merged.ciphers = tlsOpt.ciphers;
  if (options.serverCertChainPem !== undefined && options.serverKeyPem === undefined) {
    throw new ConfigError(
      'serverKeyPem',
      '(absent)',
      'serverCertChainPem needs serverKeyPem (the key of its leaf certificate)',
    );
  }
  const parsed: ParsedRigOptions = {
    host,
    port,
    profile,
    tls: merged,
    aws: {
      ...aws,
      sniMode: aws.sniMode ?? 'optional',
      unknownCertMode: aws.unknownCertMode ?? 'close-after-connect',
      endpoint: aws.endpoint ?? 'localhost',
    },
    faults: { ...(options.faults ?? {}) },
    connectTimeoutMs: ms('connectTimeoutMs', options.connectTimeoutMs, 10_000), // 10 s
    clientHelloTimeoutMs: ms('clientHelloTimeoutMs', options.clientHelloTimeoutMs, 5_000), // 5 s
    retainBytes: retainBytes(options.retainBytes),
  };
  if (options.allowedClientIds) parsed.allowedClientIds = options.allowedClientIds;
  if (options.keylogPath) parsed.keylogPath = options.keylogPath;
  if (options.clientCaPem) parsed.clientCaPem = options.clientCaPem;
  if (options.crlPem) parsed.crlPem = options.crlPem;
  return parsed;
}

interface Live {
  rec: ConnectionRecord;
  raw: net.Socket;
  timers: NodeJS.Timeout[];
  pendingEnd?: { by: EndedBy; reason: string };
  connackSent: boolean;
  packetCount: number;
  tap?: MqttTap;
}

/** Start the aedes rig. Closes what it built if any step fails. */
export async function startBrokerRig(options: BrokerRigOptions = {}): Promise<BrokerRig> {
  const parsed = parseBrokerRigOptions(options);
  const pki = options.pki ?? (await createBasicPki());
  const rig = new AedesRig(parsed, pki, options);
  try {
    await rig.start();
  } catch (err) {
    await rig.close().catch(() => undefined);
    throw err;
  }
  return rig;
}

class AedesRig implements BrokerRig {
  readonly kind = 'aedes' as const;
  readonly host: string;
  readonly profile: ProfileName;
  readonly pki: BrokerRig['pki'];
  readonly bus: EvidenceBus;
  /** Live connections and the ended ones the retention window keeps, in accept order. */
  readonly records: ConnectionRecord[] = [];
  readonly #verdicts = new VerdictLog('aedes');
  /** Ended connections, oldest first, under `retainBytes` (a bench session runs for days). */
  readonly #retained: RollingWindow<ConnectionRecord>;
  #port = 0;
  #alpnPort: number | undefined;
  readonly #opts: ParsedRigOptions;
  readonly #serverChainPem: string;
  readonly #serverKeyPem: string;
  readonly #judged = new Map<string, Verdict>();
  readonly #live = new Map<net.Socket, Live>();
  readonly #byTap = new WeakMap<object, Live>();
  #aedes: Aedes | undefined;
  #servers: { main?: net.Server; alpn?: net.Server } = {};
  #tlsServers: { main?: tls.Server; alpn?: tls.Server } = {};
  #keylog: WriteStream | undefined;
  #seq = 0;
  #closed = false;

  constructor(opts: ParsedRigOptions, pki: BrokerRig['pki'], raw: BrokerRigOptions) {
    this.#opts = opts;
    this.#retained = new RollingWindow(opts.retainBytes);
    this.host = opts.host;
    this.profile = opts.profile;
    this.pki = pki;
    this.bus = raw.bus ?? new EvidenceBus();
    this.#serverChainPem = raw.serverCertChainPem ?? pki.server.certPem;
    this.#serverKeyPem = raw.serverKeyPem ?? pki.server.keyPem;
  }

  get port(): number {
    return this.#port;
  }
  get alpnPort(): number | undefined {
    return this.#alpnPort;
  }
  get url(): string {
    return `${this.#opts.tls.enabled ? 'mqtts' : 'mqtt'}://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.#port}`;
  }

  async start(): Promise<void> {
    this.#aedes = await Aedes.createBroker({
      // Our own never-spoke/silent bound fires first and records why (connectTimeoutMs).
      connectTimeout: this.#opts.connectTimeoutMs + 1_000,
    });
    this.#aedes.on('keepaliveTimeout', (client: AedesClient) =>
      this.#onAedesEnd(client, 'keep-alive timeout (1.5 x keepalive without a packet)'),
    );
    this.#aedes.on('clientError', (client: AedesClient, err: Error) => {
      const live = this.#liveOf(client);
      if (live) this.#ev(live.rec, 'broker', 'client-error', `aedes client error: ${err.message}`);
    });
    if (this.#opts.keylogPath) {
      // Opened now, so a bad path fails start (BXHIL_CONFIG): no symlink followed, created 0600,
      // an existing file others may read refused. A later write error is logged, not a crash.
      this.#keylog = createWriteStream('', { fd: openAppendPrivate(this.#opts.keylogPath, 'keylogPath') });
      this.#keylog.on('error', (err) => debug('TLS key log write failed: %O', err));
    }
    this.#buildTlsServers();
    await this.#listen(
      this.#opts.port,
      this.#opts.profile === 'aws-iot' && this.#opts.aws.alpnListener ? 0 : undefined,
    );
  }

  #liveOf(client: AedesClient): Live | undefined {
    const conn = (client as unknown as { conn?: object }).conn;
    return conn ? this.#byTap.get(conn) : undefined;
  }

  #onAedesEnd(client: AedesClient, reason: string): void {
    const live = this.#liveOf(client);
    if (live && !live.pendingEnd) live.pendingEnd = { by: 'server', reason };
  }

  #secureOptions(alpn: boolean): tls.TlsOptions {
    const t = this.#opts.tls;
    const chain = this.#opts.faults.serverCert?.chainPem ?? this.#serverChainPem;
    const key = this.#opts.faults.serverCert?.keyPem ?? this.#serverKeyPem;
    const ca = this.#opts.clientCaPem ?? [this.pki.ca.certPem, ...(this.pki.extraCa ?? []).map((c) => c.certPem)];
    const o: tls.TlsOptions = {
      cert: chain,
      key,
      ca,
      requestCert: t.requestCert,
      // P7: never let OpenSSL refuse silently; the rig reads authorizationError and refuses.
      rejectUnauthorized: false,
      minVersion: t.minVersion,
      maxVersion: t.maxVersion,
      // A stalled or silent handshake is judged by the rig's own bound.
      handshakeTimeout: this.#opts.connectTimeoutMs,
    };
    if (this.#opts.crlPem) o.crl = this.#opts.crlPem;
    if (t.ciphers) o.ciphers = t.ciphers + (t.ciphersuites ? `:${t.ciphersuites}` : '');
    // T9 [DOC]: AWS IoT does not support the SessionTicket extension.
    if (t.noTickets) o.secureOptions = cryptoConstants.SSL_OP_NO_TICKET;
    if (alpn) o.ALPNProtocols = [AWS_MQTT_ALPN];
    // TLS 1.0/1.1 need SECLEVEL 0 on OpenSSL 3 (docs/reference/dependencies.md); only when the range asks for them.
    if (t.minVersion === 'TLSv1' || t.minVersion === 'TLSv1.1') o.ciphers = `${o.ciphers ?? 'DEFAULT'}:@SECLEVEL=0`;
    return o;
  }

  #buildTlsServers(): void {
    if (!this.#opts.tls.enabled) return;
    for (const which of ['main', 'alpn'] as const) {
      if (which === 'alpn' && !(this.#opts.profile === 'aws-iot' && this.#opts.aws.alpnListener)) continue;
      const s = tls.createServer(this.#secureOptions(which === 'alpn'));
      s.on('secureConnection', (sock: tls.TLSSocket) => this.#onSecure(sock));
      s.on('tlsClientError', (err: Error & { code?: string }, sock: tls.TLSSocket) => this.#onTlsError(err, sock));
      if (this.#keylog) {
        s.on('keylog', (lineBuf: Buffer) => {
          // NSS key log format, exactly as Node/OpenSSL give it; written only when asked for.
          this.#keylog?.write(lineBuf);
        });
      }
      this.#tlsServers[which] = s;
    }
  }

  async #listen(port: number, alpnPort: number | undefined): Promise<void> {
    const listenOne = (p: number, which: 'main' | 'alpn'): Promise<net.Server> =>
      new Promise((resolve, reject) => {
        const srv = net.createServer((sock) => this.#onConnection(sock, which));
        srv.once('error', (err) =>
          reject(
            new BrokerStartError(
              'aedes',
              `cannot listen on ${this.host}:${p}: ${err.message}; pick another --port or free it`,
              '',
              { cause: err },
            ),
          ),
        );
        srv.listen(p, this.host, () => resolve(srv));
      });
    this.#servers.main = await listenOne(port, 'main');
    this.#port = (this.#servers.main.address() as net.AddressInfo).port;
    if (alpnPort !== undefined) {
      this.#servers.alpn = await listenOne(alpnPort, 'alpn');
      this.#alpnPort = (this.#servers.alpn.address() as net.AddressInfo).port;
    }
    debug('listening on %s:%d (alpn %s)', this.host, this.#port, this.#alpnPort);
  }

  // ---- evidence ----

  #ev(
    rec: ConnectionRecord,
    source: EvidenceSource,
    kind: string,
    summary: string,
    data?: Record<string, unknown>,
  ): EvidenceEvent {
    const e = this.bus.emit(
      data ? { source, kind, scope: rec.id, summary, data } : { source, kind, scope: rec.id, summary },
    );
    rec.events.push(e);
    return e;
  }

  #judge(rec: ConnectionRecord, final = false): void {
    const prev = this.#judged.get(rec.id);
    if (prev) {
      // After OK, a later rule-based close is a second, separate verdict (POLICY_DISCONNECT).
      if (prev.code === 'OK' && rec.refusal && rec.refusal.at === 'session' && !this.#judged.has(`${rec.id}#2`)) {
        const v = judgeRecord({ ...rec, mqtt: { ...rec.mqtt, connack: undefined } } as ConnectionRecord, {
          final: true,
          tlsExpected: this.#opts.tls.enabled,
        });
        if (v) {
          this.#judged.set(`${rec.id}#2`, v);
          this.#emitVerdict(rec, v);
        }
      }
      return;
    }
    const v = judgeRecord(rec, { final, tlsExpected: this.#opts.tls.enabled });
    if (!v) return;
    this.#judged.set(rec.id, v);
    this.#emitVerdict(rec, v);
  }

  #emitVerdict(rec: ConnectionRecord, v: Verdict): void {
    this.#ev(rec, 'diagnose', 'verdict', `${v.code}: ${v.summary}`, { verdict: v });
    this.#verdicts.add(v);
  }

  // ---- front door ----

  #onConnection(raw: net.Socket, listener: 'main' | 'alpn'): void {
    const rec: ConnectionRecord = {
      id: `conn-${++this.#seq}`,
      remote: `${raw.remoteAddress ?? '?'}:${raw.remotePort ?? '?'}`,
      events: [],
      listener,
      mqtt: { packets: [] },
      faults: [],
    };
    this.records.push(rec);
    const live: Live = { rec, raw, timers: [], connackSent: false, packetCount: 0 };
    this.#live.set(raw, live);
    this.#ev(
      rec,
      'broker',
      'accept',
      `TCP accept from ${rec.remote} on ${listener === 'alpn' ? 'the ALPN port' : 'port'} ${listener === 'alpn' ? this.#alpnPort : this.#port}`,
    );
    raw.setNoDelay(true);
    raw.on('error', (err) => this.#ev(rec, 'broker', 'socket-error', `socket error: ${err.message}`));
    raw.on('close', (hadError) => this.#onClose(live, hadError));

    const f = this.#opts.faults;
    const silentTimer = setTimeout(() => {
      if (rec.mqtt.connect) return;
      const what =
        rec.firstBytes === undefined
          ? 'no bytes'
          : rec.tls?.version
            ? 'no MQTT CONNECT after the handshake'
            : 'no completed handshake';
      this.#endByRig(live, `${what} within ${this.#opts.connectTimeoutMs} ms`);
    }, this.#opts.connectTimeoutMs);
    live.timers.push(silentTimer);
    if (f.closeAfterMs !== undefined) {
      rec.faults.push(`close after ${f.closeAfterMs} ms`);
      live.timers.push(
        setTimeout(() => this.#endByRig(live, `fault: close after ${f.closeAfterMs} ms`), f.closeAfterMs),
      );
    }
    if (f.plainAnswer !== undefined) {
      rec.faults.push('plain answer on the TLS port');
      this.#ev(
        rec,
        'broker',
        'fault',
        `fault: answering ${Buffer.byteLength(f.plainAnswer)} plain bytes instead of TLS`,
      );
      live.pendingEnd = { by: 'rig', reason: 'fault: plain answer then close' };
      raw.end(f.plainAnswer);
      return;
    }
    if (!this.#opts.tls.enabled) {
      this.#startMqtt(live, raw);
      return;
    }
    let buf = Buffer.alloc(0);
    let done = false;
    const proceed = (): void => {
      if (done) return;
      done = true;
      clearTimeout(helloTimer);
      raw.removeListener('data', onData);
      raw.pause();
      this.#afterHello(live, buf);
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      if (rec.firstBytes === undefined) {
        rec.firstBytes = classifyFirstBytes(buf);
        this.#ev(rec, 'tls', 'first-bytes', `first bytes: ${rec.firstBytes} (${buf.subarray(0, 5).toString('hex')})`);
        if (rec.firstBytes !== 'tls') {
          done = true;
          clearTimeout(helloTimer);
          raw.removeListener('data', onData);
          this.#judge(rec);
          this.#endByRig(live, `not TLS: ${rec.firstBytes} bytes on the TLS port`);
          return;
        }
      }
      const need = clientHelloBytesNeeded(buf);
      if (need !== 0 || buf.length > HELLO_MAX_BYTES) proceed();
    };
    const helloTimer = setTimeout(proceed, this.#opts.clientHelloTimeoutMs);
    live.timers.push(helloTimer);
    raw.on('data', onData);
  }

  #afterHello(live: Live, buf: Buffer): void {
    const { rec, raw } = live;
    const hello = parseClientHello(buf);
    if (hello) {
      rec.clientHello = hello;
      this.#ev(
        rec,
        'tls',
        'client-hello',
        `ClientHello: ${hello.supportedVersions.join('/')}, SNI ${hello.sni ?? '(none)'}, ALPN ${hello.alpn?.join(',') ?? '(none)'}, ${hello.cipherSuites.length} suites` +
          (hello.maxFragmentLength ? `, max_fragment_length ${hello.maxFragmentLength}` : ''),
        { clientHello: hello },
      );
    } else {
      this.#ev(rec, 'tls', 'client-hello', `no complete ClientHello in the first ${buf.length} bytes`);
    }
    // SNI rules apply to any profile that sets aws.sniMode (a scenario's `require-sni`); ALPN only to aws-iot.
    {
      const aws = this.#opts.aws;
      const sni = hello?.sni;
      let refusal: ConnectionRecord['refusal'];
      if (rec.listener === 'alpn' && !hello?.alpn?.includes(AWS_MQTT_ALPN)) {
        // T1/T2 [DOC]: on 443, X.509 MQTT needs ALPN x-amzn-mqtt-ca; without it the connection fails.
        refusal = {
          rule: 'alpn',
          source: '[DOC] T1/T2',
          reason: `ALPN ${hello?.alpn?.join(',') ?? '(none)'} instead of ${AWS_MQTT_ALPN}`,
          at: 'front-door',
        };
      } else if (aws.sniMode === 'required' && !sni) {
        // T7 [DOC-OLD]: "Connection attempts that don't include the SNI are refused".
        refusal = {
          rule: 'sni-required',
          source: '[DOC-OLD] T7',
          reason: 'the ClientHello carries no SNI',
          at: 'front-door',
        };
      } else if (aws.sniMode === 'match' && sni !== aws.endpoint) {
        // T6 [DOC]: "incorrect or invalid host_name value will fail".
        refusal = sni
          ? {
              rule: 'sni-match',
              source: '[DOC] T6',
              reason: `SNI "${sni}" is not the endpoint "${aws.endpoint}"`,
              at: 'front-door',
            }
          : {
              rule: 'sni-required',
              source: '[DOC] T6',
              reason: `no SNI; the endpoint "${aws.endpoint}" requires it`,
              at: 'front-door',
            };
      }
      if (refusal) {
        rec.refusal = refusal;
        this.#judge(rec);
        this.#endByRig(live, `refused: ${refusal.reason}`);
        return;
      }
    }
    const stall = this.#opts.faults.stallHandshakeMs ?? 0;
    const handover = (): void => {
      if (raw.destroyed) return;
      raw.unshift(buf);
      const server = this.#tlsServers[rec.listener];
      if (!server) return;
      server.emit('connection', raw);
    };
    if (stall > 0) {
      rec.faults.push(`stall handshake ${stall === Infinity ? 'forever' : `${stall} ms`}`);
      this.#ev(
        rec,
        'broker',
        'fault',
        `fault: holding the handshake ${stall === Infinity ? 'forever' : `${stall} ms`}`,
      );
      if (stall !== Infinity) live.timers.push(setTimeout(handover, stall));
      return;
    }
    handover();
  }

  #liveOfTls(sock: tls.TLSSocket): Live | undefined {
    // Node keeps the wrapped net.Socket as `_parent` (stable since Node 0.x); fall back to the peer port.
    const parent = (sock as unknown as { _parent?: net.Socket })._parent;
    const byParent = parent ? this.#live.get(parent) : undefined;
    if (byParent) return byParent;
    for (const live of this.#live.values()) {
      if (live.raw.remotePort === sock.remotePort && live.raw.remoteAddress === sock.remoteAddress) return live;
    }
    return undefined;
  }

  #onSecure(sock: tls.TLSSocket): void {
    const live = this.#liveOfTls(sock);
    if (!live) {
      sock.destroy();
      return;
    }
    const { rec } = live;
    const cipher = sock.getCipher();
    const peer = sock.getPeerX509Certificate();
    const outcome: NonNullable<ConnectionRecord['tls']> = {
      version: sock.getProtocol() ?? undefined,
      cipher: cipher.standardName ?? cipher.name,
      authorized: sock.authorized,
    };
    if (sock.authorizationError) outcome.authorizationError = String(sock.authorizationError);
    if (sock.alpnProtocol) outcome.alpn = sock.alpnProtocol;
    const servername = (sock as unknown as { servername?: string | false }).servername;
    if (servername) outcome.sni = servername;
    if (peer) {
      outcome.peerCert = {
        subject: peer.subject.replace(/\n/g, ', '),
        issuer: peer.issuer.replace(/\n/g, ', '),
        fingerprint256: peer.fingerprint256,
        validFrom: peer.validFrom,
        validTo: peer.validTo,
      };
    }
    rec.tls = outcome;
    this.#ev(
      rec,
      'tls',
      'tls-outcome',
      `handshake done: ${outcome.version} ${outcome.cipher}` +
        (this.#opts.tls.requestCert
          ? `, client certificate ${peer ? `"${outcome.peerCert?.subject}"` : 'none'}: ${outcome.authorized ? 'trusted' : (outcome.authorizationError ?? 'not trusted')}`
          : ''),
      { tls: outcome },
    );
    if (peer)
      this.#ev(
        rec,
        'tls',
        'peer-cert',
        `peer certificate ${outcome.peerCert?.subject}, issuer ${outcome.peerCert?.issuer}, valid ${peer.validFrom} .. ${peer.validTo}, sha256 ${peer.fingerprint256}`,
      );
    if (this.#opts.tls.requestCert && !sock.authorized) {
      this.#judge(rec);
      this.#endByRig(live, `client certificate refused: ${outcome.authorizationError ?? 'none sent'}`, sock);
      return;
    }
    const aws = this.#opts.aws;
    if (this.#opts.profile === 'aws-iot' && aws.registry && aws.unknownCertMode === 'handshake') {
      const entry = peer ? aws.registry[peer.fingerprint256] : undefined;
      if (!entry || entry.status !== 'ACTIVE') {
        // T18 (a) [OBS]: refused in the handshake (AWS sends alert 46; Node cannot choose the
        // alert after the fact, so the rig closes right after the handshake).
        rec.refusal = {
          rule: 'registry-status',
          source: '[OBS] T18',
          reason: entry ? `certificate status is ${entry.status}` : 'certificate is not registered',
          at: 'handshake',
        };
        this.#judge(rec);
        this.#endByRig(live, `registry: ${rec.refusal.reason}`, sock);
        return;
      }
    }
    if (this.#opts.faults.closeAfterHandshake) {
      rec.faults.push('close after handshake');
      this.#ev(rec, 'broker', 'fault', 'fault: closing right after the TLS handshake');
      this.#endByRig(live, 'fault: close after handshake', sock);
      return;
    }
    this.#startMqtt(live, sock);
  }

  #onTlsError(err: Error & { code?: string }, sock: tls.TLSSocket): void {
    const live = this.#liveOfTls(sock);
    if (!live) return;
    const { rec } = live;
    const code = err.code ?? 'UNKNOWN';
    const outcome: NonNullable<ConnectionRecord['tls']> = { authorized: false, error: { code, message: err.message } };
    const alert = alertFromError(code, err.message);
    if (alert) outcome.alert = { name: alert, from: 'client' };
    else if (/no.shared.cipher/i.test(err.message)) outcome.alert = { name: 'handshake_failure', from: 'server' };
    else if (/unsupported.protocol|version too low/i.test(err.message))
      outcome.alert = { name: 'protocol_version', from: 'server' };
    rec.tls = outcome;
    this.#ev(
      rec,
      'tls',
      'tls-error',
      `handshake failed: ${code}: ${err.message}${outcome.alert ? ` (alert ${outcome.alert.name} from the ${outcome.alert.from === 'client' ? 'device' : 'rig'})` : ''}`,
      { error: outcome.error },
    );
    if (outcome.alert)
      this.#ev(
        rec,
        'tls',
        'alert',
        `alert ${outcome.alert.name} from the ${outcome.alert.from === 'client' ? 'device' : 'rig'}`,
      );
    if (!live.pendingEnd)
      live.pendingEnd = { by: outcome.alert?.from === 'server' ? 'server' : 'client', reason: `TLS: ${err.message}` };
    this.#judge(rec);
  }

  // ---- MQTT ----

  #startMqtt(live: Live, sock: net.Socket | tls.TLSSocket): void {
    const { rec } = live;
    const aws = this.#opts.aws;
    const fp = rec.tls?.peerCert?.fingerprint256;
    const ctx: GateContext = {
      profile: this.#opts.profile,
      aws,
      registryInUse:
        this.#opts.profile === 'aws-iot' && aws.registry !== undefined && aws.unknownCertMode === 'close-after-connect',
      connackSent: () => live.connackSent,
      subscriptionCount: 0,
      refuse: (rule, source, reason, at) => {
        rec.refusal = { rule, source, reason, at };
        live.pendingEnd = { by: 'server', reason: `rule ${rule}: ${reason}` };
        this.#ev(rec, 'broker', 'refusal', `rule ${rule} ${source}: ${reason}`);
      },
    };
    if (this.#opts.allowedClientIds) ctx.allowedClientIds = this.#opts.allowedClientIds;
    if (rec.tls?.sni) ctx.sni = rec.tls.sni;
    else if (rec.clientHello?.sni) ctx.sni = rec.clientHello.sni;
    if (aws.registry && fp) {
      const entry = aws.registry[fp];
      if (entry) ctx.registryEntry = entry;
    }
    const tap = new MqttTap(sock, {
      gate: (p) => gatePacket(p, ctx),
      // Parse what the evidence or a rule needs; past the per-connection cap, bulk traffic is only counted.
      wantsPacket: (dir, cmd) =>
        live.packetCount < PACKET_EVENTS_PER_CONNECTION ||
        ALWAYS_PARSE.has(cmd) ||
        (dir === 'in' && this.#opts.profile === 'aws-iot') ||
        this.#opts.faults.closeAfterPackets !== undefined,
      onLightPacket: (_dir, cmd, withheld) => {
        live.packetCount++;
        if (withheld && !rec.faults.includes(`withhold ${cmd}`)) rec.faults.push(`withhold ${cmd}`);
      },
      onPacket: (dir, p, withheld, original) => this.#onPacket(live, dir, p, withheld, original),
      withhold: (cmd) => {
        const w = this.#opts.faults.withhold?.includes(cmd as never) ?? false;
        if (w && !rec.faults.includes(`withhold ${cmd}`)) rec.faults.push(`withhold ${cmd}`);
        return w;
      },
      onRefuse: () => this.#judge(rec),
      onMalformed: (dir, err) =>
        this.#ev(
          rec,
          'mqtt',
          'malformed',
          `malformed MQTT ${dir === 'in' ? 'from the device' : 'from aedes'}: ${err.message}`,
        ),
      onBrokerClose: (err) => {
        if (!live.pendingEnd)
          live.pendingEnd = {
            by: 'server',
            reason: err ? `broker closed: ${err.message}` : 'broker closed the connection',
          };
      },
    });
    live.tap = tap;
    this.#byTap.set(tap, live);
    tap.on('error', () => undefined);
    this.#aedes?.handle(tap);
  }

  #onPacket(live: Live, dir: 'in' | 'out', p: Packet, withheld: boolean, original?: Packet): void {
    const { rec } = live;
    live.packetCount++;
    const info: PacketInfo = { t: this.bus.clock.now(), dir, cmd: p.cmd, summary: '' };
    if (withheld) info.withheld = true;
    if (p.cmd === 'connack') info.returnCode = p.returnCode ?? p.reasonCode ?? 0;
    if (live.packetCount <= PACKET_EVENTS_PER_CONNECTION || ALWAYS_PARSE.has(p.cmd)) {
      info.summary = packetSummary(p);
      rec.mqtt.packets.push(info);
      this.#ev(
        rec,
        'mqtt',
        'packet',
        `${dir === 'in' ? 'device ->' : '-> device'} ${info.summary}${withheld ? ' (withheld)' : ''}`,
      );
    }
    if (dir === 'in' && p.cmd === 'connect') {
      rec.mqtt.connect = {
        clientId: p.clientId,
        protocolVersion: p.protocolVersion ?? 4,
        keepalive: (original?.cmd === 'connect' ? original.keepalive : p.keepalive) ?? 0,
        clean: p.clean ?? true,
        password: p.password === undefined ? 'absent' : 'present',
      };
      if (p.username !== undefined) rec.mqtt.connect.username = p.username;
      if (p.will) rec.mqtt.connect.will = { topic: p.will.topic, qos: p.will.qos ?? 0, retain: p.will.retain ?? false };
      if (!withheld) rec.mqtt.connect.keepaliveApplied = p.keepalive ?? 0;
      if (original && original.cmd === 'connect' && original.keepalive !== p.keepalive) {
        this.#ev(
          rec,
          'broker',
          'rule',
          `keep-alive ${original.keepalive ?? 0} s applied as ${p.keepalive ?? 0} s [DOC-OLD] M6`,
        );
      }
    }
    if (dir === 'in' && p.cmd === 'disconnect' && !live.pendingEnd)
      live.pendingEnd = { by: 'client', reason: 'client sent DISCONNECT' };
    if (dir === 'out' && p.cmd === 'connack' && !withheld) {
      live.connackSent = true;
      rec.mqtt.connack = { returnCode: info.returnCode ?? 0, sessionPresent: p.sessionPresent };
      if (info.returnCode === 0) this.#markTakeOver(rec);
    }
    if (dir === 'out' && p.cmd === 'connack' && withheld && rec.mqtt.connect) {
      // Keep the record open; the device decides what to do without CONNACK.
    }
    const limit = this.#opts.faults.closeAfterPackets;
    if (limit !== undefined && live.packetCount >= limit) {
      if (!rec.faults.includes(`close after ${limit} packets`)) rec.faults.push(`close after ${limit} packets`);
      setImmediate(() => this.#endByRig(live, `fault: close after ${limit} packets`));
    }
    // An inbound packet the gate refused is judged once the tap has sent any reply (onRefuse).
    if (!(dir === 'in' && withheld)) this.#judge(rec);
  }

  /** M7: the new connection with a client id takes over; mark the old one's end reason. */
  #markTakeOver(rec: ConnectionRecord): void {
    const id = rec.mqtt.connect?.clientId;
    if (!id) return;
    for (const other of this.#live.values()) {
      if (other.rec !== rec && other.rec.mqtt.connect?.clientId === id && !other.rec.end) {
        other.pendingEnd = { by: 'server', reason: `session taken over by ${rec.id} (same client id "${id}")` };
      }
    }
  }

  #endByRig(live: Live, reason: string, sock?: net.Socket): void {
    if (!live.pendingEnd) live.pendingEnd = { by: 'rig', reason };
    (sock ?? live.raw).destroy();
    if (sock) live.raw.destroy();
  }

  #onClose(live: Live, hadError: boolean): void {
    const { rec } = live;
    for (const t of live.timers) clearTimeout(t);
    this.#live.delete(live.raw);
    const end = live.pendingEnd ?? {
      by: 'client' as const,
      reason: hadError ? 'connection reset by the device' : 'closed by the device',
    };
    rec.end = { ...end, t: this.bus.clock.now() };
    this.#ev(rec, 'broker', 'end', `connection ended by ${end.by}: ${end.reason}`);
    this.#judge(rec, true);
    this.#retain(rec);
  }

  /**
   * An ended record joins the retention window; past `retainBytes` the oldest ended records
   * leave `records` (with their verdicts), and one `records-dropped` event says so. Each was
   * judged and published on the bus when it happened; only the in-memory copy goes.
   */
  #retain(rec: ConnectionRecord): void {
    let bytes: number;
    try {
      bytes = Buffer.byteLength(JSON.stringify(rec));
    } catch {
      bytes = 4_096; // not JSON-able (never seen): count it as a large attempt
    }
    const dropped = this.#retained.add(rec, bytes);
    if (dropped.length === 0) return;
    const gone = new Set(dropped.map((r) => r.id));
    let kept = 0;
    for (const r of this.records) if (!gone.has(r.id)) this.records[kept++] = r;
    this.records.length = kept;
    for (const id of gone) {
      this.#judged.delete(id);
      this.#judged.delete(`${id}#2`);
    }
    this.#verdicts.forget((v) => v.connectionId !== undefined && gone.has(v.connectionId));
    const w = this.#retained;
    this.bus.emit({
      source: 'broker',
      kind: 'records-dropped',
      summary:
        `dropped the ${dropped.length} oldest ended connections (${dropped[0]?.id} .. ${dropped.at(-1)?.id}) ` +
        `from memory to stay under ${w.capBytes} bytes; ${w.droppedCount} dropped so far, the last ${this.records.length} kept`,
      data: {
        dropped: dropped.length,
        first: dropped[0]?.id,
        last: dropped.at(-1)?.id,
        droppedTotal: w.droppedCount,
        droppedBytesTotal: w.droppedBytes,
        keptBytes: w.bytes,
        capBytes: w.capBytes,
      },
    });
  }

  // ---- public API ----

  get verdicts(): Verdict[] {
    return this.#verdicts.verdicts;
  }

  waitForVerdict(filter?: (v: Verdict) => boolean, timeoutMs?: number): Promise<Verdict> {
    return this.#verdicts.waitForVerdict(filter, timeoutMs);
  }

  onVerdict(cb: (v: Verdict) => void): () => void {
    return this.#verdicts.onVerdict(cb);
  }

  publish(topic: string, payload: string | Buffer, options: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
    const aedes = this.#aedes;
    if (!aedes) return Promise.reject(new BrokerStartError('aedes', 'publish() before the rig started'));
    return new Promise((resolve, reject) => {
      aedes.publish(
        {
          cmd: 'publish',
          topic,
          payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
          qos: options.qos ?? 0,
          retain: options.retain ?? false,
          dup: false,
        },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }

  subscribe(topic: string, cb: (topic: string, payload: Buffer) => void): Promise<() => Promise<void>> {
    const aedes = this.#aedes;
    if (!aedes) return Promise.reject(new BrokerStartError('aedes', 'subscribe() before the rig started'));
    const deliver = (packet: { topic: string; payload: Buffer | string }, done: () => void): void => {
      try {
        cb(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload));
      } finally {
        done();
      }
    };
    return new Promise((resolve) => {
      aedes.subscribe(topic, deliver, () =>
        resolve(() => new Promise<void>((res) => aedes.unsubscribe(topic, deliver, () => res()))),
      );
    });
  }

  setFaults(partial: BrokerFaults): void {
    const certChanged = 'serverCert' in partial;
    Object.assign(this.#opts.faults, partial);
    for (const [k, v] of Object.entries(partial))
      if (v === undefined) delete (this.#opts.faults as Record<string, unknown>)[k];
    if (certChanged) this.#buildTlsServers();
  }

  async #closeListeners(): Promise<void> {
    for (const live of [...this.#live.values()]) this.#endByRig(live, 'rig stopping');
    const servers = Object.values(this.#servers).filter((s): s is net.Server => s !== undefined);
    this.#servers = {};
    await Promise.all(servers.map((s) => new Promise<void>((res) => s.close(() => res()))));
  }

  async restart(): Promise<void> {
    await this.#closeListeners();
    this.#buildTlsServers();
    await this.#listen(this.#port, this.#alpnPort);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#verdicts.clearListeners();
    await closeAll(
      [
        () => new Promise<void>((res) => (this.#keylog ? this.#keylog.end(() => res()) : res())),
        () => new Promise<void>((res) => (this.#aedes ? this.#aedes.close(() => res()) : res())),
        () => this.#closeListeners(),
      ],
      'broker rig close',
    );
  }
}

/** One line per packet; never includes password bytes or payload contents. */
export function packetSummary(p: Packet): string {
  switch (p.cmd) {
    case 'connect':
      return `CONNECT v${p.protocolVersion ?? 4} id="${p.clientId}" keepalive=${p.keepalive ?? 0} clean=${p.clean ?? true} user=${p.username === undefined ? 'absent' : `"${p.username}"`} password=${p.password === undefined ? 'absent' : 'present'}${p.will ? ` will=${p.will.topic}@${p.will.qos ?? 0}` : ''}`;
    case 'connack':
      return `CONNACK rc=${p.returnCode ?? p.reasonCode ?? 0} sessionPresent=${p.sessionPresent}`;
    case 'publish': {
      const len = typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload.length;
      return `PUBLISH qos=${p.qos} topic=${p.topic}${p.retain ? ' retain' : ''}${p.messageId !== undefined ? ` id=${p.messageId}` : ''} ${len} B`;
    }
    case 'subscribe':
      return `SUBSCRIBE id=${p.messageId} ${p.subscriptions.map((s) => `${s.topic}@${s.qos}`).join(' ')}`;
    case 'suback':
      return `SUBACK id=${p.messageId} granted=${(p.granted as Array<number | { qos?: number }>).map((g) => (typeof g === 'number' ? g : g.qos)).join(',')}`;
    case 'unsubscribe':
      return `UNSUBSCRIBE id=${p.messageId} ${p.unsubscriptions.join(' ')}`;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
    case 'unsuback':
      return `${p.cmd.toUpperCase()} id=${p.messageId}`;
    default:
      return p.cmd.toUpperCase();
  }
}
