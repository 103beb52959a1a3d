/**
 * The virtual BX310x module: speaks the BX dialect on any Node Duplex (its serial side) and
 * opens real TCP/TLS/MQTT connections on its network side. The serial framing follows
 * docs/reference/bx310x-at.md §1 [BX-T, BX-L]: commands end with CR, lines go out as CRLF, echo is on after
 * boot, final results are `\r\nOK\r\n`, `\r\nERROR\r\n`, `\r\n+CME ERROR: <n>\r\n`, URCs are
 * `\r\n<line>\r\n`. Every behaviour that differs between firmwares is a profile knob.
 *
 * Inputs are handled one command at a time: bytes that arrive while a command runs wait, so a
 * host that sends the PEM right behind `AT+KCERTSTORE=...\r` has it land in data mode.
 */
import type { Duplex } from 'node:stream';
import createDebug from 'debug';
import { ConfigError } from '../errors.ts';
import type { EvidenceBus } from '../evidence.ts';
import type { Timing } from '../timing.ts';
import { parseCommand } from './atline.ts';
import { ModuleClock, type ClockSetting } from './clock.ts';
import { handlerFor } from './commands/index.ts';
import { dropWifi, joinWifi } from './commands/srwstacon.ts';
import type { DataSink, Reply, SimContext } from './commands/types.ts';
import { SimError } from './errors.ts';
import { applyByteFaults, defaultFaults, parseSimFaults, seededRandom, type SimFaults } from './faults.ts';
import { SessionTable, type HostOverride, type MqttSession, type NetEnv } from './net/session.ts';
import { loadProfile, parseProfile, type Profile } from './profile.ts';
import { Stores } from './stores.ts';
import { resolveTiming, type TimingSetting } from './timing.ts';
import { SimUart } from './uart.ts';
import { SIM_AP, bootWifi, type WifiState } from './wifi.ts';

const debug = createDebug('bx-hil:sim');

const CR = 0x0d;
const LF = 0x0a;
const PLUS = 0x2b;

export interface VirtualModuleOptions {
  /** A shipped profile name (`2.6.3`, `legacy`, `reference`), a JSON file path, or a profile object. */
  profile: Profile | string;
  /** Host name → address (and optional port) the module really connects to. Default none. */
  resolve?: Record<string, HostOverride>;
  /** The module clock: host time, counting from 1970 at boot, or counting from a date. Default: the profile's `clock.source`. */
  clock?: ClockSetting;
  /** Keep the certificate/key stores in this JSON file, as flash would (mode 0600). Default: memory only. */
  storePath?: string;
  /** Evidence bus for commands, URCs and connect steps. Default none. */
  bus?: EvidenceBus;
  /** Fault knobs. Default none. */
  faults?: SimFaults;
  /** Look up host names without an override in DNS. Default false: tests only ever reach mapped or loopback addresses. */
  allowExternalDns?: boolean;
  /** `<ip>:<port>` of a DNS server to resolve names without an override through (real queries), as DHCP would give. */
  dns?: string;
  /** `<ip>:<port>` of the SNTP server a profile with `clock.source: 'sntp'` [guess] sets its clock from. */
  sntp?: string;
  /**
   * How fast the module is (docs/sim.md §Timing): `instant` (no pacing, no latencies),
   * `realistic` (the profile's `timing` block), a path to a JSON timing block, or a block,
   * both parsed over the profile's realistic block. Default `instant`.
   */
  timing?: TimingSetting;
}

type Mode = 'command' | 'data' | 'booting';

export class VirtualModule {
  readonly profile: Profile;
  readonly stores: Stores;
  readonly sessions: SessionTable;
  readonly clock: ModuleClock;
  wifi: WifiState;
  echo: boolean;

  readonly #bus: EvidenceBus | undefined;
  readonly #timing: Timing;
  readonly #uart: SimUart;
  readonly #resolve = new Map<string, HostOverride>();
  readonly #env: NetEnv;
  #faults: Required<SimFaults> = defaultFaults;
  #random: () => number = seededRandom(defaultFaults.seed);
  #duplex: Duplex | undefined;
  #detachListeners: (() => void) | undefined;
  #closed = false;

