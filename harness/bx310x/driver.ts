/**
 * `Bx310x`: the typed driver of a Sierra Wireless BX310x module over an `AtEngine`.
 *
 * - State is explicit and guarded (labgrid's BindingState, STYLE.md §7): `open`, `dataMode`
 *   (an upload is in progress), `broken`, `closed`. Every public method checks it; a wrong call
 *   gives `StateError` naming the method and the state.
 * - `broken` (labgrid's `never_retry`): when the link is lost or the module stays unresponsive
 *   after a resync, every later call fails at once with `StateError` whose `cause` is the
 *   original error, instead of more timeouts.
 * - Parameters are checked and quoted before anything is sent (`ParameterError`, BXHIL_PARAM).
 * - Secrets: private-key uploads are sent with `secret: true` (length + SHA-256 in the
 *   transcript, never the bytes); MQTT and Wi-Fi passwords are registered with the engine and
 *   appear as `<<redacted>>`.
 * - The driver owns the link once `open()` resolved: `close()` closes the engine, then the link.
 */
import { EventEmitter } from 'node:events';
import { ConfigError, StateError } from '../errors.ts';
import type { EvidenceBus } from '../evidence.ts';
import { openLink, type Link } from '../link/index.ts';
import { AtEngine, AtResyncError, AtTimeoutError, parseParams, type AtEngineOptions, type Urc } from '../at/index.ts';
import { MqttSessionError, ParameterError, ResponseParseError, WifiError } from './errors.ts';
import { bit, checkString, intIn, optionalQuoted, quoted, wire } from './params.ts';
import {
  KMQTT_IND,
  toMqttInd,
  toMqttMessage,
  toWifiEvent,
  WIFI_REASONS,
  type MqttInd,
  type MqttMessage,
  type WifiEvent,
} from './urc.ts';

export type Bx310xState = 'closed' | 'open' | 'dataMode' | 'broken';

export interface Bx310xOptions {
  /** Evidence bus for the engine's (`source: 'at'`) events. Default: none. */
  bus?: EvidenceBus;
  /** Timeout of one AT command, ms. Default 5000 (5 s). */
  defaultTimeoutMs?: number;
  /** Write the AT transcript to this file. Default: none. */
  transcriptPath?: string;
  /** Evidence scope, e.g. `dev0`. Default: none. */
  scope?: string;
  /** Guard time before and after `+++` of uploads, ms. Default 1000 (1 s); [BX-T] 1500, [BX-L] 100. */
  guardTimeMs?: number;
  /** Wait for `READY` after AT+RST / AT&F, ms. Default 15000 (15 s). */
  resetTimeoutMs?: number;
  /** Wait for `+KMQTT_IND: <id>,1` after AT+KMQTTCNX's OK, ms. Default 30000 (30 s; [3P] HL7811 waits 30 s). */
  connectTimeoutMs?: number;
  /** Wait for `+KMQTT_IND: <id>,4` after a QoS >= 1 publish, ms. Default 12000 (12 s, as [BX-L]). */
  pubAckTimeoutMs?: number;
  /**
   * SUBACK/UNSUBACK URCs (`+KMQTT_IND: <id>,2/3`) are HL-confirmed but not seen in BX sources
   * [guess for BX]. `require`: wait for them (fail on timeout); `none`: do not wait; `auto`
   * (default): wait up to `subAckTimeoutMs` the first time, then keep waiting only if the
   * firmware sent one.
   */
  subAck?: 'auto' | 'require' | 'none';
  /** Bounded wait for SUBACK/UNSUBACK URCs, ms. Default 2000 (2 s). */
  subAckTimeoutMs?: number;
  /** Wait for the Wi-Fi join (`+SRWSTAIP`), ms. Default 30000 (30 s). */
  wifiTimeoutMs?: number;
  /** Send `AT` until `OK` when opening. Default true. */
  sync?: boolean;
  /** Lower-level engine options (timers, resync bounds, URC registry). */
  engine?: Omit<AtEngineOptions, 'bus' | 'scope' | 'defaultTimeoutMs' | 'transcriptPath'>;
}

export type ParsedBx310xOptions = Required<Omit<Bx310xOptions, 'bus' | 'transcriptPath' | 'scope' | 'engine'>> &
  Pick<Bx310xOptions, 'bus' | 'transcriptPath' | 'scope' | 'engine'>;

const DEFAULTS = Object.freeze({
  defaultTimeoutMs: 5_000, // 5 s
  guardTimeMs: 1_000, // 1 s
  resetTimeoutMs: 15_000, // 15 s
  connectTimeoutMs: 30_000, // 30 s
  pubAckTimeoutMs: 12_000, // 12 s
  subAck: 'auto' as const,
  subAckTimeoutMs: 2_000, // 2 s
  wifiTimeoutMs: 30_000, // 30 s
  sync: true,
});

