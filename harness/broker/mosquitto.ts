/**
 * External brokers behind the BrokerRig interface: a Mosquitto process (config written by the
 * rig, log read into the evidence, log lines mapped to verdicts) and a broker container through
 * testcontainers (loaded lazily; without an engine it says why it cannot start).
 *
 * Mosquitto's log is coarser than the aedes rig's front door: no ClientHello, and "certificate
 * verify failed" does not say which check failed (docs/reference/aws-iot-and-mosquitto.md §4.2 [MEASURED]).
 * Log lines carry no connection id for TLS errors, so they are attributed to the most recent
 * connection still open (Mosquitto is single-threaded and logs in order).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type * as Testcontainers from 'testcontainers';
import { closeAll, ConfigError } from '../errors.ts';
import { EvidenceBus, type EvidenceEvent } from '../evidence.ts';
import { createBasicPki } from '../pki/factory.ts';
import { BrokerStartError, NoContainerRuntimeError } from './errors.ts';
import { VerdictLog } from './verdict-log.ts';
import type { BrokerFaults, BrokerRig, ConnectionRecord, ProfileName, Verdict, VerdictCode } from './types.ts';
import { VERDICT_FIX } from './verdict.ts';
import { freePort, killOnExit, pollUntil, WaitTimeoutError } from '../processes.ts';

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
}

/** Log line -> what it tells (§4.2 [MEASURED] and docs/reference/dependencies.md §2.8). */
const LOG_RULES: Array<{ re: RegExp; code: VerdictCode; summary: (m: RegExpExecArray) => string }> = [
  {
    re: /peer did not return a certificate/,
    code: 'NO_CLIENT_CERT',
    summary: () => 'The device did not send a client certificate, and Mosquitto requires one.',
  },
  {
    re: /certificate verify failed/,
    code: 'CLIENT_CERT_UNTRUSTED',
    summary: () =>
      "Mosquitto could not verify the device certificate (untrusted CA, expired or not yet valid: Mosquitto's log does not say which).",
  },
  {
    re: /unsupported protocol|version too low/,
    code: 'TLS_VERSION_MISMATCH',
    summary: () => 'The device and Mosquitto have no TLS version in common.',
  },
  {
    re: /no shared cipher/,
    code: 'NO_SHARED_CIPHER',
    summary: () => 'The device and Mosquitto have no cipher suite in common.',
  },
  {
    re: /(?:sslv3|tlsv1|tlsv13) alert (unknown ca|bad certificate|certificate expired|certificate unknown|unsupported certificate|decrypt error)/,
    code: 'DEVICE_REJECTED_SERVER_CERT',
    summary: (m) => `The device rejected Mosquitto's certificate (alert ${m[1]!.replace(/ /g, '_')}).`,
  },
  {
    re: /wrong version number|http request|packet length too long|record layer failure/,
    code: 'PLAINTEXT_ON_TLS_PORT',
    summary: () => 'The device did not speak TLS on the TLS port.',
  },
  {
    re: /bad signature|digest check failed/,
    code: 'KEY_MISMATCH',
    summary: () => "The device's CertificateVerify failed: its key does not match its certificate.",
  },
  {
    re: /disconnected, not authori[sz]ed|not authori[sz]ed/,
    code: 'CONNECT_REFUSED',
    summary: () => 'Mosquitto refused the CONNECT (not authorised).',
  },
];

/** Start Mosquitto with a generated config; killed in close() and on process exit. */
export async function startMosquittoRig(options: MosquittoRigOptions = {}): Promise<BrokerRig> {
  const host = options.host ?? '127.0.0.1';
  const profile = options.profile ?? 'mosquitto-like';
  const port = options.port ?? (await freePort(host));
  if (!Number.isInteger(port) || port <= 0 || port > 65535)
    throw new ConfigError('port', port, 'port must be 1..65535 for Mosquitto (omit it to pick a free one)');
  const pki = options.pki ?? (await createBasicPki());
  const rig = new MosquittoRig(host, port, profile, pki, options);
  try {
    await rig.start();
  } catch (err) {
    await rig.close().catch(() => undefined);
    throw err;
  }
  return rig;
}

/** A container to run Mosquitto in (testcontainers), instead of a local process. */
interface ContainerLaunch {
  tc: TestcontainersModule;
  image: string;
  /** CONTAINER_LABEL, this rig's CONTAINER_ID_LABEL and the caller's labels. */
  labels: Record<string, string>;
  startTimeoutMs: number;
}