  #mode: Mode = 'command';
  readonly #inbox: Buffer[] = [];
  #pumping = false;
  #line: number[] = [];
  #overflow = false;
  #lastWasCr = false;

  #sink: DataSink | undefined;
  #data: Buffer[] = [];
  #dataLen = 0;
  #lastRxAt = 0;
  #plusRun = 0;
  #plusRunOk = false;
  #trimmed = false;
  #guardTimer: NodeJS.Timeout | undefined;
  #heldUrcs: string[] = [];

  readonly #timers = new Set<NodeJS.Timeout>();
  /** Background work a reboot cancels (SimContext.later). */
  readonly #workTimers = new Set<NodeJS.Timeout>();
  /** The final result of an upload still being written (flash): input waits for it. */
  #busy: Promise<void> | undefined;
  #spurious: NodeJS.Timeout | undefined;
  readonly #ctx: SimContext;

  constructor(options: VirtualModuleOptions) {
    this.profile =
      typeof options.profile === 'string'
        ? loadProfile(options.profile)
        : parseProfile(options.profile, `"${options.profile.name}"`);
    this.#bus = options.bus;
    this.#timing = resolveTiming(options.timing, this.profile);
    this.#uart = new SimUart(
      this.#timing,
      (buf) => {
        const d = this.#duplex;
        if (d && !d.destroyed && !this.#closed) d.write(buf); // nobody listening: lost, as on a UART
      },
      ({ bytes, aheadMs, toleranceMs }) => {
        const { baudRate } = this.#timing.line;
        const summary = `the host sent ${bytes} bytes faster than ${baudRate} baud can carry (${Math.round(aheadMs)} ms ahead of the line, tolerance ${Math.round(toleranceMs)} ms): a real module could lose them`;
        debug('overrun: %s', summary);
        this.#bus?.emit({ source: 'sim', kind: 'overrun', summary, data: { bytes, aheadMs, toleranceMs, baudRate } });
      },
    );
    for (const [host, target] of Object.entries(options.resolve ?? {})) this.setResolve(host, target);
    this.clock = new ModuleClock(options.clock ?? (this.profile.clock.source === 'host' ? 'host' : '1970'));
    this.stores = new Stores(options.storePath);
    this.echo = this.profile.framing.echoAtBoot;
    this.wifi = bootWifi(this.profile.wifi.joinedAtBoot);
    const env: NetEnv = {
      profile: this.profile,
      timing: this.#timing,
      stores: this.stores,
      clock: this.clock,
      resolve: this.#resolve,
      allowExternalDns: options.allowExternalDns ?? false,
      ...(options.dns === undefined ? {} : { dnsServer: options.dns }),
      ...(options.sntp === undefined ? {} : { sntpServer: options.sntp }),
      bus: options.bus,
      urc: (line) => this.#urc(line),
    };
    this.#env = env;
    this.sessions = new SessionTable(env);
    // Handlers see live views of the module state (wifi is replaced on reboot).
    const ctx = {
      urc: (line: string) => this.#urc(line),
      reboot: (kind: 'rst' | 'factory') => this.#reboot(kind),
      timing: this.#timing,
      later: (ms: number, fn: () => void) => this.#work(ms, fn),
    } as SimContext;
    Object.defineProperties(ctx, {
      profile: { get: () => this.profile },
      stores: { get: () => this.stores },
      sessions: { get: () => this.sessions },
      wifi: { get: () => this.wifi },
      clock: { get: () => this.clock },
      echo: { get: () => this.echo, set: (v: boolean) => (this.echo = v) },
    });
    this.#ctx = ctx;
    if (options.faults) this.setFaults(options.faults);
  }

  // ---- public API --------------------------------------------------------------------------

  /** The timing in force (`INSTANT_TIMING` unless one was selected); fixed for the module's life. */
  get timing(): Timing {
    return this.#timing;
  }