/** Validate driver options once, at the edge. */
export function parseBx310xOptions(input: Bx310xOptions = {}): ParsedBx310xOptions {
  const o = {
    ...DEFAULTS,
    ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
  } as ParsedBx310xOptions;
  for (const f of [
    'defaultTimeoutMs',
    'guardTimeMs',
    'resetTimeoutMs',
    'connectTimeoutMs',
    'pubAckTimeoutMs',
    'subAckTimeoutMs',
    'wifiTimeoutMs',
  ] as const) {
    const v = o[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (f !== 'guardTimeMs' && v === 0)) {
      throw new ConfigError(f, v, `${f} must be a positive number of milliseconds, got ${String(v)}`);
    }
  }
  if (!['auto', 'require', 'none'].includes(o.subAck))
    throw new ConfigError('subAck', o.subAck, `subAck must be auto, require or none, got ${String(o.subAck)}`);
  return o;
}

/**
 * One MQTT session of `AT+KMQTTCFG` (docs/reference/bx310x-at.md §6.1): the 14 parameters in order.
 * Strings must not contain `"`, CR or LF (the module cannot carry them).
 */
export interface MqttSessionConfig {
  /** Param 1 `<secure>`: TLS (true) or plain TCP. Default false. The read form does not echo it, so `mqttSessions()` leaves it undefined. */
  secure?: boolean;
  /** Param 2 `<server>`: host name or IP. Required. */
  server: string;
  /** Param 3 `<port>`, 0..65535. Default 8883 when `secure`, else 1883. */
  port?: number;
  /** Param 4 `<version>`: 3 = MQTT 3.1, 4 = MQTT 3.1.1. Default 4. */
  version?: 3 | 4;
  /** Param 5 `<clientid>`. Required, non-empty. */
  clientId: string;
  /** Param 6 `<keepAlive>`, seconds, 0..65535. Default 60 (60 s). */
  keepAliveSeconds?: number;
  /** Param 7 `<cleanSession>`. Default true. */
  cleanSession?: boolean;
  /** Param 8 `<willFlag>`. Default false. */
  willFlag?: boolean;
  /** Param 9 `<willTopic>`. Default '' (sent as an empty field). */
  willTopic?: string;
  /** Param 10 `<willMessage>`. Default ''. */
  willMessage?: string;
  /** Param 11 `<willRetain>`. Default false. */
  willRetain?: boolean;
  /** Param 12 `<willQos>`, 0..2. Default 0. */
  willQos?: 0 | 1 | 2;
  /** Param 13 `<username>`. Default ''. */
  username?: string;
  /** Param 14 `<password>`. Default ''. Redacted from the transcript and the evidence. */
  password?: string;
}

export type MqttSessionInfo = Required<Omit<MqttSessionConfig, 'secure'>> & { id: number; secure?: boolean };

export interface CertInfo {
  index: number;
  /** Stored length in bytes, as the module reports it. */
  length: number;
  /** The stored PEM as echoed by the read form [BX-T] (line ends rebuilt to match `length` when possible). */
  pem: string;
}

export type WifiMode = 0 | 1 | 2 | 3 | 'off' | 'station' | 'ap' | 'station+ap';
export type WifiCountry = 0 | 1 | 2 | 3 | 'CN' | 'JP' | 'US' | 'EU';

export interface Bx310xEvents {
  message: [MqttMessage];
  mqttInd: [MqttInd];
  wifi: [WifiEvent];
}

const MODE: Record<string, number> = { off: 0, station: 1, ap: 2, 'station+ap': 3 };
const COUNTRY: Record<string, number> = { CN: 0, JP: 1, US: 2, EU: 3 };

export class Bx310x extends EventEmitter<Bx310xEvents> {
  readonly at: AtEngine;
  readonly link: Link;
  readonly options: ParsedBx310xOptions;
  #state: Bx310xState = 'open';
  #brokenBy: unknown;
  #closing: Promise<void> | undefined;
  #subAckSeen: boolean | undefined;
  readonly #unsubscribe: () => void;
  readonly #onLinkClose = (err: Error | undefined): void => {
    if (err && this.#state !== 'closed') this.#break(err);
  };

