/**
 * `Bx310x`: the typed driver of a Sierra Wireless BX310x module over an `AtEngine`.
 *
 * - State is explicit and guarded (labgrid's BindingState, docs/STYLE.md §7): `open`, `dataMode`
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
import { StateError } from '../errors.ts';
import { openLink, type Link } from '../link/index.ts';
import {
  AtEngine,
  AtResyncError,
  AtTimeoutError,
  parseParams,
  type AtEngineOptions,
  type AtResponse,
  type CommandOptions,
  type DataModeOptions,
  type Urc,
} from '../at/index.ts';
import { MqttSessionError, ParameterError, ResponseParseError, WifiError } from './errors.ts';
import {
  kmqttcfgCommand,
  parseSessionLine,
  sessionId,
  type MqttSessionConfig,
  type MqttSessionInfo,
} from './mqtt-config.ts';
import { parseBx310xOptions, type Bx310xOptions, type ParsedBx310xOptions } from './options.ts';
import { bit, checkString, intIn, MAX_NB_DATA, quoted, utf8AsLatin1 } from './params.ts';
import { certType, parseCertStore, StoreLedger, type CertInfo, type StoreSlot } from './stores.ts';
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
import { srwcfgCommand, type WifiCountry, type WifiMode } from './wifi.ts';

export { kmqttcfgCommand, parseSessionLine, type MqttSessionConfig, type MqttSessionInfo } from './mqtt-config.ts';
export { parseBx310xOptions, type Bx310xOptions, type ParsedBx310xOptions } from './options.ts';
export { StoreLedger, type CertInfo, type StoreSlot } from './stores.ts';
export { type WifiCountry, type WifiMode } from './wifi.ts';

/** The driver's state: `open` takes commands, `dataMode` is inside an upload, `broken` after a link or framing failure, `closed` after `close()`. */
export type Bx310xState = 'closed' | 'open' | 'dataMode' | 'broken';

/** What the driver emits: incoming MQTT messages, `+KMQTT_IND` indications and Wi-Fi events. */
export interface Bx310xEvents {
  message: [MqttMessage];
  mqttInd: [MqttInd];
  wifi: [WifiEvent];
}

/**
 * The driver's engine: every command, the driver's and a caller's raw ones alike
 * (`device.at.command('AT+KCERTDELETE=0')`), passes the store ledger when it goes out and when
 * it ends, so the ledger never trusts a slot something else may have changed.
 */
class LedgeredAtEngine extends AtEngine {
  readonly #ledger: StoreLedger;

  constructor(link: Link, options: AtEngineOptions, ledger: StoreLedger) {
    super(link, options);
    this.#ledger = ledger;
  }

