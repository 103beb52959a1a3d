/**
 * The aedes broker rig: a `net.Server` front door that reads the ClientHello before Node's TLS
 * stack takes the socket, a `tls.Server` used as the handshake engine (never listening itself),
 * an `MqttTap` shim that records every MQTT packet and applies profile rules and faults, and
 * aedes behind it (aedes owns no sockets, docs/STYLE.md §12).
 *
 *   device --TCP--> front door (accept, first bytes, ClientHello, SNI/ALPN rules, stall fault)
 *          --TLS--> tls.Server 'connection' (handshake, client certificate check, keylog)
 *          --MQTT-> MqttTap (packets, gate, withheld packets) --> aedes
 *
 * This file is the composition: listeners, evidence, verdicts, retention and the MQTT
 * bookkeeping. The front door is front-door.ts, the profiles' accept rules accept-rules.ts
 * (the MQTT gate profiles.ts), what a handshake left tls-outcome.ts, the options rig-options.ts.
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
import type { Packet } from 'mqtt-packet';
import { closeAll } from '../errors.ts';
import { EvidenceBus, type EvidenceEvent, type EvidenceSource } from '../evidence.ts';
import { openAppendPrivate } from '../files.ts';
import { createBasicPki } from '../pki/index.ts';
import { firstRefusal, handshakeRules, type Refusal } from './accept-rules.ts';
import { BrokerStartError } from './errors.ts';
import { admit, type FrontDoorHost, type LiveConnection } from './front-door.ts';
import { publishInProcess, subscribeInProcess } from './in-process.ts';
import { aedesClientStream, tlsParentSocket } from './internals.ts';
import { VerdictingRig } from './verdict-log.ts';
import { connectInfo, packetSummary } from './mqtt-record.ts';
import { MqttTap } from './mqtt-tap.ts';
import { gatePacket, type GateContext } from './profiles.ts';
import { RecordWindow } from './record-window.ts';
import { parseBrokerRigOptions, tlsServerOptions, type ParsedRigOptions } from './rig-options.ts';
import { failedOutcome, secureOutcome, type TlsEvidence } from './tls-outcome.ts';
import type {
  BrokerFaults,
  BrokerRig,
  BrokerRigOptions,
  ConnectionRecord,
  PacketInfo,
  ProfileName,
  Verdict,
} from './types.ts';
import { judgeRecord } from '../diagnose/index.ts';

export { AWS_MQTT_ALPN } from './accept-rules.ts';
export { packetSummary } from './mqtt-record.ts';
export { parseBrokerRigOptions, type ParsedRigOptions } from './rig-options.ts';

const debug = createDebug('bx-hil:broker');

/** Per connection, packets beyond this many are counted but not kept as events (bench runs). */
const PACKET_EVENTS_PER_CONNECTION = 500;
/** Packets that decide verdicts: always parsed and recorded. */
const ALWAYS_PARSE = new Set(['connect', 'connack', 'disconnect']);

/** Start the aedes rig. Closes what it built if any step fails. */
export async function startBrokerRig(options: BrokerRigOptions = {}): Promise<BrokerRig> {
  const parsed = parseBrokerRigOptions(options);
  const pki = options.pki ?? (await createBasicPki());
  return VerdictingRig.started(new AedesRig(parsed, pki, options));
}

class AedesRig extends VerdictingRig implements BrokerRig {
  readonly kind = 'aedes' as const;
  readonly host: string;
  readonly profile: ProfileName;
  readonly pki: BrokerRig['pki'];
  readonly bus: EvidenceBus;
  /** Live connections and the ended ones the retention window keeps, in accept order. */
  readonly records: ConnectionRecord[] = [];
  /** Ended connections, oldest first, under `retainBytes` (a bench session runs for days). */
  readonly #retained: RecordWindow;
  #port = 0;
  #alpnPort: number | undefined;
  readonly #opts: ParsedRigOptions;
  /** What the front door may use of the rig. */
  readonly #door: FrontDoorHost;
  readonly #serverChainPem: string;
  readonly #serverKeyPem: string;
  readonly #judged = new Map<string, Verdict>();
  readonly #live = new Map<net.Socket, LiveConnection>();
  readonly #byTap = new WeakMap<object, LiveConnection>();
  #aedes: Aedes | undefined;
  #servers: { main?: net.Server; alpn?: net.Server } = {};
  #tlsServers: { main?: tls.Server; alpn?: tls.Server } = {};
  #keylog: WriteStream | undefined;
  #seq = 0;
  #closed = false;