  /** Use `Bx310x.open()`; the constructor takes an open link and does no I/O. */
  constructor(link: Link, options: Bx310xOptions = {}) {
    super();
    this.options = parseBx310xOptions(options);
    this.link = link;
    this.at = new AtEngine(link, {
      ...this.options.engine,
      bus: this.options.bus,
      scope: this.options.scope,
      defaultTimeoutMs: this.options.defaultTimeoutMs,
      transcriptPath: this.options.transcriptPath,
    });
    this.#unsubscribe = this.at.onUrc((urc) => this.#urc(urc));
    link.on('close', this.#onLinkClose);
  }

  /**
   * Open a device: a URI (`openLink`, e.g. `serial:/dev/ttyUSB0`, `tcp://host:port`) or an
   * open `Link`. Sends `AT` until `OK` unless `sync: false`. On failure, what was built is
   * closed (the link too when it was opened here) and the error is thrown.
   */
  static async open(target: string | Link, options: Bx310xOptions = {}): Promise<Bx310x> {
    parseBx310xOptions(options);
    const link = typeof target === 'string' ? await openLink(target) : target;
    let device: Bx310x | undefined;
    try {
      device = new Bx310x(link, options);
      if (device.options.sync) await device.at.sync();
      return device;
    } catch (err) {
      await device?.at.close();
      device?.removeAllListeners();
      if (typeof target === 'string') await link.close().catch(() => undefined);
      throw err;
    }
  }

  get state(): Bx310xState {
    return this.#state;
  }

  /** The error that broke the rig, when `state` is `broken`. */
  get brokenBy(): unknown {
    return this.#brokenBy;
  }

  // ---- identity and module control ----------------------------------------------------

  /** `ATI` (model), `AT+CGMR` (firmware, first line), `AT+FMM` (family) [BX-T, BX-L]. */
  identity(): Promise<{ model: string; firmware: string; family: string }> {
    return this.#op('identity', async () => {
      const model = firstLine(await this.at.command('ATI'), 'ATI');
      const firmware = firstLine(await this.at.command('AT+CGMR'), 'AT+CGMR');
      const family = firstLine(await this.at.command('AT+FMM'), 'AT+FMM');
      return { model, firmware, family };
    });
  }

  setEcho(on: boolean): Promise<void> {
    return this.#op('setEcho', async () => {
      await this.at.command(on ? 'ATE1' : 'ATE0');
    });
  }

  /** `AT+RST`: OK, then wait for `READY` [BX-T, BX-L]. */
  reset(): Promise<void> {
    return this.#op('reset', () => this.#restart('AT+RST'));
  }

  /** `AT&F`: OK, then wait for `READY` [BX-T, BX-L]. */
  factoryReset(): Promise<void> {
    return this.#op('factoryReset', () => this.#restart('AT&F'));
  }

  async #restart(cmd: string): Promise<void> {
    const since = this.at.marker();
    await this.at.command(cmd, { expectReset: true });
    // What was learnt about SUBACK URCs stays: a reset does not change the firmware.
    await this.at.expect((u) => u.name === 'READY', { since, timeoutMs: this.options.resetTimeoutMs });
  }

  // ---- certificates and keys (docs/reference/bx310x-at.md §3) -------------------------------------------

  /**
   * `AT+KCERTSTORE=<0|1>,<NbData>[,<index>]`, CONNECT, the PEM bytes, guard, `+++`, guard, OK.
   * `nbData` defaults to the exact byte length sent; `'omit'` leaves it out ([BX-L] style,
   * `AT+KCERTSTORE=1,,<index>` [BX-T]). Local certificates use `index` (default 0); the root
   * certificate sends an index only when one is given.
   */
  storeCert(
    kind: 'root' | 'local',
    pem: string | Buffer,
    opts: { index?: number; nbData?: number | 'omit'; guardTimeMs?: number } = {},
  ): Promise<void> {
    return this.#op('storeCert', async () => {
      const type = certType(kind);
      const bytes = payloadBytes('pem', pem);
      const index =
        opts.index === undefined
          ? undefined
          : intIn('index', opts.index, 0, 2, 'docs/reference/bx310x-at.md §3.1: 1 root and 3 local slots');
      const nb =
        opts.nbData === 'omit'
          ? ''
          : String(intIn('nbData', opts.nbData ?? bytes.length, 1, 3000, 'docs/reference/bx310x-at.md §3.1'));
      const cmd =
        type === 0
          ? `AT+KCERTSTORE=0${nb !== '' || index !== undefined ? `,${nb}` : ''}${index !== undefined ? `,${index}` : ''}`
          : `AT+KCERTSTORE=1,${nb},${index ?? 0}`;
      await this.#upload(cmd, bytes, { guardTimeMs: opts.guardTimeMs, secret: false });
    });
  }

  /** `AT+KCERTSTORE?` read form [BX-T]: the root certificate (if any) and the local ones, with their PEM. */
  listCerts(): Promise<{ root?: CertInfo; local: CertInfo[] }> {
    return this.#op('listCerts', async () => {
      const { lines } = await this.at.command('AT+KCERTSTORE?');
      const out: { root?: CertInfo; local: CertInfo[] } = { local: [] };
      let current: { kind: string; index: number; length: number; body: string[] } | undefined;
      const flush = (): void => {
        if (!current) return;
        const info: CertInfo = {
          index: current.index,
          length: current.length,
          pem: rebuildPem(current.body, current.length),
        };
        if (current.kind === 'root_cert') out.root = info;
        else out.local.push(info);
        current = undefined;
      };
      for (const line of lines) {
        if (line === '+KCERTSTORE' || line.startsWith('+KCERTSTORE:')) continue;
        const m = /^(root_cert|local_cert),(\d+),(\d+)$/.exec(line.trim());
        if (m) {
          flush();
          current = { kind: m[1]!, index: Number(m[2]), length: Number(m[3]), body: [] };
        } else if (current) {
          current.body.push(line);
        } else {
          throw new ResponseParseError(
            'AT+KCERTSTORE?',
            line,
            '+KCERTSTORE, root_cert,<i>,<len> or local_cert,<i>,<len>',
          );
        }
      }
      flush();
      return out;
    });
  }

  /** `AT+KCERTDELETE=0[,<index>]` or `AT+KCERTDELETE=1,<index>` (local default index 0) [BX-T]. */
  deleteCert(kind: 'root' | 'local', index?: number): Promise<void> {
    return this.#op('deleteCert', async () => {
      const type = certType(kind);
      const i = index === undefined ? undefined : intIn('index', index, 0, 2, 'docs/reference/bx310x-at.md §3.2');
      await this.at.command(
        type === 0 ? `AT+KCERTDELETE=0${i !== undefined ? `,${i}` : ''}` : `AT+KCERTDELETE=1,${i ?? 0}`,
      );
    });
  }

  /**
   * `AT+KPRIVKSTORE=<index>,<NbData>` then the key in data mode [BX-T]. The key bytes never
   * reach the transcript or the bus (length + SHA-256 only).
   */
  storeKey(index: number, pem: string | Buffer, opts: { nbData?: number; guardTimeMs?: number } = {}): Promise<void> {
    return this.#op('storeKey', async () => {
      const i = intIn('index', index, 0, 2, 'docs/reference/bx310x-at.md §3.3');
      const bytes = payloadBytes('pem', pem);
      const nb = intIn('nbData', opts.nbData ?? bytes.length, 1, 3000, 'docs/reference/bx310x-at.md §3.3');
      await this.#upload(`AT+KPRIVKSTORE=${i},${nb}`, bytes, { guardTimeMs: opts.guardTimeMs, secret: true });
    });
  }

  /** `AT+KPRIVKSTORE?`: `private_key,<index>,<len>` per stored key; the key itself is never echoed [BX-T]. */
  listKeys(): Promise<{ index: number; length: number }[]> {
    return this.#op('listKeys', async () => {
      const { lines } = await this.at.command('AT+KPRIVKSTORE?');
      const out: { index: number; length: number }[] = [];
      for (const line of lines) {
        if (line === '+KPRIVKSTORE' || line.startsWith('+KPRIVKSTORE:')) continue;
        const m = /^private_key,(\d+),(\d+)$/.exec(line.trim());
        // The line is the module's: quoted only through the engine's redaction (it may hold a secret).
        if (!m) throw new ResponseParseError('AT+KPRIVKSTORE?', this.at.redact(line), 'private_key,<index>,<len>');
        out.push({ index: Number(m[1]), length: Number(m[2]) });
      }
      return out;
    });
  }

  deleteKey(index: number): Promise<void> {
    return this.#op('deleteKey', async () => {
      await this.at.command(`AT+KPRIVKDELETE=${intIn('index', index, 0, 2, 'docs/reference/bx310x-at.md §3.4')}`);
    });
  }

  async #upload(cmd: string, bytes: Buffer, opts: { guardTimeMs?: number; secret: boolean }): Promise<void> {
    const guardTimeMs = opts.guardTimeMs ?? this.options.guardTimeMs;
    if (!Number.isFinite(guardTimeMs) || guardTimeMs < 0)
      throw new ParameterError('guardTimeMs', guardTimeMs, `guardTimeMs must be >= 0 ms, got ${guardTimeMs}`);
    this.#state = 'dataMode';
    try {
      await this.at.dataMode(cmd, bytes, { guardTimeMs, secret: opts.secret });
    } finally {
      if (this.#state === 'dataMode') this.#state = 'open';
    }
  }

  // ---- MQTT (docs/reference/bx310x-at.md §6) -------------------------------------------------------------

  /** `AT+KMQTTCFG` with all 14 parameters; returns the session id from `+KMQTTCFG: <id>`. */
  mqttConfigure(cfg: MqttSessionConfig): Promise<number> {
    return this.#op('mqttConfigure', async () => {
      const cmd = kmqttcfgCommand(cfg);
      if (cfg.password) this.at.addSecret(wire(cfg.password));
      const { lines } = await this.at.command(cmd);
      const line = lines.find((l) => l.startsWith('+KMQTTCFG:'));
      const id = line === undefined ? undefined : parseParams(line.slice(line.indexOf(':') + 1).trim())[0];
      if (typeof id !== 'number')
        throw new ResponseParseError('AT+KMQTTCFG', line ?? '(no +KMQTTCFG line)', '+KMQTTCFG: <session_id>');
      return id;
    });
  }

  /** `AT+KMQTTCNX=<id>`: OK, then `+KMQTT_IND: <id>,1`; `,0`/`,5` rejects `MqttSessionError` [BX-L, HL-Z]. */
  mqttConnect(id: number, opts: { timeoutMs?: number } = {}): Promise<void> {
    return this.#op('mqttConnect', async () => {
      const sid = sessionId(id);
      const since = this.at.marker();
      await this.at.command(`AT+KMQTTCNX=${sid}`);
      await this.#waitInd(sid, KMQTT_IND.CONNACK, 'connect', since, opts.timeoutMs ?? this.options.connectTimeoutMs);
    });
  }

  /**
   * `AT+KMQTTPUB=<id>,"<topic>",<qos>,<retain>,"<payload>"` [BX-T, BX-L]; for QoS >= 1 waits
   * for `+KMQTT_IND: <id>,4` (`waitAckMs`, default `pubAckTimeoutMs`). A payload with `"`, CR
   * or LF is refused before sending (encode it, e.g. base64).
   */
  mqttPublish(
    id: number,
    topic: string,
    payload: string | Buffer,
    opts: { qos?: 0 | 1 | 2; retain?: boolean; waitAckMs?: number } = {},
  ): Promise<void> {
    return this.#op('mqttPublish', async () => {
      const sid = sessionId(id);
      const t = quoted('topic', topic);
      if (/[+#]/.test(topic))
        throw new ParameterError('topic', topic, 'a publish topic must not contain the wildcards + or #');
      const text = typeof payload === 'string' ? payload : payload.toString('latin1');
      checkString('payload', text, { allowEmpty: true });
      const p = typeof payload === 'string' ? wire(payload) : text;
      const qos = intIn('qos', opts.qos ?? 0, 0, 2, 'docs/reference/bx310x-at.md §6.3');
      const since = this.at.marker();
      await this.at.command(`AT+KMQTTPUB=${sid},${t},${qos},${bit(opts.retain ?? false)},"${p}"`);
      // [guess] no +KMQTT_IND for QoS 0 (docs/reference/bx310x-at.md §6.3).
      if (qos > 0)
        await this.#waitInd(sid, KMQTT_IND.PUBACK, 'publish', since, opts.waitAckMs ?? this.options.pubAckTimeoutMs);
    });
  }

  /** `AT+KMQTTSUB=<id>,"<topic>",<qos>`; SUBACK (`,2`) per the `subAck` option. */
  mqttSubscribe(id: number, topic: string, qos: 0 | 1 | 2 = 0): Promise<void> {
    return this.#op('mqttSubscribe', async () => {
      const sid = sessionId(id);
      const t = quoted('topic', topic);
      const q = intIn('qos', qos, 0, 2, 'docs/reference/bx310x-at.md §6.4');
      const since = this.at.marker();
      await this.at.command(`AT+KMQTTSUB=${sid},${t},${q}`);
      await this.#waitSubAck(sid, KMQTT_IND.SUBACK, 'subscribe', since);
    });
  }

  /** `AT+KMQTTUNSUB=<id>,"<topic>"`; UNSUBACK (`,3`) per the `subAck` option. */
  mqttUnsubscribe(id: number, topic: string): Promise<void> {
    return this.#op('mqttUnsubscribe', async () => {
      const sid = sessionId(id);
      const since = this.at.marker();
      await this.at.command(`AT+KMQTTUNSUB=${sid},${quoted('topic', topic)}`);
      await this.#waitSubAck(sid, KMQTT_IND.UNSUBACK, 'unsubscribe', since);
    });
  }

  mqttClose(id: number): Promise<void> {
    return this.#op('mqttClose', async () => {
      await this.at.command(`AT+KMQTTCLOSE=${sessionId(id)}`);
    });
  }

  mqttDelete(id: number): Promise<void> {
    return this.#op('mqttDelete', async () => {
      await this.at.command(`AT+KMQTTDEL=${sessionId(id)}`);
    });
  }

  /** `AT+KMQTTCFG?` read form [BX-T]: one entry per configured session (`secure` is not echoed). */
  mqttSessions(): Promise<MqttSessionInfo[]> {
    return this.#op('mqttSessions', async () => {
      const { lines } = await this.at.command('AT+KMQTTCFG?');
      return lines.filter((l) => l.startsWith('+KMQTTCFG:')).map((l) => parseSessionLine(l));
    });
  }

  /**
   * Incoming messages (`+KMQTT_DATA` and legacy `+KMQTTSUB`) from now on, until `signal`
   * aborts or the device closes. With `sessionId`, messages of other sessions are skipped;
   * legacy messages (no session id) are always included.
   */
  messages(opts: { sessionId?: number; signal?: AbortSignal } = {}): AsyncIterableIterator<MqttMessage> {
    if (this.#state === 'closed' || this.#state === 'broken') this.#check('messages');
    const urcs = this.at.urcs({ signal: opts.signal });
    const iterator: AsyncIterableIterator<MqttMessage> = {
      next: async () => {
        for (;;) {
          const r = await urcs.next();
          if (r.done) return { value: undefined, done: true };
          const m = toMqttMessage(r.value);
          if (m && (opts.sessionId === undefined || m.sessionId === undefined || m.sessionId === opts.sessionId))
            return { value: m, done: false };
        }
      },
      return: async () => {
        await urcs.return?.();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  async #waitInd(sid: number, wanted: number, operation: string, since: number, timeoutMs: number): Promise<void> {
    const urc = await this.at.expect(
      (u) => {
        const ind = toMqttInd(u);
        return (
          !!ind &&
          ind.sessionId === sid &&
          (ind.code === wanted || ind.code === KMQTT_IND.ABORTED || ind.code === KMQTT_IND.GENERIC_ERROR)
        );
      },
      { since, timeoutMs },
    );
    const code = urc.params[1] as number;
    if (code !== wanted) throw new MqttSessionError(sid, code, operation);
  }

  async #waitSubAck(sid: number, wanted: number, operation: string, since: number): Promise<void> {
    const mode = this.options.subAck;
    if (mode === 'none' || (mode === 'auto' && this.#subAckSeen === false)) return;
    const timeoutMs =
      mode === 'require' || this.#subAckSeen ? this.options.defaultTimeoutMs : this.options.subAckTimeoutMs;
    try {
      await this.#waitInd(sid, wanted, operation, since, timeoutMs);
      this.#subAckSeen = true;
    } catch (err) {
      if (mode === 'auto' && this.#subAckSeen === undefined && err instanceof AtTimeoutError) {
        // This firmware does not send SUBACK/UNSUBACK URCs: stop waiting for them.
        this.#subAckSeen = false;
        this.options.bus?.emit({
          source: 'driver',
          kind: 'note',
          summary: `no +KMQTT_IND: ${sid},${wanted} within ${timeoutMs} ms: this firmware does not report ${operation} acks; not waiting for them again`,
          ...(this.options.scope ? { scope: this.options.scope } : {}),
        });
        return;
      }
      throw err;
    }
  }

  // ---- Wi-Fi (docs/reference/bx310x-at.md §8) --------------------------------------------------------------

  /** `AT+SRWCFG=<mode>[,<country>]`: 0 off, 1 station, 2 AP, 3 both; country 0 CN, 1 JP, 2 US, 3 EU. */
  wifiConfigure(mode: WifiMode, country?: WifiCountry): Promise<void> {
    return this.#op('wifiConfigure', async () => {
      const m = intIn('mode', typeof mode === 'string' ? MODE[mode] : mode, 0, 3, 'docs/reference/bx310x-at.md §8');
      const c =
        country === undefined
          ? undefined
          : intIn(
              'country',
              typeof country === 'string' ? COUNTRY[country] : country,
              0,
              3,
              'docs/reference/bx310x-at.md §8',
            );
      await this.at.command(`AT+SRWCFG=${m}${c !== undefined ? `,${c}` : ''}`);
    });
  }

  /** `AT+SRWSTACFG="<ssid>","<password>"[,<autoconnect>]`; the password is redacted. */
  wifiStationConfig(ssid: string, password: string, autoconnect?: boolean): Promise<void> {
    return this.#op('wifiStationConfig', async () => {
      const s = quoted('ssid', ssid);
      const p = quoted('password', password, { allowEmpty: true, secret: true });
      if (password) this.at.addSecret(wire(password));
      await this.at.command(`AT+SRWSTACFG=${s},${p}${autoconnect === undefined ? '' : `,${bit(autoconnect)}`}`);
    });
  }

  /** `AT+SRWSTACON=1`: OK, then `+SRWSTASTATUS: 1,...` and `+SRWSTAIP: "<ip>",...`; `+SRWSTASTATUS: 0,<reason>` rejects `WifiError`. */
  wifiConnect(opts: { timeoutMs?: number } = {}): Promise<{ ip: string; netmask?: string; gateway?: string }> {
    return this.#op('wifiConnect', async () => {
      const since = this.at.marker();
      await this.at.command('AT+SRWSTACON=1');
      const urc = await this.at.expect(
        (u) => u.name === '+SRWSTAIP' || (u.name === '+SRWSTASTATUS' && u.params[0] === 0),
        {
          since,
          timeoutMs: opts.timeoutMs ?? this.options.wifiTimeoutMs,
        },
      );
      const ev = toWifiEvent(urc);
      if (ev?.kind === 'ip')
        return {
          ip: ev.ip,
          ...(ev.netmask ? { netmask: ev.netmask } : {}),
          ...(ev.gateway ? { gateway: ev.gateway } : {}),
        };
      const reason = ev?.kind === 'disconnected' ? ev.reason : undefined;
      throw new WifiError(
        reason,
        (reason !== undefined ? WIFI_REASONS[reason] : undefined) ?? 'see the ESP-IDF reason codes',
      );
    });
  }

  /** `AT+SRWSTACON=0`: OK, then (bounded, not required) `+SRWSTASTATUS: 0,<reason>`. */
  wifiDisconnect(opts: { timeoutMs?: number } = {}): Promise<void> {
    return this.#op('wifiDisconnect', async () => {
      const since = this.at.marker();
      await this.at.command('AT+SRWSTACON=0');
      await this.at
        .expect((u) => u.name === '+SRWSTASTATUS' && u.params[0] === 0, {
          since,
          timeoutMs: opts.timeoutMs ?? this.options.defaultTimeoutMs,
        })
        .catch((err: unknown) => {
          if (!(err instanceof AtTimeoutError)) throw err;
        });
    });
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /** Close the engine, then the link. Idempotent; the state becomes `closed`. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#state = 'closed';
    this.#closing = (async () => {
      this.#unsubscribe();
      this.link.off('close', this.#onLinkClose);
      await this.at.close();
      await this.link.close();
    })();
    return this.#closing;
  }

  // ---- internals ------------------------------------------------------------------------------

  /** Run a public operation: state guard, then break the rig on a fatal error. */
  async #op<T>(method: string, fn: () => Promise<T>): Promise<T> {
    this.#check(method);
    try {
      return await fn();
    } catch (err) {
      if (isFatal(err) && this.#state !== 'closed') this.#break(err);
      throw err;
    }
  }

  #check(method: string): void {
    if (this.#state === 'open') return;
    if (this.#state === 'broken') {
      const cause = this.#brokenBy;
      throw new StateError(
        method,
        'broken',
        `${method}() refused: the rig is broken (${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}); fix the cause and open the device again`,
        { cause },
      );
    }
    throw new StateError(
      method,
      this.#state,
      this.#state === 'dataMode'
        ? `${method}() is not allowed in state "dataMode": an upload is in progress; await it first`
        : `${method}() is not allowed in state "${this.#state}": open the device again`,
    );
  }

  #break(cause: unknown): void {
    if (this.#state === 'broken' || this.#state === 'closed') return;
    this.#state = 'broken';
    this.#brokenBy = cause;
    this.options.bus?.emit({
      source: 'driver',
      kind: 'broken',
      summary: `rig broken: ${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}`,
      ...(this.options.scope ? { scope: this.options.scope } : {}),
    });
  }

  #urc(urc: Urc): void {
    const ind = toMqttInd(urc);
    if (ind) this.emit('mqttInd', ind);
    const msg = toMqttMessage(urc);
    if (msg) this.emit('message', msg);
    const wifi = toWifiEvent(urc);
    if (wifi) this.emit('wifi', wifi);
  }
}