  /**
   * Bursts of input the host sent faster than the line could carry (a paced timing only; each
   * is also a `sim`/`overrun` evidence event). Bytes are kept, not dropped.
   */
  get rxOverruns(): number {
    return this.#uart.overruns;
  }

  /** Connect the serial side. One at a time: detach first (`BXHIL_SIM_ATTACHED`). */
  attach(duplex: Duplex): void {
    this.#checkOpen('attach');
    if (this.#duplex) {
      throw new SimError(
        'BXHIL_SIM_ATTACHED',
        'the virtual module already has a serial side attached: call detach() first',
      );
    }
    this.#duplex = duplex;
    const onData = (chunk: Buffer | string) =>
      this.#rx(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
    const onGone = () => {
      if (this.#duplex === duplex) this.detach();
    };
    duplex.on('data', onData);
    duplex.on('end', onGone);
    duplex.on('close', onGone);
    duplex.on('error', onGone);
    this.#detachListeners = () => {
      duplex.off('data', onData);
      duplex.off('end', onGone);
      duplex.off('close', onGone);
      duplex.off('error', onGone);
    };
  }

  /** Disconnect the serial side; the module keeps its state (a new client finds it as it was). */
  detach(): void {
    this.#uart.clear(); // output still crossing the line reaches nobody, as on a UART
    this.#detachListeners?.();
    this.#detachListeners = undefined;
    this.#duplex = undefined;
  }

  get attached(): boolean {
    return this.#duplex !== undefined;
  }

  /** Map a host name to another address (and port): SNI and the name check still use the name. */
  setResolve(host: string, target: HostOverride | string): void {
    const t = typeof target === 'string' ? parseHostTarget(target) : target;
    this.#resolve.set(host.toLowerCase(), t);
  }

  /**
   * Resolve names without a host override through this DNS server (`<ip>:<port>`, real
   * queries, as DHCP would give the module), or stop doing so (`undefined`).
   */
  setDnsServer(address: string | undefined): void {
    if (address === undefined) delete this.#env.dnsServer;
    else this.#env.dnsServer = address;
  }

  /** The SNTP server a `clock.source: 'sntp'` profile sets its clock from (`<ip>:<port>`), or none. */
  setSntpServer(address: string | undefined): void {
    if (address === undefined) delete this.#env.sntpServer;
    else this.#env.sntpServer = address;
  }

