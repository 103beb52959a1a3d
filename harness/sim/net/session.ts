/**
 * MQTT sessions of the virtual module, with a REAL network side: Node `net`/`tls` and an
 * mqtt.js client over the module's own socket, so a broker cannot tell it from a device by its
 * protocol. `AT+KMQTTCNX` runs the named steps of `connectSteps` (aedes' connectActions idea,
 * STYLE.md §13): time → resolve → tcp → tls → verify → mqtt; any failure ends in `+KMQTT_IND: <id>,0`,
 * success in `+KMQTT_IND: <id>,1` [BX-L, HL-Z].
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { Resolver, lookup } from 'node:dns/promises';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import createDebug from 'debug';
import { MqttClient, type IClientOptions } from 'mqtt';
import type { EvidenceBus } from '../../evidence.ts';
import type { ModuleClock } from '../clock.ts';
import { SimConnectError } from '../errors.ts';
import type { Profile } from '../profile.ts';
import type { Stores } from '../stores.ts';
import { sntpTime } from './sntp.ts';
import { verifyServer } from './verify.ts';

/**
 * The serial side carries bytes (held as latin1 strings); MQTT topics are UTF-8 strings. A
 * module passes the topic's bytes through, so a topic is re-read as UTF-8 on its way to the
 * broker and written back as its UTF-8 bytes on its way to the serial line.
 */
function toMqttTopic(lineTopic: string): string {
  return Buffer.from(lineTopic, 'latin1').toString('utf8');
}

function toLineTopic(mqttTopic: string): string {
  return Buffer.from(mqttTopic, 'utf8').toString('latin1');
}

const debug = createDebug('bx-hil:sim');

export interface SessionConfig {
  secure: boolean;
  server: string;
  port: number;
  /** 3 = MQTT 3.1, 4 = MQTT 3.1.1 */
  version: number;
  clientId: string;
  /** Seconds. */
  keepAlive: number;
  clean: boolean;
  willFlag: boolean;
  willTopic: string;
  /** The will topic was sent quoted (legacy read form echoes it as given). */
  willTopicQuoted: boolean;
  willMessage: string;
  willRetain: boolean;
  willQos: number;
  username: string;
  password: string;
}

export type SessionState = 'configured' | 'connecting' | 'connected';

/** Where a host name really goes: the address (and optionally port) it is mapped to. */
export interface HostOverride {
  host: string;
  port?: number;
}

/** What the sessions need from the module. */
export interface NetEnv {
  readonly profile: Profile;
  readonly stores: Stores;
  readonly clock: ModuleClock;
  readonly resolve: Map<string, HostOverride>;
  /** Look names without an override up in DNS (the CLI only; tests always map). */
  readonly allowExternalDns: boolean;
  /**
   * `<ip>:<port>` of the DNS server the module got from DHCP (`sim:...?dns=`): names without an
   * override are resolved there with real queries, as a module on the lab's Wi-Fi would.
   */
  dnsServer?: string;
  /** `<ip>:<port>` of the SNTP server a `clock.source: 'sntp'` profile [guess] sets its clock from. */
  sntpServer?: string;
  readonly bus?: EvidenceBus;
  urc(line: string): void;
}

interface StepContext {
  session: MqttSession;
  env: NetEnv;
  address?: { host: string; port: number };
  tcp?: Socket;
  stream?: Duplex;
  tls?: TLSSocket;
  client?: MqttClient;
}

export interface ConnectStep {
  name: string;
  run(ctx: StepContext): Promise<void>;
}

function withTimeout<T>(
  ms: number,
  step: string,
  what: string,
  work: (settle: (err: Error | undefined, v?: T) => void) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let cleanup: () => void = () => undefined;
    const timer = setTimeout(() => {
      cleanup();
      reject(new SimConnectError(step, 'TIMEOUT', `${what} timed out after ${ms} ms`));
    }, ms);
    try {
      cleanup = work((err, v) => {
        clearTimeout(timer);
        cleanup();
        if (err) reject(err);
        else resolve(v as T);
      });
    } catch (err) {
      // e.g. mqtt.js refusing its options synchronously: fail the step now, not at the timeout
      clearTimeout(timer);
      reject(err);
    }
  });
}