/** Errors after which the rig cannot be trusted: the link is gone or the module does not answer AT. */
function isFatal(err: unknown): boolean {
  if (err instanceof AtResyncError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'BXHIL_LINK_DISCONNECTED' || code === 'BXHIL_LINK_CLOSED';
}

function certType(kind: unknown): 0 | 1 {
  if (kind === 'root') return 0;
  if (kind === 'local') return 1;
  throw new ParameterError(
    'kind',
    kind,
    `certificate kind must be 'root' (KCERTSTORE type 0) or 'local' (type 1), got ${String(kind)}`,
  );
}

function sessionId(id: unknown): number {
  return intIn('id', id, 0, 65535, 'docs/reference/bx310x-at.md §6: session ids are 0..65535');
}

function payloadBytes(param: string, data: string | Buffer): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  if (bytes.length < 1 || bytes.length > 3000) {
    throw new ParameterError(
      param,
      `${bytes.length} bytes`,
      `${param} must be 1..3000 bytes (NbData range, docs/reference/bx310x-at.md §3.1/§3.3), got ${bytes.length}`,
    );
  }
  return bytes;
}

function firstLine(r: { lines: string[] }, cmd: string): string {
  const line = r.lines.find((l) => l.trim() !== '');
  if (line === undefined) throw new ResponseParseError(cmd, '(no line)', 'one information line');
  const prefix = `+${cmd.replace(/^AT\+?/, '')}:`;
  return (line.startsWith(prefix) ? line.slice(prefix.length) : line).trim().replace(/^"(.*)"$/, '$1');
}

