/**
 * Mosquitto behind the BrokerRig interface: a local process (config written by the rig,
 * mosquitto-config.ts; log read into the evidence and mapped to verdicts, mosquitto-log.ts).
 * The container rig (container.ts) is the same rig with Mosquitto run elsewhere.
 *
 * Mosquitto's log is coarser than the aedes rig's front door: no ClientHello, and "certificate
 * verify failed" does not say which check failed (docs/reference/aws-iot-and-mosquitto.md §4.2 [MEASURED]).
 * Log lines carry no connection id for TLS errors, so they are attributed to the most recent
 * connection still open (Mosquitto is single-threaded and logs in order).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { ConfigError } from '../errors.ts';
import { EvidenceBus, type EvidenceEvent } from '../evidence.ts';
import { createBasicPki } from '../pki/index.ts';
import { BrokerStartError } from './errors.ts';
import { writeMosquittoConfig } from './mosquitto-config.ts';
import { logVerdict, parseLogLine } from './mosquitto-log.ts';
import { RecordWindow } from './record-window.ts';
import { parseRetainBytes } from './rig-options.ts';
import { VerdictingRig } from './verdict-log.ts';
import type { BrokerFaults, BrokerRig, ConnectionRecord, ProfileName, Verdict, VerdictCode } from './types.ts';
import { VERDICT_FIX } from '../diagnose/index.ts';
import { freePort, killOnExit, pollUntil, WaitTimeoutError } from '../processes.ts';

/** Options of `startMosquittoRig`: a real Mosquitto process as the broker, with the rig's verdicts read from its log. */
export interface MosquittoRigOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default: a free port found by binding port 0 first. */
  port?: number;
  /** `strict`/`mosquitto-like`/`aws-iot` = require_certificate; `tls-server-only`; `plain`. Default `mosquitto-like`. */
  profile?: ProfileName;
  pki?: BrokerRig['pki'];
  /** Binary. Default `mosquitto` on PATH. */
  command?: string;
  /** Minimum TLS version (`tls_version`). Default `tlsv1.2`. */
  tlsVersion?: 'tlsv1.1' | 'tlsv1.2' | 'tlsv1.3';
  /** Extra lines appended to the listener section (e.g. `max_qos 1`). */
  extraConfig?: string[];
  bus?: EvidenceBus;
  /** Bound on waiting for the listener. Default 10000 (10 s). */
  startTimeoutMs?: number;
  /**
   * Budget (JSON bytes) of the ended connections kept in `records`/`verdicts`, as for the aedes
   * rig: past it the oldest go, with a `records-dropped` evidence event. Default 8 MiB, at least 16 KiB.
   */
  retainBytes?: number;
}

/**
 * Where Mosquitto runs when it is not a local process (a container, container.ts): the rig
 * writes the config into a directory, the place starts Mosquitto on it and feeds its log back.
 */
export interface MosquittoPlace {
  /** The directory the config's paths name, as the place sees it. */
  readonly confDir: string;
  /** Start Mosquitto on the config and files in `dir`; its log goes to `onLog`. Resolves once it runs. */
  start(dir: string, onLog: (chunk: string) => void): Promise<void>;
  /** Stop it and remove what start() made; called again after a failed start. */
  stop(): Promise<void>;
}

/** Start Mosquitto with a generated config; killed in close() and on process exit. */
export async function startMosquittoRig(options: MosquittoRigOptions = {}): Promise<BrokerRig> {
  const host = options.host ?? '127.0.0.1';
  const profile = options.profile ?? 'mosquitto-like';
  const port = options.port ?? (await freePort(host));
  if (!Number.isInteger(port) || port <= 0 || port > 65535)
    throw new ConfigError('port', port, 'port must be 1..65535 for Mosquitto (omit it to pick a free one)');
  const pki = options.pki ?? (await createBasicPki());
  return VerdictingRig.started(new MosquittoRig(host, port, profile, pki, options));
}

/** The Mosquitto rig; exported for container.ts, which runs it in a container. */
export class MosquittoRig extends VerdictingRig implements BrokerRig {
  readonly kind: 'mosquitto' | 'container';
  readonly records: ConnectionRecord[] = [];
  readonly bus: EvidenceBus;
  readonly #opts: MosquittoRigOptions;
  readonly #dir: string;
  readonly #open: ConnectionRecord[] = [];
  readonly #judged = new Set<string>();
  readonly #logLines: string[] = [];
  #proc: ChildProcess | undefined;
  readonly #place: MosquittoPlace | undefined;
  readonly #retained: RecordWindow;
  #host: string;
  #port: number;
  #client: mqtt.MqttClient | undefined;
  #seq = 0;
  #partial = '';
  #closed = false;
  #starting = false;
  /** The readiness probe of the running start(), until Mosquitto has logged its connection. */
  #probe: ReadinessProbe | undefined;