  constructor(opts: ParsedRigOptions, pki: BrokerRig['pki'], raw: BrokerRigOptions) {
    super('aedes');
    this.#opts = opts;
    this.host = opts.host;
    this.profile = opts.profile;
    this.pki = pki;
    this.bus = raw.bus ?? new EvidenceBus();
    this.#retained = new RecordWindow(opts.retainBytes, this.records, this.verdictLog, this.bus, (gone) => {
      for (const id of gone) {
        this.#judged.delete(id);
        this.#judged.delete(`${id}#2`);
      }
    });
    this.#door = {
      opts,
      record: (...args) => void this.#record(...args),
      judge: (rec) => this.#judge(rec),
      refuse: (live, refusal, endReason, sock) => this.#refuse(live, refusal, endReason, sock),
      endByRig: (live, reason, sock) => this.#endByRig(live, reason, sock),
      startMqtt: (live, sock) => this.#startMqtt(live, sock),
      tlsServer: (listener) => this.#tlsServers[listener],
    };
    this.#serverChainPem = raw.serverCertChainPem ?? pki.server.certPem;
    this.#serverKeyPem = raw.serverKeyPem ?? pki.server.keyPem;
  }

  get port(): number {
    return this.#port;
  }
  get alpnPort(): number | undefined {
    return this.#alpnPort;
  }
  get keylogPath(): string | undefined {
    return this.#opts.keylogPath;
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
      if (live) this.#record(live.rec, 'broker', 'client-error', `aedes client error: ${err.message}`);
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

  #liveOf(client: AedesClient): LiveConnection | undefined {
    const conn = aedesClientStream(client);
    return conn ? this.#byTap.get(conn) : undefined;
  }

  #onAedesEnd(client: AedesClient, reason: string): void {
    const live = this.#liveOf(client);
    if (live && !live.pendingEnd) live.pendingEnd = { by: 'server', reason };
  }

  #buildTlsServers(): void {
    if (!this.#opts.tls.enabled) return;
    for (const which of ['main', 'alpn'] as const) {
      if (which === 'alpn' && !(this.#opts.profile === 'aws-iot' && this.#opts.aws.alpnListener)) continue;
      const s = tls.createServer(
        tlsServerOptions(this.#opts, this.pki, {
          chainPem: this.#opts.faults.serverCert?.chainPem ?? this.#serverChainPem,
          keyPem: this.#opts.faults.serverCert?.keyPem ?? this.#serverKeyPem,
          alpn: which === 'alpn',
        }),
      );
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

  #record(
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
    this.#record(rec, 'diagnose', 'verdict', `${v.code}: ${v.summary}`, { verdict: v });
    this.verdictLog.add(v);
  }

  // ---- accept (the front door takes it from there: front-door.ts) ----

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
    const live: LiveConnection = { rec, raw, timers: [], connackSent: false, packetCount: 0 };
    this.#live.set(raw, live);
    this.#record(
      rec,
      'broker',
      'accept',
      `TCP accept from ${rec.remote} on ${listener === 'alpn' ? 'the ALPN port' : 'port'} ${listener === 'alpn' ? this.#alpnPort : this.#port}`,
    );
    raw.setNoDelay(true);
    raw.on('error', (err) => this.#record(rec, 'broker', 'socket-error', `socket error: ${err.message}`));
    raw.on('close', (hadError) => this.#onClose(live, hadError));

    admit(live, this.#door);
  }

  /** A rule refused the connection: the record and the evidence name the rule, then judge and close. */
  #refuse(live: LiveConnection, refusal: Refusal, endReason: string, sock?: net.Socket): void {
    this.#recordRefusal(live.rec, refusal);
    this.#judge(live.rec);
    this.#endByRig(live, endReason, sock);
  }

  #recordRefusal(rec: ConnectionRecord, refusal: Refusal): void {
    rec.refusal = refusal;
    this.#record(rec, 'broker', 'refusal', `rule ${refusal.rule} ${refusal.source}: ${refusal.reason}`, { refusal });
  }

  // ---- TLS ----

  #liveOfTls(sock: tls.TLSSocket): LiveConnection | undefined {
    const parent = tlsParentSocket(sock);
    const byParent = parent ? this.#live.get(parent) : undefined;
    if (byParent) return byParent;
    // Without the parent (see internals.ts), the peer address and port name the connection.
    for (const live of this.#live.values()) {
      if (live.raw.remotePort === sock.remotePort && live.raw.remoteAddress === sock.remoteAddress) return live;
    }
    return undefined;
  }

  #recordTls(rec: ConnectionRecord, events: TlsEvidence[]): void {
    for (const e of events) this.#record(rec, 'tls', e.kind, e.summary, e.data);
  }

  #onSecure(sock: tls.TLSSocket): void {
    const live = this.#liveOfTls(sock);
    if (!live) {
      sock.destroy();
      return;
    }
    const { rec } = live;
    const { outcome, events } = secureOutcome(sock, this.#opts.tls.requestCert);
    rec.tls = outcome;
    this.#recordTls(rec, events);
    if (this.#opts.tls.requestCert && !sock.authorized) {
      this.#judge(rec);
      this.#endByRig(live, `client certificate refused: ${outcome.authorizationError ?? 'none sent'}`, sock);
      return;
    }
    const ctx = { profile: this.#opts.profile, aws: this.#opts.aws, listener: rec.listener, hello: rec.clientHello };
    const fp = outcome.peerCert?.fingerprint256;
    const refusal = firstRefusal(handshakeRules, fp ? { ...ctx, peerFingerprint: fp } : ctx);
    if (refusal) {
      this.#refuse(live, refusal, `registry: ${refusal.reason}`, sock);
      return;
    }
    if (this.#opts.faults.closeAfterHandshake) {
      rec.faults.push('close after handshake');
      this.#record(rec, 'broker', 'fault', 'fault: closing right after the TLS handshake');
      this.#endByRig(live, 'fault: close after handshake', sock);
      return;
    }
    this.#startMqtt(live, sock);
  }

  #onTlsError(err: Error & { code?: string }, sock: tls.TLSSocket): void {
    const live = this.#liveOfTls(sock);
    if (!live) return;
    const { rec } = live;
    const { outcome, events } = failedOutcome(err);
    rec.tls = outcome;
    this.#recordTls(rec, events);
    if (!live.pendingEnd)
      live.pendingEnd = { by: outcome.alert?.from === 'server' ? 'server' : 'client', reason: `TLS: ${err.message}` };
    this.#judge(rec);
  }

  // ---- MQTT ----

  #startMqtt(live: LiveConnection, sock: net.Socket | tls.TLSSocket): void {
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
        this.#recordRefusal(rec, { rule, source, reason, at });
        live.pendingEnd = { by: 'server', reason: `rule ${rule}: ${reason}` };
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
        this.#record(
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

  #onPacket(live: LiveConnection, dir: 'in' | 'out', p: Packet, withheld: boolean, original?: Packet): void {
    const { rec } = live;
    live.packetCount++;
    const info: PacketInfo = { t: this.bus.clock.now(), dir, cmd: p.cmd, summary: '' };
    if (withheld) info.withheld = true;
    if (p.cmd === 'connack') info.returnCode = p.returnCode ?? p.reasonCode ?? 0;
    if (live.packetCount <= PACKET_EVENTS_PER_CONNECTION || ALWAYS_PARSE.has(p.cmd)) {
      info.summary = packetSummary(p);
      rec.mqtt.packets.push(info);
      this.#record(
        rec,
        'mqtt',
        'packet',
        `${dir === 'in' ? 'device ->' : '-> device'} ${info.summary}${withheld ? ' (withheld)' : ''}`,
      );
    }
    if (dir === 'in' && p.cmd === 'connect') {
      rec.mqtt.connect = connectInfo(p, withheld, original);
      if (original && original.cmd === 'connect' && original.keepalive !== p.keepalive) {
        this.#record(
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

  #endByRig(live: LiveConnection, reason: string, sock?: net.Socket): void {
    if (!live.pendingEnd) live.pendingEnd = { by: 'rig', reason };
    (sock ?? live.raw).destroy();
    if (sock) live.raw.destroy();
  }

  #onClose(live: LiveConnection, hadError: boolean): void {
    const { rec } = live;
    for (const t of live.timers) clearTimeout(t);
    this.#live.delete(live.raw);
    const end = live.pendingEnd ?? {
      by: 'client' as const,
      reason: hadError ? 'connection reset by the device' : 'closed by the device',
    };
    rec.end = { ...end, t: this.bus.clock.now() };
    this.#record(rec, 'broker', 'end', `connection ended by ${end.by}: ${end.reason}`);
    this.#judge(rec, true);
    this.#retained.retain(rec);
  }

  // ---- public API ----

  publish(topic: string, payload: string | Buffer, options: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
    const aedes = this.#aedes;
    if (!aedes) return Promise.reject(new BrokerStartError('aedes', 'publish() before the rig started'));
    return publishInProcess(aedes, topic, payload, options);
  }

  subscribe(topic: string, cb: (topic: string, payload: Buffer) => void): Promise<() => Promise<void>> {
    const aedes = this.#aedes;
    if (!aedes) return Promise.reject(new BrokerStartError('aedes', 'subscribe() before the rig started'));
    return subscribeInProcess(aedes, topic, cb);
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
    this.verdictLog.clearListeners();
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