/**
 * The module's stub resolver [guess: no source gives the BX's DNS timeouts; lwIP's default is a
 * few seconds per try with a handful of retries]: bounded so a dead server fails the connect
 * within seconds rather than hanging it.
 */
const DNS_TRY_TIMEOUT_MS = 1_500;
const DNS_TRIES = 2;

/** One A lookup through `server`, as the module's resolver would do it; a SimConnectError on failure. */
async function resolveThrough(dnsServer: string, name: string): Promise<string> {
  const resolver = new Resolver({ timeout: DNS_TRY_TIMEOUT_MS, tries: DNS_TRIES });
  resolver.setServers([dnsServer]);
  try {
    const [address] = await resolver.resolve4(name);
    if (!address) throw Object.assign(new Error(`no A record for ${name}`), { code: 'ENODATA' });
    return address;
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOTFOUND' ? 'NXDOMAIN' : code === 'ETIMEOUT' || code === 'ECONNREFUSED' ? 'DNS_TIMEOUT' : 'DNS';
    throw new SimConnectError(
      'resolve',
      reason,
      `cannot resolve ${name} through ${dnsServer}: ${code ?? (cause as Error).message}`,
      { cause },
    );
  } finally {
    resolver.cancel();
  }
}

function keyForm(pem: string): 'pkcs1' | 'pkcs8' | 'sec1' | 'encrypted' | 'unknown' {
  if (pem.includes('BEGIN RSA PRIVATE KEY')) return 'pkcs1';
  if (pem.includes('BEGIN EC PRIVATE KEY')) return 'sec1';
  if (pem.includes('BEGIN ENCRYPTED PRIVATE KEY')) return 'encrypted';
  if (pem.includes('BEGIN PRIVATE KEY')) return 'pkcs8';
  return 'unknown';
}