/** Rebuild a PEM echoed line by line so its length matches what the module reports. */
function rebuildPem(body: string[], length: number): string {
  const candidates = [`${body.join('\n')}\n`, body.join('\n'), `${body.join('\r\n')}\r\n`, body.join('\r\n')];
  return candidates.find((c) => Buffer.byteLength(c, 'latin1') === length) ?? candidates[0]!;
}

export function kmqttcfgCommand(cfg: MqttSessionConfig): string {
  if (cfg === null || typeof cfg !== 'object')
    throw new ParameterError('cfg', cfg, 'mqttConfigure needs a session config object');
  const secure = cfg.secure ?? false;
  const server = quoted('server', cfg.server);
  if (/[\s,]/.test(cfg.server))
    throw new ParameterError(
      'server',
      cfg.server,
      'server must be a bare host name or IP (no spaces, commas or paths)',
    );
  const port = intIn('port', cfg.port ?? (secure ? 8883 : 1883), 0, 65535, 'docs/reference/bx310x-at.md §6.1');
  const version = intIn('version', cfg.version ?? 4, 3, 4, 'docs/reference/bx310x-at.md §6.1: 3 = MQTT 3.1, 4 = 3.1.1');
  const clientId = quoted('clientId', cfg.clientId);
  const keepAlive = intIn('keepAliveSeconds', cfg.keepAliveSeconds ?? 60, 0, 65535, 'docs/reference/bx310x-at.md §6.1');
  const willQos = intIn('willQos', cfg.willQos ?? 0, 0, 2, 'docs/reference/bx310x-at.md §6.1');
  const params = [
    bit(secure),
    server,
    port,
    version,
    clientId,
    keepAlive,
    bit(cfg.cleanSession ?? true),
    bit(cfg.willFlag ?? false),
    optionalQuoted('willTopic', cfg.willTopic),
    optionalQuoted('willMessage', cfg.willMessage),
    bit(cfg.willRetain ?? false),
    willQos,
    optionalQuoted('username', cfg.username),
    optionalQuoted('password', cfg.password, { secret: true }),
  ];
  return `AT+KMQTTCFG=${params.join(',')}`;
}

