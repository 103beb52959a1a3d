/**
 * MQTT sessions of the virtual module, with a REAL network side: Node `net`/`tls` and an
 * mqtt.js client over the module's own socket, so a broker cannot tell it from a device by its
 * protocol. `AT+KMQTTCNX` runs the named steps of `connectSteps` (aedes' connectActions idea,
 * docs/STYLE.md §13): time → resolve → tcp → tls → verify → mqtt; any failure ends in `+KMQTT_IND: <id>,0`,
 * success in `+KMQTT_IND: <id>,1` [BX-L, HL-Z].
 */
import type { Duplex } from 'node:stream';
import createDebug from 'debug';
import type { MqttClient } from 'mqtt';
import type { EvidenceBus } from '../../evidence.ts';
import type { Timing } from '../../timing.ts';
import type { ModuleClock } from '../clock.ts';
import { SimConnectError } from '../errors.ts';
import type { Profile } from '../profile.ts';
import type { Stores } from '../stores.ts';

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
  /** The timing in force: TLS handshake work, CONNACK → URC, AT+KMQTTPUB → PUBLISH. */
  readonly timing: Timing;
  urc(line: string): void;
}

import { connectSteps, type StepContext } from './connect-steps.ts';
import { toLineTopic, toMqttTopic } from './topics.ts';

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
  /** Latencies in flight (timing.mqtt); cleared, and their waiters woken, on close and abort. */
  readonly #timers = new Map<NodeJS.Timeout, () => void>();

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

  /** Wait `ms` (at once when 0); resolves early when the session is closed or aborted. */
  #sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        resolve();
      }, ms);
      this.#timers.set(t, resolve);
    });
  }

  #cancelTimers(): void {
    for (const [t, wake] of this.#timers) {
      clearTimeout(t);
      wake();
    }
    this.#timers.clear();
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
      // CONNACK is in; the module's AT task turns it into the URC (timing.mqtt.connackMs).
      await this.#sleep(this.#env.timing.mqtt.connackMs);
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
    const generation = this.#generation;
    // The module builds and sends PUBLISH after OK (timing.mqtt.publishMs).
    const ms = this.#env.timing.mqtt.publishMs;
    if (ms > 0) {
      void this.#sleep(ms).then(() => {
        if (generation === this.#generation) this.#publishNow(topic, payload, qos, retain);
      });
      return;
    }
    this.#publishNow(topic, payload, qos, retain);
  }

  #publishNow(topic: string, payload: string, qos: number, retain: boolean): void {
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
    this.#cancelTimers();
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
    this.#cancelTimers();
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