  constructor(
    host: string,
    port: number,
    readonly profile: ProfileName,
    readonly pki: BrokerRig['pki'],
    opts: MosquittoRigOptions,
    place?: MosquittoPlace,
  ) {
    super(place ? 'container' : 'mosquitto');
    const retainBytes = parseRetainBytes(opts.retainBytes);
    this.#host = host;
    this.#port = port;
    this.#place = place;
    this.kind = place ? 'container' : 'mosquitto';
    this.#opts = opts;
    this.bus = opts.bus ?? new EvidenceBus();
    this.#retained = new RecordWindow(retainBytes, this.records, this.verdictLog, this.bus, (gone) => {
      for (const id of gone) this.#judged.delete(id);
    });
    this.#dir = mkdtempSync(join(tmpdir(), 'bx-hil-mosquitto-'));
  }

  get host(): string {
    return this.#host;
  }
  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `${this.profile === 'plain' ? 'mqtt' : 'mqtts'}://${this.host}:${this.port}`;
  }

  /** Write the config and material into `this.#dir`; paths inside the config are under `confDir`. */
  #writeConfig(confDir = this.#dir): string {
    const config: Parameters<typeof writeMosquittoConfig>[1] = {
      profile: this.profile,
      pki: this.pki,
      listener: `listener ${this.port} ${this.host}`,
    };
    if (this.#opts.tlsVersion) config.tlsVersion = this.#opts.tlsVersion;
    if (this.#opts.extraConfig) config.extraConfig = this.#opts.extraConfig;
    return writeMosquittoConfig(this.#dir, config, confDir);
  }

  /** The last lines of Mosquitto's log (for start errors). */
  get logTail(): string {
    return this.#logLines.slice(-20).join('\n');
  }

  async start(): Promise<void> {
    if (this.#place) {
      this.#writeConfig(this.#place.confDir);
      await this.#place.start(this.#dir, (chunk) => this.#onLog(chunk));
      return;
    }
    const conf = this.#writeConfig();
    const cmd = this.#opts.command ?? 'mosquitto';
    const proc = spawn(cmd, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#proc = proc;
    killOnExit(proc);
    proc.stderr?.on('data', (d: Buffer) => this.#onLog(d.toString('utf8')));
    const spawnError = new Promise<never>((_, reject) => {
      proc.once('error', (err) =>
        reject(
          new BrokerStartError(
            'mosquitto',
            `cannot run ${cmd}: ${err.message}; install mosquitto (apt-get install mosquitto)`,
            '',
            { cause: err },
          ),
        ),
      );
      proc.once('exit', (code) =>
        reject(
          new BrokerStartError(
            'mosquitto',
            `mosquitto exited with code ${code} before listening; its log says:\n${this.#logLines.slice(-5).join('\n')}`,
            this.#logLines.slice(-20).join('\n'),
          ),
        ),
      );
    });
    const timeoutMs = this.#opts.startTimeoutMs ?? 10_000;
    const t0 = Date.now();
    const ready = (async () => {
      // No event says "listening" (the "Opening ... listen socket" line comes before the bind):
      // connect once it is logged. Mosquitto logs that probe like any client; its source port
      // (chosen here, before connecting) tells its lines from a device's (#probeLine).
      const probe = await pollUntil(
        async () => {
          if (proc.exitCode !== null || proc.signalCode !== null) throw new Error('mosquitto exited'); // spawnError says why
          if (!this.#logLines.some((l) => /Opening ipv[46] listen socket on port/.test(l))) return undefined;
          return this.#probeListener();
        },
        { timeoutMs, intervalMs: 50, what: `mosquitto to listen on ${this.host}:${this.port}` },
      );
      // Return only once the probe's lines are in, so none arrives later among a device's.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        probe.logged,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new WaitTimeoutError(`mosquitto to log the readiness probe from port ${probe.port}`, timeoutMs)),
            Math.max(0, timeoutMs - (Date.now() - t0)),
          );
        }),
      ]).finally(() => clearTimeout(timer));
    })();
    ready.catch(() => undefined); // when spawnError wins the race below
    spawnError.catch(() => undefined);
    try {
      await Promise.race([ready, spawnError]);
    } catch (err) {
      if (!(err instanceof WaitTimeoutError)) throw err;
      throw new BrokerStartError(
        'mosquitto',
        `mosquitto did not start within ${timeoutMs} ms: ${err.message}`,
        this.#logLines.slice(-20).join('\n'),
        { cause: err },
      );
    } finally {
      this.#probe = undefined;
    }
  }

  /**
   * One readiness probe: a TCP connection to the listener from a source port chosen first (so
   * #probeLine knows it before Mosquitto logs it), closed at once. Resolves the probe when the
   * listener accepted it, undefined when it did not (not listening yet).
   */
  async #probeListener(): Promise<ReadinessProbe | undefined> {
    const wildcard = this.host === '0.0.0.0' ? '127.0.0.1' : this.host === '::' ? '::1' : undefined;
    const host = wildcard ?? this.host;
    const address = net.isIP(host) ? host : undefined;
    let settle!: () => void;
    const probe: ReadinessProbe = {
      address,
      port: await freePort(address ?? '0.0.0.0'),
      accepted: false,
      logged: new Promise<void>((resolve) => (settle = resolve)),
      settle: () => {
        if (this.#probe === probe) this.#probe = undefined;
        settle();
      },
    };
    this.#probe = probe;
    const accepted = await new Promise<boolean>((resolve) => {
      const s = net.connect(
        { host, port: this.port, localPort: probe.port, ...(address ? { localAddress: address } : {}) },
        () => {
          s.destroy();
          resolve(true);
        },
      );
      s.once('error', () => resolve(false));
    });
    if (accepted) return probe;
    if (this.#probe === probe) this.#probe = undefined;
    return undefined;
  }

  /**
   * Whether `line` is about the readiness probe's connection; such lines are not the device's
   * and are dropped. Plain listener: "New connection from <addr>:<probe port>", then "Client
   * <unknown> closed its connection". TLS listener: "Client connection from <addr> failed: ..."
   * (Mosquitto 2.0 names no port there; during start() no device knows the port yet).
   */
  #probeLine(line: string): boolean {
    const probe = this.#probe;
    if (!probe) return false;
    const l = parseLogLine(line);
    if (l.kind === 'accept') {
      if (l.port !== probe.port || (probe.address && l.address !== probe.address)) return false;
      probe.accepted = true;
      return true;
    }
    if (l.kind === 'failed' && (!probe.address || l.address === probe.address) && this.#open.length === 0) {
      probe.settle();
      return true;
    }
    if (!probe.accepted || this.#open.length > 0) return false;
    if (l.kind === 'gone' && l.clientId === '<unknown>') probe.settle();
    return true;
  }

  #onLog(chunk: string): void {
    const text = this.#partial + chunk;
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    for (const raw of lines) {
      const line = raw.replace(/^\d+: /, '').trim();
      if (!line) continue;
      this.#logLines.push(line);
      if (this.#logLines.length > 2000) this.#logLines.splice(0, 1000);
      this.#onLine(line);
    }
  }

  #record(rec: ConnectionRecord, kind: string, summary: string): EvidenceEvent {
    const e = this.bus.emit({ source: 'broker', kind, scope: rec.id, summary });
    rec.events.push(e);
    return e;
  }

  #newRecord(remote: string): ConnectionRecord {
    const rec: ConnectionRecord = {
      id: `conn-${++this.#seq}`,
      remote,
      events: [],
      listener: 'main',
      mqtt: { packets: [] },
      faults: [],
    };
    this.records.push(rec);
    return rec;
  }

  #onLine(line: string): void {
    if (this.#starting) return;
    if (this.#probeLine(line)) return;
    const l = parseLogLine(line);
    if (l.kind === 'accept') {
      const rec = this.#newRecord(`${l.address}:${l.port}`);
      this.#open.push(rec);
      this.#record(rec, 'accept', `mosquitto: ${line}`);
      return;
    }
    if (l.kind === 'failed') {
      // Mosquitto logs a handshake that fails on the very first record without a "New connection" line.
      const rec = this.#newRecord(l.address);
      this.#record(rec, 'log', `mosquitto: ${line}`);
      rec.end = { by: 'server', reason: line, t: this.bus.clock.now() };
      const told = logVerdict(l.why);
      this.#decide(
        rec,
        told?.code ?? 'HANDSHAKE_ABORTED',
        told?.summary ?? `Mosquitto refused the connection: ${l.why}`,
      );
      this.#retained.retain(rec);
      return;
    }
    if (l.kind === 'connected') {
      const rec = this.#open.find((r) => r.remote === `${l.address}:${l.port}`) ?? this.#open.at(-1);
      if (!rec) return;
      rec.mqtt.connect = {
        clientId: l.clientId,
        protocolVersion: l.protocolVersion,
        keepalive: l.keepalive,
        clean: l.clean,
        password: 'absent',
      };
      if (l.username !== undefined) rec.mqtt.connect.username = l.username;
      rec.mqtt.connack = { returnCode: 0, sessionPresent: false };
      this.#record(rec, 'connected', `mosquitto: ${line}`);
      this.#decide(rec, 'OK', `The device connected to Mosquitto as "${l.clientId}".`);
      return;
    }
    const rec = this.#open.at(-1);
    if (!rec) return;
    this.#record(rec, 'log', `mosquitto: ${line}`);
    const told = logVerdict(line);
    if (told) this.#decide(rec, told.code, told.summary);
    if (l.kind === 'gone') {
      const idx = this.#open.findIndex((r) =>
        l.clientId === '<unknown>' ? !r.mqtt.connect : r.mqtt.connect?.clientId === l.clientId,
      );
      const target = idx >= 0 ? this.#open[idx]! : rec;
      if (idx >= 0) this.#open.splice(idx, 1);
      target.end = { by: l.by, reason: line, t: this.bus.clock.now() };
      if (!this.#judged.has(target.id)) {
        this.#decide(
          target,
          target.mqtt.connect ? 'UNKNOWN' : 'HANDSHAKE_ABORTED',
          `Mosquitto closed the connection: ${line}`,
        );
      }
      // Only a record that left the open list has ended for good (the other may still log).
      if (idx >= 0) this.#retained.retain(target);
    }
  }

  #decide(rec: ConnectionRecord, code: VerdictCode, summary: string): void {
    if (this.#judged.has(rec.id)) return;
    this.#judged.add(rec.id);
    const f = VERDICT_FIX[code];
    const v: Verdict = {
      code,
      summary,
      evidence: rec.events.map((e) => `${rec.id}: ${e.summary}`),
      fix: f.fix,
      connectionId: rec.id,
    };
    if (f.side) v.side = f.side;
    this.bus.emit({
      source: 'diagnose',
      kind: 'verdict',
      scope: rec.id,
      summary: `${code}: ${summary}`,
      data: { verdict: v },
    });
    this.verdictLog.add(v);
  }

  /** In-process publish/subscribe go through an mqtt.js client with the PKI's client certificate. */
  async #mqtt(): Promise<mqtt.MqttClient> {
    if (this.#client) return this.#client;
    const tlsOn = this.profile !== 'plain';
    this.#client = await mqtt.connectAsync(this.url, {
      clientId: `bx-hil-rig-${process.pid}`,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...(tlsOn
        ? {
            ca: this.pki.ca.certPem,
            cert: this.pki.client?.certPem,
            key: this.pki.client?.keyPem,
            servername: 'localhost',
          }
        : {}),
    });
    return this.#client;
  }

  async publish(
    topic: string,
    payload: string | Buffer,
    options: { qos?: 0 | 1; retain?: boolean } = {},
  ): Promise<void> {
    const c = await this.#mqtt();
    await c.publishAsync(topic, payload, { qos: options.qos ?? 0, retain: options.retain ?? false });
  }

  async subscribe(topic: string, cb: (topic: string, payload: Buffer) => void): Promise<() => Promise<void>> {
    const c = await this.#mqtt();
    const onMessage = (t: string, p: Buffer): void => {
      if (topicMatches(topic, t)) cb(t, p);
    };
    c.on('message', onMessage);
    await c.subscribeAsync(topic, { qos: 1 });
    return async () => {
      c.removeListener('message', onMessage);
      await c.unsubscribeAsync(topic);
    };
  }

  setFaults(partial: BrokerFaults): void {
    if (Object.keys(partial).length > 0) {
      throw new ConfigError(
        'faults',
        Object.keys(partial),
        'fault injection is only available on the aedes rig (startBrokerRig); Mosquitto cannot withhold packets or stall handshakes',
      );
    }
  }

  async restart(): Promise<void> {
    await this.#stopProcess();
    await this.start();
  }

  async #stopProcess(): Promise<void> {
    if (this.#client) {
      const c = this.#client;
      this.#client = undefined;
      await c.endAsync(true).catch(() => undefined);
    }
    await this.#place?.stop();
    const p = this.#proc;
    this.#proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => p.kill('SIGKILL'), 3000);
      p.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      p.kill('SIGTERM');
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.verdictLog.clearListeners();
    try {
      await this.#stopProcess();
    } finally {
      rmSync(this.#dir, { recursive: true, force: true });
    }
  }
}

/** A readiness probe of MosquittoRig.start(): the connection that asks "listening yet?". */
interface ReadinessProbe {
  /** Its source address (undefined when the rig's host is a name, not an address). */
  address: string | undefined;
  /** Its source port, chosen before connecting. */
  port: number;
  /** Mosquitto has logged its accept line. */
  accepted: boolean;
  /** Resolves once Mosquitto has logged the end of the probe's connection. */
  logged: Promise<void>;
  settle(): void;
}

/** MQTT topic filter match (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