/** `+KMQTTCFG: <id>,"<server>",<port>,<version>,"<clientid>",<ka>,<clean>,<will>,<wt>,<wm>,<wr>,<wq>,<user>,<pw>` [BX-T]. */
export function parseSessionLine(line: string): MqttSessionInfo {
  const p = parseParams(line.slice(line.indexOf(':') + 1).trim());
  const n = (i: number): number => {
    const v = p[i];
    if (typeof v !== 'number') throw new ResponseParseError('AT+KMQTTCFG?', line, `a number as parameter ${i + 1}`);
    return v;
  };
  const s = (i: number): string => Buffer.from(String(p[i] ?? ''), 'latin1').toString('utf8');
  if (p.length < 14) throw new ResponseParseError('AT+KMQTTCFG?', line, '14 fields: id and the 13 echoed parameters');
  return {
    id: n(0),
    server: s(1),
    port: n(2),
    version: n(3) as 3 | 4,
    clientId: s(4),
    keepAliveSeconds: n(5),
    cleanSession: n(6) === 1,
    willFlag: n(7) === 1,
    willTopic: s(8),
    willMessage: s(9),
    willRetain: n(10) === 1,
    willQos: n(11) as 0 | 1 | 2,
    username: s(12),
    password: s(13),
  };
}