  override command(cmd: string, opts?: CommandOptions): Promise<AtResponse> {
    this.#ledger.touch(cmd);
    return super.command(cmd, opts).finally(() => this.#ledger.touch(cmd));
  }

  override dataMode(cmd: string, data: string | Uint8Array, opts?: DataModeOptions): Promise<AtResponse> {
    this.#ledger.touch(cmd);
    return super.dataMode(cmd, data, opts).finally(() => this.#ledger.touch(cmd));
  }
}

/** The slot a driver store/delete names (the root slot only when no index is given: the one root of §3.1). */
function slotOf(kind: 'root' | 'local' | 'key', index: number | undefined): StoreSlot | undefined {
  if (kind === 'root') return index === undefined ? 'root' : undefined;
  return `${kind}:${index ?? 0}`;
}

/** The BX310x module over AT commands (docs/reference/bx310x-at.md): `await Bx310x.open(link)`, then identity, certificate and key stores, MQTT sessions and Wi-Fi; every command bounded in time, every failure a `HarnessError` with a stable `code`. */
export class Bx310x extends EventEmitter<Bx310xEvents> {
  readonly at: AtEngine;
  readonly link: Link;
  /** What this driver knows its module's stores hold (see `StoreLedger`). */
  readonly stores = new StoreLedger();
  #guardTimeMs: number;
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
    this.#guardTimeMs = this.options.guardTimeMs;
    this.at = new LedgeredAtEngine(
      link,
      {
        ...this.options.engine,
        bus: this.options.bus,
        scope: this.options.scope,
        defaultTimeoutMs: this.options.defaultTimeoutMs,
        transcriptPath: this.options.transcriptPath,
      },
      this.stores,
    );
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
          : String(intIn('nbData', opts.nbData ?? bytes.length, 1, MAX_NB_DATA, 'docs/reference/bx310x-at.md §3.1'));
      const cmd =
        type === 0
          ? `AT+KCERTSTORE=0${nb !== '' || index !== undefined ? `,${nb}` : ''}${index !== undefined ? `,${index}` : ''}`
          : `AT+KCERTSTORE=1,${nb},${index ?? 0}`;
      await this.#upload(cmd, bytes, { guardTimeMs: opts.guardTimeMs, secret: false });
      const slot = slotOf(kind, type === 0 ? index : (index ?? 0));
      if (slot && nb === String(bytes.length)) this.stores.stored(slot, bytes);
    });
  }

  /** `AT+KCERTSTORE?` read form [BX-T]: the root certificate (if any) and the local ones, with their PEM. */
  listCerts(): Promise<{ root?: CertInfo; local: CertInfo[] }> {
    return this.#op('listCerts', async () => {
      const { lines } = await this.at.command('AT+KCERTSTORE?');
      return parseCertStore(lines);
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
      const slot = slotOf(kind, type === 0 ? i : (i ?? 0));
      if (slot) this.stores.emptied(slot);
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
      const nb = intIn('nbData', opts.nbData ?? bytes.length, 1, MAX_NB_DATA, 'docs/reference/bx310x-at.md §3.3');
      await this.#upload(`AT+KPRIVKSTORE=${i},${nb}`, bytes, { guardTimeMs: opts.guardTimeMs, secret: true });
      if (nb === bytes.length) this.stores.stored(`key:${i}`, bytes);
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
      const i = intIn('index', index, 0, 2, 'docs/reference/bx310x-at.md §3.4');
      await this.at.command(`AT+KPRIVKDELETE=${i}`);
      this.stores.emptied(`key:${i}`);
    });
  }

  /**
   * Would storing `pem` in the slot change nothing? True only when this driver stored exactly
   * these bytes there itself and nothing may have touched the slot since (`StoreLedger`).
   */
  holdsStored(kind: 'root' | 'local' | 'key', index: number | undefined, pem: string | Buffer): boolean {
    const slot = slotOf(kind, index);
    return slot !== undefined && this.stores.holds(slot, typeof pem === 'string' ? Buffer.from(pem, 'utf8') : pem);
  }

  /** Is the slot known to be empty (this driver deleted it and nothing touched it since)? */
  knownEmpty(kind: 'root' | 'local' | 'key', index?: number): boolean {
    const slot = slotOf(kind, index);
    return slot !== undefined && this.stores.isEmpty(slot);
  }

  /** The upload guard time in force (`guardTimeMs`, or what `setGuardTime` set), ms. */
  get guardTimeMs(): number {
    return this.#guardTimeMs;
  }

  /**
   * Change the upload guard time, e.g. to the firmware profile's once the module is identified
   * (harness/run/device-session.ts), instead of the cautious 1 s default.
   */
  setGuardTime(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0)
      throw new ParameterError('guardTimeMs', ms, `guardTimeMs must be >= 0 ms, got ${ms}`);
    this.#guardTimeMs = ms;
  }

  async #upload(cmd: string, bytes: Buffer, opts: { guardTimeMs?: number; secret: boolean }): Promise<void> {
    const guardTimeMs = (opts.guardTimeMs ?? this.#guardTimeMs) + this.#drainMs(bytes.length);
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
      if (cfg.password) this.at.addSecret(utf8AsLatin1(cfg.password));
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
      const p = typeof payload === 'string' ? utf8AsLatin1(payload) : text;
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
      await this.at.command(srwcfgCommand(mode, country));
    });
  }

  /** `AT+SRWSTACFG="<ssid>","<password>"[,<autoconnect>]`; the password is redacted. */
  wifiStationConfig(ssid: string, password: string, autoconnect?: boolean): Promise<void> {
    return this.#op('wifiStationConfig', async () => {
      const s = quoted('ssid', ssid);
      const p = quoted('password', password, { allowEmpty: true, secret: true });
      if (password) this.at.addSecret(utf8AsLatin1(password));
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

  /**
   * How long `bytes` take to leave a serial line (its URI's `baud=`, 115200 for a serial port
   * without one; 0 where the rate is not ours to know, e.g. `tcp://`), ms, at 10 bits a byte.
   * A serial write resolves when the bytes are handed to the OS, not when they are on the wire,
   * and the guard before `+++` is silence on the wire: it starts when the last byte is out.
   */
  #drainMs(bytes: number): number {
    const given = /[?&]baud=(\d+)/.exec(this.link.uri)?.[1];
    // A serial port without `baud=` runs at the link's default, 115200 (harness/link/types.ts).
    const baud = given ? Number(given) : /^(serial:|\/dev\/)/.test(this.link.uri) ? 115_200 : 0;
    return baud > 0 ? Math.ceil((bytes * 10 * 1000) / baud) : 0;
  }

  #urc(urc: Urc): void {
    // The module (re)started: whatever the ledger knew of its stores is no longer sure.
    if (urc.name === 'READY') this.stores.forgetAll();
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

function payloadBytes(param: string, data: string | Buffer): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  if (bytes.length < 1 || bytes.length > MAX_NB_DATA) {
    throw new ParameterError(
      param,
      `${bytes.length} bytes`,
      `${param} must be 1..${MAX_NB_DATA} bytes (NbData range, docs/reference/bx310x-at.md §3.1/§3.3), got ${bytes.length}`,
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