/** The connect sequence of `AT+KMQTTCNX`, one named step each. */
export const connectSteps: ConnectStep[] = [
  {
    // [guess] A module that sets its clock from SNTP has done so once its network is up; the
    // sim asks before the first connect after boot. No answer leaves the clock unset (counting
    // from 1970), so the verify step finds the server certificate not yet valid.
    name: 'time',
    async run(ctx) {
      const { profile, clock, sntpServer, bus } = ctx.env;
      if (profile.clock.source !== 'sntp' || clock.isSet || !sntpServer) return;
      const time = await sntpTime(sntpServer);
      if (time) clock.set(time);
      bus?.emit({
        source: 'sim',
        kind: 'sntp',
        scope: `session-${ctx.session.id}`,
        summary: time
          ? `clock set from SNTP ${sntpServer}: ${time.toISOString()}`
          : `no SNTP answer from ${sntpServer}: the clock stays at ${clock.now().toISOString()}`,
        data: { server: sntpServer, ...(time ? { time: time.toISOString() } : {}) },
      });
    },
  },
  {
    name: 'resolve',
    async run(ctx) {
      const { server, port } = ctx.session.config;
      const override = ctx.env.resolve.get(server.toLowerCase());
      if (override) {
        ctx.address = { host: override.host, port: override.port ?? port };
        return;
      }
      if (isIP(server) || server.toLowerCase() === 'localhost') {
        ctx.address = { host: server, port };
        return;
      }
      if (ctx.env.dnsServer) {
        // A failure takes the connect's one failure path, `+KMQTT_IND: <id>,0` [guess: no
        // profile or source says the BX reports a DNS failure differently].
        ctx.address = { host: await resolveThrough(ctx.env.dnsServer, server), port };
        return;
      }
      if (!ctx.env.allowExternalDns) {
        throw new SimConnectError(
          'resolve',
          'NO_HOST_OVERRIDE',
          `${server} has no host override and the virtual module only looks names up in DNS when run from the CLI: map it, e.g. ?resolve=${server}=127.0.0.1:${port}`,
        );
      }
      try {
        const { address } = await lookup(server);
        ctx.address = { host: address, port };
      } catch (cause) {
        throw new SimConnectError('resolve', 'DNS', `cannot resolve ${server}: ${(cause as Error).message}`, { cause });
      }
    },
  },
  {
    name: 'tcp',
    run(ctx) {
      const { host, port } = ctx.address!;
      return withTimeout<void>(
        ctx.env.profile.tls.handshakeTimeoutMs,
        'tcp',
        `TCP connect to ${host}:${port}`,
        (settle) => {
          const sock = netConnect({ host, port });
          ctx.tcp = sock;
          ctx.session.track(sock);
          const onErr = (err: NodeJS.ErrnoException) =>
            settle(
              new SimConnectError('tcp', err.code ?? 'TCP', `TCP connect to ${host}:${port} failed: ${err.message}`, {
                cause: err,
              }),
            );
          const onOk = () => settle(undefined);
          const onClose = () =>
            settle(new SimConnectError('tcp', 'CLOSED', `TCP connect to ${host}:${port} was aborted`));
          sock.once('error', onErr).once('connect', onOk).once('close', onClose);
          return () => sock.off('error', onErr).off('connect', onOk).off('close', onClose);
        },
      );
    },
  },
  {
    name: 'tls',
    run(ctx) {
      if (!ctx.session.config.secure) {
        ctx.stream = ctx.tcp;
        return Promise.resolve();
      }
      const { profile, stores } = ctx.env;
      const { server } = ctx.session.config;
      let cert: Buffer | undefined;
      let key: string | undefined;
      const localCert = stores.local[0];
      const localKey = stores.keys[0];
      if (profile.tls.clientIdentity && localCert && localKey) {
        const pem = localKey.toString('latin1');
        const form = keyForm(pem);
        if (form === 'encrypted' || form === 'unknown' || !profile.keys.forms.includes(form)) {
          return Promise.reject(
            new SimConnectError(
              'identity',
              'KEY_FORM',
              `private key 0 is ${form}; this firmware loads ${profile.keys.forms.join(', ')}`,
            ),
          );
        }
        let parsed: ReturnType<typeof createPrivateKey>;
        try {
          parsed = createPrivateKey(pem);
        } catch (cause) {
          return Promise.reject(
            new SimConnectError(
              'identity',
              'KEY_UNREADABLE',
              `private key 0 cannot be read: ${(cause as Error).message}`,
              { cause },
            ),
          );
        }
        const bits = parsed.asymmetricKeyType === 'rsa' ? (parsed.asymmetricKeyDetails?.modulusLength ?? 0) : 0;
        if (bits > profile.tls.maxRsaBits) {
          return Promise.reject(
            new SimConnectError(
              'identity',
              'KEY_TOO_LARGE',
              `private key 0 is RSA-${bits}; this firmware handles at most RSA-${profile.tls.maxRsaBits}`,
            ),
          );
        }
        key = pem;
        cert = localCert;
      }
      const ciphers = profile.tls.allowWeakCrypto ? `${profile.tls.ciphers}:@SECLEVEL=0` : profile.tls.ciphers;
      return withTimeout<void>(profile.tls.handshakeTimeoutMs, 'tls', `TLS handshake with ${server}`, (settle) => {
        let sock: TLSSocket;
        try {
          sock = tlsConnect({
            socket: ctx.tcp,
            // SNI per profile; without `servername` Node sends no SNI on a given socket.
            ...(profile.tls.sni && !isIP(server) ? { servername: server } : {}),
            minVersion: profile.tls.minVersion,
            maxVersion: profile.tls.maxVersion,
            ciphers,
            cert,
            key,
            // The module checks the server itself, against its own clock (verify step).
            rejectUnauthorized: false,
          });
        } catch (cause) {
          settle(
            new SimConnectError(
              'identity',
              'CLIENT_CERT_REJECTED',
              `the TLS stack refused local certificate 0 / key 0: ${(cause as Error).message}`,
              { cause },
            ),
          );
          return () => undefined;
        }
        ctx.tls = sock;
        ctx.session.track(sock);
        const onErr = (err: NodeJS.ErrnoException) =>
          settle(
            new SimConnectError('tls', err.code ?? 'TLS', `TLS handshake with ${server} failed: ${err.message}`, {
              cause: err,
            }),
          );
        const onClose = () =>
          settle(new SimConnectError('tls', 'CLOSED', `the server closed the connection during the TLS handshake`));
        const onOk = () => settle(undefined);
        sock.once('error', onErr).once('close', onClose).once('secureConnect', onOk);
        return () => sock.off('error', onErr).off('close', onClose).off('secureConnect', onOk);
      });
    },
  },
  {
    name: 'verify',
    async run(ctx) {
      const sock = ctx.tls;
      if (!sock) return;
      const { profile, stores, clock } = ctx.env;
      const presented: X509Certificate[] = [];
      let peer = sock.getPeerCertificate(true);
      const seen = new Set<string>();
      while (peer && peer.raw && !seen.has(peer.fingerprint256)) {
        seen.add(peer.fingerprint256);
        presented.push(new X509Certificate(peer.raw));
        peer = peer.issuerCertificate;
      }
      let root: X509Certificate | undefined;
      if (stores.root) {
        try {
          root = new X509Certificate(stores.root);
        } catch {
          root = undefined; // an unparseable root trusts nothing
        }
      }
      const noRoot = !stores.root && profile.mqtt.noRootCa === 'noverify';
      const result = noRoot
        ? ({ ok: true } as const)
        : verifyServer({
            presented,
            root,
            host: ctx.session.config.server,
            now: clock.now(),
            checks: profile.tls.verify,
            allowWeakCrypto: profile.tls.allowWeakCrypto,
            maxRsaBits: profile.tls.maxRsaBits,
          });
      if (!result.ok) {
        sock.destroy();
        throw new SimConnectError('verify', result.reason, result.message);
      }
      ctx.stream = sock;
    },
  },
  {
    name: 'mqtt',
    run(ctx) {
      const c = ctx.session.config;
      const stream = ctx.stream!;
      const options: IClientOptions = {
        protocolVersion: c.version === 3 ? 3 : 4,
        protocolId: c.version === 3 ? 'MQIsdp' : 'MQTT',
        clientId: c.clientId,
        keepalive: c.keepAlive,
        clean: c.clean,
        reconnectPeriod: 0,
        connectTimeout: ctx.env.profile.mqtt.connectTimeoutMs,
        resubscribe: false,
        ...(c.username ? { username: c.username } : {}),
        ...(c.password ? { password: c.password } : {}),
        ...(c.willFlag
          ? {
              will: {
                topic: toMqttTopic(c.willTopic),
                payload: Buffer.from(c.willMessage, 'latin1'),
                qos: c.willQos as 0 | 1 | 2,
                retain: c.willRetain,
              },
            }
          : {}),
      };
      return withTimeout<void>(ctx.env.profile.mqtt.connectTimeoutMs + 1_000, 'mqtt', 'MQTT CONNECT', (settle) => {
        const client = new MqttClient(() => stream, options);
        ctx.client = client;
        const onErr = (err: Error & { code?: number | string }) =>
          settle(
            new SimConnectError(
              'mqtt',
              `CONNACK_${err.code ?? 'ERROR'}`,
              `the broker refused the MQTT connection: ${err.message}`,
              { cause: err },
            ),
          );
        const onClose = () =>
          settle(new SimConnectError('mqtt', 'CLOSED', 'the broker closed the connection before CONNACK'));
        const onOk = () => settle(undefined);
        client.once('error', onErr).once('close', onClose).once('connect', onOk);
        return () => client.off('error', onErr).off('close', onClose).off('connect', onOk);
      });
    },
  },
];