  /** Change fault knobs (merged over the current ones); a new `seed` restarts the RNG. */
  setFaults(partial: SimFaults): void {
    this.#faults = parseSimFaults(partial, this.#faults);
    if (partial.seed !== undefined) this.#random = seededRandom(this.#faults.seed);
    if (this.#spurious) clearInterval(this.#spurious);
    this.#spurious = undefined;
    if (this.#faults.spuriousUrcEveryMs > 0 && !this.#closed) {
      this.#spurious = setInterval(() => this.#urc(this.#faults.spuriousUrc), this.#faults.spuriousUrcEveryMs);
      this.#spurious.unref();
    }
  }

  get faults(): Readonly<Required<SimFaults>> {
    return this.#faults;
  }

  /** Reboot as AT+RST would (without its OK): sessions dropped, stores kept, `READY` after boot. */
  reset(): void {
    this.#checkOpen('reset');
    this.#reboot('rst');
  }

  /** Simulated loss of the access point: `+SRWSTASTATUS: 0,<reason>` and `+KMQTT_IND: <id>,0` per live session. */
  wifiDrop(reason = 200): void {
    this.#checkOpen('wifiDrop');
    dropWifi(this.#ctx, reason);
  }

  /** Whether the simulated station is joined to its access point. */
  get wifiJoined(): boolean {
    return this.wifi.joined;
  }

  /** Join the simulated access point as AT+SRWSTACON=1 would (the URCs included). */
  wifiJoin(): void {
    this.#checkOpen('wifiJoin');
    if (!this.wifi.ssid) Object.assign(this.wifi, { ssid: SIM_AP.ssid, password: 'bx-hil-sim' });
    joinWifi(this.#ctx);
  }

  /** A session by id (tests read `state` and `lastConnectError`). */
  session(id: number): MqttSession | undefined {
    return this.sessions.get(id);
  }

  get mode(): Mode {
    return this.#mode;
  }

  /** Idempotent: closes MQTT/TLS sockets and timers, detaches the serial side. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#uart.clear();
    this.sessions.abortAll(false, false);
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#cancelWork();
    if (this.#guardTimer) clearTimeout(this.#guardTimer);
    if (this.#spurious) clearInterval(this.#spurious);
    this.#spurious = undefined;
    this.detach();
    return Promise.resolve();
  }

  // ---- serial side ---------------------------------------------------------------------------

  #checkOpen(method: string): void {
    if (this.#closed)
      throw new SimError('BXHIL_SIM_CLOSED', `${method}() on a closed virtual module: create a new one`);
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  #work(ms: number, fn: () => void): void {
    if (ms <= 0) {
      fn();
      return;
    }
    const t = setTimeout(() => {
      this.#workTimers.delete(t);
      if (!this.#closed) fn();
    }, ms);
    this.#workTimers.add(t);
  }

  #cancelWork(): void {
    for (const t of this.#workTimers) clearTimeout(t);
    this.#workTimers.clear();
  }

  #tx(text: string | Buffer): void {
    const d = this.#duplex;
    if (!d || d.destroyed || this.#closed) return; // nobody listening: bytes are lost, as on a UART
    let buf = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
    if (this.#faults.direction !== 'rx') buf = applyByteFaults(buf, this.#faults, this.#random);
    this.#uart.send(buf); // at the line rate under a paced timing
  }

  #urc(line: string): void {
    if (this.#closed) return;
    if (this.#mode !== 'command') {
      this.#heldUrcs.push(line); // not interleaved with data mode or boot [guess]
      return;
    }
    this.#bus?.emit({ source: 'sim', kind: 'urc', summary: line });
    this.#tx(`\r\n${line}\r\n`);
  }

  #rx(chunk: Buffer): void {
    if (this.#closed) return;
    this.#uart.received(chunk.length);
    const buf = this.#faults.direction !== 'tx' ? applyByteFaults(chunk, this.#faults, this.#random) : chunk;
    if (!buf.length) return;
    this.#inbox.push(buf);
    void this.#pump();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#inbox.length > 0 && !this.#closed) {
        // An upload's final result still being written: the module reads on after it.
        if (this.#busy) await this.#busy;
        if (this.#closed) return;
        const chunk = this.#inbox.shift()!;
        let echo: number[] = [];
        for (let i = 0; i < chunk.length; i++) {
          if (this.#mode === 'data') {
            this.#dataRx(chunk.subarray(i));
            break;
          }
          if (this.#mode === 'booting') break; // input during boot is lost
          const b = chunk[i]!;
          if (this.echo) echo.push(b);
          if (b === CR) {
            this.#flushEcho(echo);
            echo = [];
            this.#lastWasCr = true;
            await this.#endOfLine();
            continue;
          }
          const afterCr = this.#lastWasCr;
          this.#lastWasCr = false;
          if (b === LF) {
            if (afterCr && this.#line.length === 0 && this.profile.framing.lfAfterCr === 'error') {
              this.#flushEcho(echo);
              echo = [];
              await this.#respond({ final: 'ERROR' }); // [3P] HL7811 reads the LF as an empty command
            }
            continue;
          }
          if (this.#line.length >= this.profile.framing.lineBytes) this.#overflow = true;
          else this.#line.push(b);
        }
        this.#flushEcho(echo);
      }
    } finally {
      this.#pumping = false;
    }
  }

  #flushEcho(bytes: number[]): void {
    if (bytes.length && this.#mode === 'command') this.#tx(Buffer.from(bytes));
  }

  async #endOfLine(): Promise<void> {
    const bytes = Buffer.from(this.#line);
    const overflow = this.#overflow;
    this.#line = [];
    this.#overflow = false;
    // A line longer than the module's buffer answers ERROR [guess: profile framing.lineBytes]
    if (overflow) return this.#respond({ final: 'ERROR' });
    const text = bytes.toString('latin1');
    // Bytes before "AT" are skipped as on Hayes modems; a line with no "AT" answers per profile [guess]
    const at = text.search(/AT/i);
    if (at < 0) {
      if (text.trim() === '' || this.profile.framing.garbageLine === 'ignore') return;
      return this.#respond({ final: 'ERROR' });
    }
    const line = text.slice(at);
    const resetAt = this.#faults.resetAtCommand;
    if (resetAt && line.toUpperCase().startsWith(resetAt.toUpperCase())) {
      this.#faults = { ...this.#faults, resetAtCommand: '' }; // one shot, so a retry can succeed
      this.#bus?.emit({ source: 'sim', kind: 'fault', summary: `reset at ${resetAt}` });
      this.#reboot('rst');
      return;
    }
    const cmd = parseCommand(line);
    const handler = cmd && handlerFor(cmd.name, this.profile);
    const fn = cmd && handler && (cmd.form === 'set' ? handler.set : handler[cmd.form]);
    if (!cmd || !handler || !fn) return this.#respond({ final: 'ERROR' }, cmd?.name);
    let reply: Reply;
    try {
      reply =
        cmd.form === 'set'
          ? await handler.set!(this.#ctx, cmd.args)
          : await (fn as (c: SimContext) => Reply | Promise<Reply>)(this.#ctx);
    } catch (err) {
      debug('handler for %s threw: %O', cmd.name, err);
      reply = { final: 'ERROR' };
    }
    return this.#respond(reply, cmd.name);
  }

  async #respond(reply: Reply, name = ''): Promise<void> {
    const delayMs = this.#faults.responseDelayMs + ('connect' in reply ? 0 : (reply.delayMs ?? 0));
    if (delayMs > 0) {
      await new Promise<void>((resolve) => this.#later(delayMs, resolve));
    }
    if (this.#closed || this.#mode === 'booting') return;
    if ('connect' in reply) {
      this.#bus?.emit({ source: 'sim', kind: 'command', summary: `AT${name} → CONNECT` });
      this.#tx('\r\nCONNECT\r\n');
      this.#enterData(reply.connect);
      return;
    }
    const final = reply.final === 'OK' ? 'OK' : reply.final === 'ERROR' ? 'ERROR' : `+CME ERROR: ${reply.final}`;
    // Summary names the command only: set-form arguments may hold passwords.
    this.#bus?.emit({ source: 'sim', kind: 'command', summary: `AT${name} → ${final}` });
    const info = reply.lines?.length ? `\r\n${reply.lines.join('\r\n')}\r\n` : '';
    this.#tx(`${info}\r\n${final}\r\n`);
    reply.after?.();
  }

  // ---- data mode (CONNECT … +++) [BX-T, BX-L] docs/reference/bx310x-at.md §4 ----------------------------------

  #enterData(sink: DataSink): void {
    this.#mode = 'data';
    this.#sink = sink;
    this.#data = [];
    this.#dataLen = 0;
    this.#lastRxAt = performance.now();
    this.#plusRun = 0;
    this.#plusRunOk = false;
    this.#trimmed = false;
  }

  #dataRx(chunk: Buffer): void {
    const now = performance.now();
    const gap = now - this.#lastRxAt;
    this.#lastRxAt = now;
    if (this.#guardTimer) clearTimeout(this.#guardTimer);
    this.#guardTimer = undefined;
    const guard = this.profile.uploads.guardTimeMs;
    chunk.forEach((b, i) => {
      if (b !== PLUS) {
        this.#plusRun = 0;
        return;
      }
      // Pre-guard (profile requirePreGuard): the run of `+` must start after a silence.
      if (this.#plusRun === 0) this.#plusRunOk = i === 0 && gap >= guard;
      this.#plusRun++;
    });
    this.#data.push(Buffer.from(chunk));
    this.#dataLen += chunk.length;
    // Bound memory: past 4x the limit keep only the tail (the upload fails as too long anyway).
    const cap = this.profile.uploads.maxBytes * 4;
    if (this.#dataLen > cap) {
      this.#data = [Buffer.concat(this.#data).subarray(-16)];
      this.#trimmed = true;
      this.#dataLen = 16;
    }
    if (this.#plusRun >= 3 && (this.#plusRunOk || !this.profile.uploads.requirePreGuard)) {
      this.#guardTimer = setTimeout(() => this.#leaveData(), guard);
    }
  }

  #leaveData(): void {
    this.#guardTimer = undefined;
    if (this.#closed || this.#mode !== 'data') return;
    const all = Buffer.concat(this.#data);
    const data = all.subarray(0, all.length - 3);
    const sink = this.#sink!;
    const trimmed = this.#trimmed;
    this.#sink = undefined;
    this.#data = [];
    this.#dataLen = 0;
    this.#trimmed = false;
    this.#plusRun = 0;
    this.#mode = 'command';
    // Far over the limit: +CME ERROR: 931 as for any upload over uploads.maxBytes (upload.ts)
    const reply: Reply = trimmed ? { final: 931 } : sink.onEnd(data);
    const busy = this.#respond(reply).then(() => {
      if (this.#busy === busy) this.#busy = undefined;
      this.#flushHeld();
    });
    this.#busy = busy;
  }

  #flushHeld(): void {
    const held = this.#heldUrcs;
    this.#heldUrcs = [];
    for (const line of held) this.#urc(line);
  }

  // ---- reboot --------------------------------------------------------------------------------

  #reboot(kind: 'rst' | 'factory'): void {
    debug('reboot (%s)', kind);
    this.#bus?.emit({ source: 'sim', kind: 'reset', summary: kind === 'rst' ? 'AT+RST reboot' : 'AT&F factory reset' });
    this.#mode = 'booting';
    if (this.#guardTimer) clearTimeout(this.#guardTimer);
    this.#guardTimer = undefined;
    this.#sink = undefined;
    this.#data = [];
    this.#dataLen = 0;
    this.#line = [];
    this.#overflow = false;
    this.#inbox.length = 0;
    this.#heldUrcs = [];
    this.#cancelWork();
    // Configurations live in RAM, connections die without DISCONNECT [guess]
    this.sessions.abortAll(false, true);
    this.echo = this.profile.framing.echoAtBoot;
    this.clock.boot();
    const keep = this.wifi;
    this.wifi = bootWifi(this.profile.wifi.joinedAtBoot);
    if (!this.profile.wifi.joinedAtBoot && keep.ssid)
      Object.assign(this.wifi, { ssid: keep.ssid, password: keep.password, autoconnect: keep.autoconnect });
    // The instant module's boot (framing.bootMs) is a floor; a slower timing's boot takes over.
    this.#later(Math.max(this.profile.framing.bootMs, this.#timing.bootMs), () => {
      this.#mode = 'command';
      this.#tx('\r\nREADY\r\n');
    });
  }
}

/** `host`, `host:port`, `[v6]:port` → HostOverride. */
export function parseHostTarget(text: string): HostOverride {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const m = v6 ?? /^([^:]+)(?::(\d+))?$/.exec(text);
  const port = m?.[2] === undefined ? undefined : Number(m[2]);
  if (!m || !m[1] || (port !== undefined && (port < 1 || port > 65_535))) {
    throw new ConfigError('resolve', text, `host override target "${text}" is not <ip>[:<port>] (e.g. 127.0.0.1:8883)`);
  }
  return port === undefined ? { host: m[1] } : { host: m[1], port };
}

/** Create a virtual module (not yet attached to a serial side). */
export function createVirtualModule(options: VirtualModuleOptions): VirtualModule {
  return new VirtualModule(options);
}