/** Every container the rig starts carries `org.bx-hil.rig=container` (`docker ps -a --filter label=…`). */
export const CONTAINER_LABEL = 'org.bx-hil.rig';
/** One value per rig: close() removes whatever carries it, even after a start that failed half-way. */
const CONTAINER_ID_LABEL = 'org.bx-hil.rig-id';
const CONTAINER_DIR = '/mosquitto/config';
/** Mosquitto 2 logs this once every listener is open: the container's readiness event. */
const RUNNING_LINE = /mosquitto version \S+ running/;

class MosquittoRig implements BrokerRig {
  readonly kind: 'mosquitto' | 'container';
  readonly records: ConnectionRecord[] = [];
  readonly bus: EvidenceBus;
  readonly #opts: MosquittoRigOptions;
  readonly #dir: string;
  readonly #verdicts: VerdictLog;
  readonly #open: ConnectionRecord[] = [];
  readonly #judged = new Set<string>();
  readonly #logLines: string[] = [];
  #proc: ChildProcess | undefined;
  readonly #container: ContainerLaunch | undefined;
  #started: { stop(): Promise<unknown> } | undefined;
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
    container?: ContainerLaunch,
  ) {
    this.#host = host;
    this.#port = port;
    this.#container = container;
    this.kind = container ? 'container' : 'mosquitto';
    this.#verdicts = new VerdictLog(this.kind);
    this.#opts = opts;
    this.bus = opts.bus ?? new EvidenceBus();
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
  #writeConfig(confDir = this.#dir, listener = `listener ${this.port} ${this.host}`): string {
    const d = this.#dir;
    const at = (name: string): string => `${confDir}/${name}`;
    const tlsOn = this.profile !== 'plain';
    const lines = [
      'per_listener_settings true',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      'connection_messages true',
      listener,
    ];
    if (tlsOn) {
      writeFileSync(join(d, 'ca.pem'), [this.pki.ca, ...(this.pki.extraCa ?? [])].map((c) => c.certPem).join(''));
      writeFileSync(join(d, 'server.pem'), this.pki.server.certPem);
      writeFileSync(join(d, 'server.key'), this.pki.server.keyPem, { mode: 0o600 });
      lines.push(
        `cafile ${at('ca.pem')}`,
        `certfile ${at('server.pem')}`,
        `keyfile ${at('server.key')}`,
        `tls_version ${this.#opts.tlsVersion ?? 'tlsv1.2'}`,
      );
      if (this.profile === 'tls-server-only') lines.push('require_certificate false', 'allow_anonymous true');
      else lines.push('require_certificate true', 'use_identity_as_username true', 'allow_anonymous false');
    } else {
      lines.push('allow_anonymous true');
    }
    lines.push(...(this.#opts.extraConfig ?? []));
    const conf = join(d, 'mosquitto.conf');
    writeFileSync(conf, `${lines.join('\n')}\n`);
    // P11: Mosquitto started as root drops to user "mosquitto" before reading its key.
    if (process.getuid?.() === 0) {
      const gid = mosquittoGid();
      chmodSync(d, 0o750);
      if (gid !== undefined) {
        chownSync(d, 0, gid);
        if (tlsOn) {
          chownSync(join(d, 'server.key'), 0, gid);
          chmodSync(join(d, 'server.key'), 0o640);
        }
      } else {
        chmodSync(d, 0o755);
        if (tlsOn) chmodSync(join(d, 'server.key'), 0o644);
      }
    }
    return conf;
  }

  /**
   * Network rule: only loopback carries test traffic. The container shares the host's network
   * (no bridge, no port mapping) and Mosquitto listens on `host:port` (127.0.0.1 and a free
   * port), exactly as the local process does. Ready when Mosquitto logs that it is running,
   * which it does after opening its listeners: no probe connection, so nothing to filter out.
   */
  async #startContainer(c: ContainerLaunch): Promise<void> {
    this.#writeConfig(CONTAINER_DIR);
    const names =
      this.profile === 'plain' ? ['mosquitto.conf'] : ['mosquitto.conf', 'ca.pem', 'server.pem', 'server.key'];
    this.#started = await new c.tc.GenericContainer(c.image)
      .withNetworkMode('host')
      .withLabels(c.labels)
      .withCopyContentToContainer(
        names.map((n) => ({ content: readFileSync(join(this.#dir, n)), target: `${CONTAINER_DIR}/${n}`, mode: 0o644 })),
      )
      .withCommand(['mosquitto', '-c', `${CONTAINER_DIR}/mosquitto.conf`])
      .withLogConsumer((logs) => {
        logs.on('data', (d: Buffer | string) => this.#onLog(d.toString()));
        // The log stream ends with the container; an error on it is kept as a log line.
        logs.on('error', (err: Error) => this.#onLog(`container log stream: ${err.message}\n`));
      })
      .withWaitStrategy(c.tc.Wait.forLogMessage(RUNNING_LINE))
      .withStartupTimeout(c.startTimeoutMs)
      .start();
  }

  /** The last lines of Mosquitto's log (for start errors). */
  get logTail(): string {
    return this.#logLines.slice(-20).join('\n');
  }

  /** Remove every container of this rig (stopped or not): what `stop()` removed, or a half-started one. */
  async #removeContainers(c: ContainerLaunch): Promise<void> {
    const client = await c.tc.getContainerRuntimeClient();
    const docker = client.container.dockerode;
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`${CONTAINER_ID_LABEL}=${c.labels[CONTAINER_ID_LABEL]}`] },
    });
    for (const info of left) await docker.getContainer(info.Id).remove({ force: true, v: true });
  }

  async start(): Promise<void> {
    if (this.#container) {
      await this.#startContainer(this.#container);
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
    const accept = /^New connection from ([\d.:a-f]+?):(\d+) on port/.exec(line);
    if (accept) {
      if (Number(accept[2]) !== probe.port || (probe.address && accept[1] !== probe.address)) return false;
      probe.accepted = true;
      return true;
    }
    const failed = /^Client connection from (\S+) failed: /.exec(line);
    if (failed && (!probe.address || failed[1] === probe.address) && this.#open.length === 0) {
      probe.settle();
      return true;
    }
    if (!probe.accepted || this.#open.length > 0) return false;
    if (/^Client <unknown> (?:disconnected|closed its connection|has exceeded timeout)/.test(line)) probe.settle();
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

  #onLine(line: string): void {
    if (this.#starting) return;
    if (this.#probeLine(line)) return;
    const accept = /^New connection from ([\d.:a-f]+?):(\d+) on port (\d+)/.exec(line);
    if (accept) {
      const rec: ConnectionRecord = {
        id: `conn-${++this.#seq}`,
        remote: `${accept[1]}:${accept[2]}`,
        events: [],
        listener: 'main',
        mqtt: { packets: [] },
        faults: [],
      };
      this.records.push(rec);
      this.#open.push(rec);
      this.#record(rec, 'accept', `mosquitto: ${line}`);
      return;
    }
    const failed = /^Client connection from (\S+) failed: (.*)$/.exec(line);
    if (failed) {
      // Mosquitto logs a handshake that fails on the very first record without a "New connection" line.
      const rec: ConnectionRecord = {
        id: `conn-${++this.#seq}`,
        remote: failed[1]!,
        events: [],
        listener: 'main',
        mqtt: { packets: [] },
        faults: [],
      };
      this.records.push(rec);
      this.#record(rec, 'log', `mosquitto: ${line}`);
      rec.end = { by: 'server', reason: line, t: this.bus.clock.now() };
      const rule = LOG_RULES.find((r) => r.re.test(failed[2]!));
      const m = rule?.re.exec(failed[2]!);
      this.#decide(
        rec,
        rule?.code ?? 'HANDSHAKE_ABORTED',
        rule && m ? rule.summary(m) : `Mosquitto refused the connection: ${failed[2]}`,
      );
      return;
    }
    const connected =
      /^New client connected from ([\d.:a-f]+?):(\d+) as (\S+) \(p(\d), c(\d), k(\d+)(?:, u'([^']*)')?\)/.exec(line);
    if (connected) {
      const rec = this.#open.find((r) => r.remote === `${connected[1]}:${connected[2]}`) ?? this.#open.at(-1);
      if (!rec) return;
      rec.mqtt.connect = {
        clientId: connected[3]!,
        protocolVersion: Number(connected[4]) === 2 ? 4 : Number(connected[4]),
        keepalive: Number(connected[6]),
        clean: connected[5] === '1',
        password: 'absent',
      };
      if (connected[7] !== undefined) rec.mqtt.connect.username = connected[7];
      rec.mqtt.connack = { returnCode: 0, sessionPresent: false };
      this.#record(rec, 'connected', `mosquitto: ${line}`);
      this.#decide(rec, 'OK', `The device connected to Mosquitto as "${connected[3]}".`);
      return;
    }
    const rec = this.#open.at(-1);
    if (!rec) return;
    this.#record(rec, 'log', `mosquitto: ${line}`);
    for (const rule of LOG_RULES) {
      const m = rule.re.exec(line);
      if (m) {
        this.#decide(rec, rule.code, rule.summary(m));
        break;
      }
    }
    const gone =
      /^Client (\S+) (?:disconnected|closed its connection|has exceeded timeout)/.exec(line) ??
      /^Client (\S+) already connected, closing old connection/.exec(line);
    if (gone) {
      const idx = this.#open.findIndex((r) =>
        gone[1] === '<unknown>' ? !r.mqtt.connect : r.mqtt.connect?.clientId === gone[1],
      );
      const target = idx >= 0 ? this.#open[idx]! : rec;
      if (idx >= 0) this.#open.splice(idx, 1);
      target.end = {
        by: /closed its connection|disconnected\.$/.test(line) ? 'client' : 'server',
        reason: line,
        t: this.bus.clock.now(),
      };
      if (!this.#judged.has(target.id)) {
        this.#decide(
          target,
          target.mqtt.connect ? 'UNKNOWN' : 'HANDSHAKE_ABORTED',
          `Mosquitto closed the connection: ${line}`,
        );
      }
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
    this.#verdicts.add(v);
  }

  get verdicts(): Verdict[] {
    return this.#verdicts.verdicts;
  }

  waitForVerdict(filter?: (v: Verdict) => boolean, timeoutMs?: number): Promise<Verdict> {
    return this.#verdicts.waitForVerdict(filter, timeoutMs);
  }

  onVerdict(cb: (v: Verdict) => void): () => void {
    return this.#verdicts.onVerdict(cb);
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
    const container = this.#container;
    if (container) {
      const started = this.#started;
      this.#started = undefined;
      // Stop (which removes), then sweep by label whatever is left; both run, failures collected.
      await closeAll([() => this.#removeContainers(container), () => started?.stop()], 'container rig');
    }
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
    this.#verdicts.clearListeners();
    try {
      await this.#stopProcess();
    } finally {
      rmSync(this.#dir, { recursive: true, force: true });
    }
  }
}

function mosquittoGid(): number | undefined {
  const r = spawnSync('getent', ['group', 'mosquitto'], { encoding: 'utf8' });
  const gid = Number(r.stdout?.split(':')[2]);
  return Number.isInteger(gid) ? gid : undefined;
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

type TestcontainersModule = typeof Testcontainers;

export interface ContainerRigOptions {
  /**
   * Default `eclipse-mosquitto:2`, pulled when missing (docs/reference/dependencies.md §2.6: there is no
   * mosquitto module; use GenericContainer). Without registry access, build it offline with
   * ci/build-broker-image.sh (docs/broker.md).
   */
  image?: string;
  /** Default `mosquitto-like`. */
  profile?: ProfileName;
  pki?: BrokerRig['pki'];
  bus?: EvidenceBus;
  tlsVersion?: MosquittoRigOptions['tlsVersion'];
  extraConfig?: string[];
  /** Default 127.0.0.1: the container shares the host's network and Mosquitto listens here. */
  host?: string;
  /** Default: a free port found by binding port 0 first. */
  port?: number;
  /** Extra container labels (e.g. a CI job id), beside `org.bx-hil.rig=container`. */
  labels?: Record<string, string>;
  /** Bound on creating the container and waiting for Mosquitto. Default 60000 (a 2-core CI with vfs copies the image per container). */
  startTimeoutMs?: number;
}

type RuntimeClient = Awaited<ReturnType<TestcontainersModule['getContainerRuntimeClient']>>;

/** testcontainers, loaded lazily, and the engine it found; BXHIL_NO_CONTAINER_RUNTIME when there is none. */
async function containerRuntime(): Promise<{ tc: TestcontainersModule; client: RuntimeClient }> {
  let tc: TestcontainersModule;
  try {
    tc = await import('testcontainers');
  } catch (err) {
    throw new NoContainerRuntimeError(
      'testcontainers is not installed: npm install --save-dev testcontainers@11.14.0 (P8: not 12.x on Node 20)',
      { cause: err },
    );
  }
  // The rig never uses testcontainers' idea of where the engine's host is: Mosquitto shares the
  // host's network and listens on 127.0.0.1. But inside a container (/.dockerenv), testcontainers
  // looks that host up as the gateway of the `bridge` network and, on an engine without one
  // (CI: dockerd --bridge=none), gives up on the engine altogether; its fallback runs an alpine
  // image, which cannot be pulled without a registry. Naming the host ends the lookup.
  process.env['TESTCONTAINERS_HOST_OVERRIDE'] ??= '127.0.0.1';
  try {
    return { tc, client: await tc.getContainerRuntimeClient() };
  } catch (err) {
    throw new NoContainerRuntimeError(
      `no container runtime: ${(err as Error).message}. Start a Docker engine (or set DOCKER_HOST), or use startMosquittoRig() with the local mosquitto binary`,
      { cause: err },
    );
  }
}

/**
 * Whether startContainerRig() can reach an engine, found the same way it finds one: the
 * engine's version, or why not (for a skip reason).
 */
export async function probeContainerRuntime(): Promise<{ ok: true; engine: string } | { ok: false; reason: string }> {
  try {
    const { client } = await containerRuntime();
    const { serverVersion, operatingSystem } = client.info.containerRuntime;
    return { ok: true, engine: `Docker ${serverVersion} on ${operatingSystem}` };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

/**
 * Mosquitto in a container via testcontainers, loaded lazily, behind the same interface and log
 * mapping as startMosquittoRig. The container uses the host's network and Mosquitto listens on
 * 127.0.0.1 on a free port (only loopback carries test traffic). Without a Docker/Podman engine
 * it rejects fast with BXHIL_NO_CONTAINER_RUNTIME (docs/reference/dependencies.md §2.6: the runtime probe
 * fails in a few ms). close() removes the container, also after a failed start.
 */
export async function startContainerRig(options: ContainerRigOptions = {}): Promise<BrokerRig> {
  const { tc, client } = await containerRuntime();
  // Ryuk, testcontainers' reaper, is a helper container that removes ours if this process dies.
  // Its image must be pulled, and where no registry is reachable (CI here: only npm and Debian)
  // that pull fails and takes every container start with it. So when its image is not present
  // and the user has not chosen, run without it: close() removes the container (stop, then a
  // sweep by this rig's label), and only a killed process can leave one behind.
  if (process.env['TESTCONTAINERS_RYUK_DISABLED'] === undefined) {
    const { REAPER_IMAGE } = await import('testcontainers/build/reaper/reaper.js');
    if (!(await client.image.exists(tc.ImageName.fromString(REAPER_IMAGE))))
      process.env['TESTCONTAINERS_RYUK_DISABLED'] = 'true';
  }
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (await freePort(host));
  if (!Number.isInteger(port) || port <= 0 || port > 65535)
    throw new ConfigError('port', port, 'port must be 1..65535 for the container rig (omit it to pick a free one)');
  const pki = options.pki ?? (await createBasicPki());
  const mosqOptions: MosquittoRigOptions = {};
  if (options.bus) mosqOptions.bus = options.bus;
  if (options.tlsVersion) mosqOptions.tlsVersion = options.tlsVersion;
  if (options.extraConfig) mosqOptions.extraConfig = options.extraConfig;
  const image = options.image ?? 'eclipse-mosquitto:2';
  const pulled = !(await client.image.exists(tc.ImageName.fromString(image)));
  const rig = new MosquittoRig(host, port, options.profile ?? 'mosquitto-like', pki, mosqOptions, {
    tc,
    image,
    labels: { ...options.labels, [CONTAINER_LABEL]: 'container', [CONTAINER_ID_LABEL]: randomUUID() },
    startTimeoutMs: options.startTimeoutMs ?? 60_000,
  });
  try {
    await rig.start();
  } catch (err) {
    const closing = await rig.close().then(
      () => '',
      (e: unknown) => `; removing the container failed too: ${(e as Error).message}`,
    );
    throw new BrokerStartError(
      'container',
      `the Mosquitto container did not start: ${(err as Error).message}${closing}` +
        (pulled ? `; ${image} was not present: pull it, or build it offline with ci/build-broker-image.sh` : '') +
        (rig.logTail ? `; its log says:\n${rig.logTail.split('\n').slice(-5).join('\n')}` : ''),
      rig.logTail,
      { cause: err },
    );
  }
  return rig;
}