/** One configured MQTT session (an id of AT+KMQTTCFG). */
export class MqttSession {
  readonly id: number;
  config: SessionConfig;
  state: SessionState = 'configured';
  readonly subscriptions = new Set<string>();
  /** Why the last connect failed (for evidence and tests); undefined after a success. */
  lastConnectError: SimConnectError | undefined;
  #client: MqttClient | undefined;
  #sockets = new Set<Duplex>();
  /** Bumped on every connect/close so late events of an old connection are ignored. */
  #generation = 0;
  readonly #env: NetEnv;

  constructor(id: number, config: SessionConfig, env: NetEnv) {
    this.id = id;
    this.config = config;
    this.#env = env;
  }

  /** @internal a socket opened for this session; destroyed on close. */
  track(sock: Duplex): void {
    this.#sockets.add(sock);
    sock.once('close', () => this.#sockets.delete(sock));
  }

  #evidence(kind: string, summary: string, data?: Record<string, unknown>): void {
    debug('session %d: %s', this.id, summary);
    this.#env.bus?.emit({ source: 'sim', kind, scope: `session-${this.id}`, summary, data });
  }

  /** Run the connect steps in the background; the caller has already answered OK. */
  connect(): void {
    this.state = 'connecting';
    const generation = ++this.#generation;
    const ctx: StepContext = { session: this, env: this.#env };
    void (async () => {
      for (const step of connectSteps) {
        if (generation !== this.#generation) return;
        try {
          await step.run(ctx);
          this.#evidence('connect-step', `${step.name}: ok`, {
            step: step.name,
            ...(step.name === 'resolve' ? { address: ctx.address } : {}),
          });
        } catch (err) {
          ctx.client?.end(true);
          this.#destroySockets();
          if (generation !== this.#generation) return;
          const e =
            err instanceof SimConnectError ? err : new SimConnectError(step.name, 'ERROR', String(err), { cause: err });
          this.lastConnectError = e;
          this.state = 'configured';
          this.#evidence('connect-failed', `${e.step}: ${e.reason}: ${e.message}`, { step: e.step, reason: e.reason });
          this.#env.urc(`+KMQTT_IND: ${this.id},0`);
          return;
        }
      }
      if (generation !== this.#generation) {
        ctx.client?.end(true);
        return;
      }
      this.#attach(ctx.client!, generation);
      this.lastConnectError = undefined;
      this.state = 'connected';
      this.#evidence('connected', `connected to ${this.config.server}:${this.config.port}`);
      this.#env.urc(`+KMQTT_IND: ${this.id},1`);
    })();
  }

  #attach(client: MqttClient, generation: number): void {
    this.#client = client;
    client.on('message', (mqttTopic, payload) => {
      if (generation !== this.#generation) return;
      const topic = toLineTopic(mqttTopic);
      const text = payload.toString('latin1');
      this.#env.urc(
        this.#env.profile.mqtt.incomingUrc === 'kmqttsub'
          ? `+KMQTTSUB: "${topic}","${text}"`
          : `+KMQTT_DATA: ${this.id},"${topic}","${text}"`,
      );
    });
    client.on('close', () => {
      if (generation !== this.#generation) return;
      // The broker (or the network) dropped a live session. [HL-Z] code 0 = connection aborted
      this.#generation++;
      this.#client = undefined;
      this.subscriptions.clear();
      this.state = 'configured';
      this.#destroySockets();
      this.#evidence('dropped', 'the connection was closed by the peer');
      this.#env.urc(`+KMQTT_IND: ${this.id},0`);
    });
    client.on('error', (err) => this.#evidence('mqtt-error', err.message));
  }

  /** QoS ≥ 1: `+KMQTT_IND: <id>,4` once PUBACK/PUBCOMP arrives [BX-L]. */
  publish(topic: string, payload: string, qos: number, retain: boolean): void {
    const client = this.#client;
    if (!client) return;
    const generation = this.#generation;
    client.publish(toMqttTopic(topic), Buffer.from(payload, 'latin1'), { qos: qos as 0 | 1 | 2, retain }, (err) => {
      if (generation !== this.#generation) return;
      if (err) {
        this.#evidence('publish-failed', err.message);
        return;
      }
      if (qos > 0 || this.#env.profile.mqtt.indOnQos0Publish) this.#env.urc(`+KMQTT_IND: ${this.id},4`);
    });
  }

  subscribe(topic: string, qos: number): void {
    const client = this.#client;
    if (!client) return;
    const generation = this.#generation;
    this.subscriptions.add(topic);
    client.subscribe(toMqttTopic(topic), { qos: qos as 0 | 1 | 2 }, (err, granted) => {
      if (generation !== this.#generation) return;
      const refused = err || granted?.some((g) => g.qos === 128);
      if (refused) {
        this.subscriptions.delete(topic);
        this.#evidence('subscribe-refused', err?.message ?? 'SUBACK 0x80');
        // [HL-Z] 5 = MQTT generic error
        this.#env.urc(`+KMQTT_IND: ${this.id},5`);
        return;
      }
      if (this.#env.profile.mqtt.indOnSubscribe) this.#env.urc(`+KMQTT_IND: ${this.id},2`);
    });
  }

  unsubscribe(topic: string): void {
    const client = this.#client;
    if (!client) return;
    const generation = this.#generation;
    this.subscriptions.delete(topic);
    client.unsubscribe(toMqttTopic(topic), (err) => {
      if (generation !== this.#generation) return;
      if (err) this.#evidence('unsubscribe-failed', err.message);
      else if (this.#env.profile.mqtt.indOnSubscribe) this.#env.urc(`+KMQTT_IND: ${this.id},3`);
    });
  }

  /** AT+KMQTTCLOSE: a clean DISCONNECT, no URC [guess]. */
  close(): void {
    this.#generation++;
    const client = this.#client;
    this.#client = undefined;
    this.state = 'configured';
    this.subscriptions.clear();
    // Only this connection's sockets: a reconnect right after must keep its own.
    const sockets = [...this.#sockets];
    this.#sockets.clear();
    const destroy = () => sockets.forEach((s) => s.destroy());
    if (client) {
      client.end(false, destroy);
      // Bound the graceful end: a broker that never closes must not keep the socket alive.
      setTimeout(destroy, 1_000).unref();
    } else destroy();
  }

  /**
   * The network vanished (Wi-Fi drop, reset, module close): sockets destroyed without DISCONNECT,
   * so the broker publishes the will. `urc` says whether `+KMQTT_IND: <id>,0` is raised.
   */
  abort(urc: boolean): void {
    const live = this.state !== 'configured';
    this.#generation++;
    this.#client?.end(true);
    this.#client = undefined;
    this.state = 'configured';
    this.subscriptions.clear();
    this.#destroySockets();
    if (live && urc) this.#env.urc(`+KMQTT_IND: ${this.id},0`);
  }

  #destroySockets(): void {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }
}

/** Session ids start at 1; the lowest free id is reused after AT+KMQTTDEL [BX-T]. */
export class SessionTable {
  readonly #sessions = new Map<number, MqttSession>();
  readonly #env: NetEnv;

  constructor(env: NetEnv) {
    this.#env = env;
  }

  get(id: number): MqttSession | undefined {
    return this.#sessions.get(id);
  }

  get size(): number {
    return this.#sessions.size;
  }

  all(): MqttSession[] {
    return [...this.#sessions.values()].sort((a, b) => a.id - b.id);
  }

  /** Undefined when every id up to the profile's limit is taken. */
  create(config: SessionConfig): MqttSession | undefined {
    if (this.#sessions.size >= this.#env.profile.mqtt.sessions) return undefined;
    let id = 1;
    while (this.#sessions.has(id)) id++;
    const s = new MqttSession(id, config, this.#env);
    this.#sessions.set(id, s);
    return s;
  }

  delete(id: number): void {
    const s = this.#sessions.get(id);
    if (s && s.state !== 'configured') s.abort(false);
    this.#sessions.delete(id);
  }

  /** Drop every connection (and, with `forget`, every configuration, as a reboot does). */
  abortAll(urc: boolean, forget: boolean): void {
    for (const s of this.#sessions.values()) s.abort(urc);
    if (forget) this.#sessions.clear();
  }
}
