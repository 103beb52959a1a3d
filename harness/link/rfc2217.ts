/**
 * `rfc2217://host:port?baud=115200&databits=8&parity=none&stopbits=1&rtscts=0`: a remote
 * serial port behind a telnet server with the COM-PORT-OPTION (RFC 2217), e.g. ser2net's
 * `accepter: telnet(rfc2217),tcp,<port>`.
 *
 * Protocol (RFC 854 telnet + RFC 2217):
 * - On connect we offer `WILL COM-PORT-OPTION` (44), `WILL/DO BINARY` (0, 8-bit clean data:
 *   no CR NUL stuffing) and `WILL/DO SUPPRESS-GO-AHEAD` (3). The server must answer
 *   `DO COM-PORT-OPTION`; `DONT` is an open error. Any other `DO x` gets `WONT x`, any other
 *   `WILL x` gets `DONT x` (ser2net offers `WILL ECHO`, which we refuse: the device must not
 *   see its own bytes again). Answers are sent only on a change of state, so no loops (RFC 1143).
 * - Then the URI's line settings go out as SET-BAUDRATE (1), SET-DATASIZE (2), SET-PARITY (3),
 *   SET-STOPSIZE (4) and SET-CONTROL (5, flow control), each awaiting the server's answer
 *   (command + 100) within `negotiationTimeoutMs`.
 * - Data: 0xFF is sent as IAC IAC and IAC IAC received is one 0xFF; every telnet command,
 *   option negotiation and subnegotiation is stripped from the data stream.
 * - `setSignals` uses SET-CONTROL 8/9 (DTR on/off) and 11/12 (RTS on/off). A server whose port
 *   has no modem lines (ser2net over a PTY) sends no answer: that becomes
 *   `LinkUnsupportedError` after `controlTimeoutMs`.
 * - Server notifications (NOTIFY-LINESTATE 106, NOTIFY-MODEMSTATE 107) are read and dropped.
 *
 * Query options besides the line settings: `connectTimeoutMs` (TCP connect, default 5000 ms),
 * `negotiationTimeoutMs` (telnet + COM-PORT answers, default 5000 ms), `controlTimeoutMs`
 * (per later SET-CONTROL/updateSettings answer, default 2000 ms).
 */
import type net from 'node:net';
import { Duplex } from 'node:stream';
import createDebug from 'debug';
import { ConfigError } from '../errors.ts';
import { LinkError, LinkOpenError, LinkUnsupportedError } from './errors.ts';
import { checkLineSettings, parseSerialOptions } from './options.ts';
import { StreamLink } from './stream.ts';
import { connectTcp, parseTcpTarget } from './tcp.ts';
import type { LineSettings, LinkSignals } from './types.ts';

const debug = createDebug('bx-hil:link:rfc2217');

// Telnet (RFC 854) bytes.
const IAC = 255;
const DONT = 254;
const DO = 253;
const WONT = 252;
const WILL = 251;
const SB = 250;
const SE = 240;
// Options.
const OPT_BINARY = 0;
const OPT_SGA = 3;
const OPT_COM_PORT = 44;
// RFC 2217 client-to-server commands; the server answers with command + 100.
const CPO_SET_BAUDRATE = 1;
const CPO_SET_DATASIZE = 2;
const CPO_SET_PARITY = 3;
const CPO_SET_STOPSIZE = 4;
const CPO_SET_CONTROL = 5;
const SERVER_OFFSET = 100;
/** Options we agree to enable on our side, and on the server's side (not ECHO: see above). */
const WANT_US = new Set([OPT_COM_PORT, OPT_BINARY, OPT_SGA]);
const WANT_HIM = new Set([OPT_BINARY, OPT_SGA]);

type OptionState = 'no' | 'yes' | 'wantyes';
/** ser2net's device-side buffer (measured: data arrives in 4095-byte chunks). */
const SERVER_BUFFER_BYTES = 4_096;
/** Slack added to the close-time linger for the server's scheduling. */
const CLOSE_LINGER_MARGIN_MS = 20;

const PARITY_CODE: Record<LineSettings['parity'], number> = { none: 1, odd: 2, even: 3, mark: 4, space: 5 };
const STOPSIZE_CODE: Record<LineSettings['stopBits'], number> = { 1: 1, 2: 2, 1.5: 3 };
/** SET-CONTROL values (RFC 2217 §3). */
const CONTROL = { flowNone: 1, flowHardware: 3, dtrOn: 8, dtrOff: 9, rtsOn: 11, rtsOff: 12 } as const;

/** Bounds of an RFC 2217 link (a serial port behind ser2net or a terminal server): connect, negotiation and each control answer. */
export interface Rfc2217Options {
  /** TCP connect bound. Default 5000 ms. */
  connectTimeoutMs: number;
  /** Bound on the telnet negotiation and the initial COM-PORT answers. Default 5000 ms. */
  negotiationTimeoutMs: number;
  /** Bound on each later COM-PORT answer (setSignals, updateSettings). Default 2000 ms. */
  controlTimeoutMs: number;
}

const TIMEOUT_KEYS = ['connecttimeoutms', 'negotiationtimeoutms', 'controltimeoutms'];

/** Timeouts of an `rfc2217://` URI (the line settings come from `parseSerialOptions`). */
export function parseRfc2217Options(url: URL): Rfc2217Options {
  const out: Rfc2217Options = { connectTimeoutMs: 5_000, negotiationTimeoutMs: 5_000, controlTimeoutMs: 2_000 };
  for (const [key, value] of url.searchParams) {
    const k = key.toLowerCase();
    if (!TIMEOUT_KEYS.includes(k)) continue;
    const n = Number(value);
    if (!/^\d+$/.test(value) || n <= 0) {
      throw new ConfigError(key, value, `bad ${key}="${value}" in ${url.href}: expected a positive integer (ms)`);
    }
    if (k === 'connecttimeoutms') out.connectTimeoutMs = n;
    else if (k === 'negotiationtimeoutms') out.negotiationTimeoutMs = n;
    else out.controlTimeoutMs = n;
  }
  return out;
}

/** Escape 0xFF as IAC IAC (RFC 854). */
export function telnetEscape(data: Buffer): Buffer {
  if (!data.includes(IAC)) return data;
  const out: number[] = [];
  for (const b of data) {
    out.push(b);
    if (b === IAC) out.push(IAC);
  }
  return Buffer.from(out);
}

export type TelnetEvent =
  { kind: 'negotiate'; verb: number; option: number } | { kind: 'subnegotiation'; option: number; payload: Buffer };

/**
 * Splits a telnet byte stream into data and commands; keeps its state across chunks.
 * `push(chunk)` returns the data bytes and the commands found, in order of arrival.
 */
export class TelnetDecoder {
  #state: 'data' | 'iac' | 'verb' | 'sb' | 'sb-iac' = 'data';
  #verb = 0;
  #sb: number[] = [];

  push(chunk: Buffer): { data: Buffer; events: TelnetEvent[] } {
    const data: number[] = [];
    const events: TelnetEvent[] = [];
    for (const b of chunk) {
      switch (this.#state) {
        case 'data':
          if (b === IAC) this.#state = 'iac';
          else data.push(b);
          break;
        case 'iac':
          if (b === IAC) {
            data.push(IAC);
            this.#state = 'data';
          } else if (b === WILL || b === WONT || b === DO || b === DONT) {
            this.#verb = b;
            this.#state = 'verb';
          } else if (b === SB) {
            this.#sb = [];
            this.#state = 'sb';
          } else {
            this.#state = 'data'; // NOP, GA, DM, BRK, ...: no data, nothing to do
          }
          break;
        case 'verb':
          events.push({ kind: 'negotiate', verb: this.#verb, option: b });
          this.#state = 'data';
          break;
        case 'sb':
          if (b === IAC) this.#state = 'sb-iac';
          else this.#sb.push(b);
          break;
        case 'sb-iac':
          if (b === IAC) {
            this.#sb.push(IAC);
            this.#state = 'sb';
          } else {
            // IAC SE ends it (anything else after IAC is a protocol error; end it too).
            const [option = -1, ...payload] = this.#sb;
            events.push({ kind: 'subnegotiation', option, payload: Buffer.from(payload) });
            this.#sb = [];
            this.#state = 'data';
          }
          break;
      }
    }
    return { data: Buffer.from(data), events };
  }
}

interface Waiter {
  resolve(payload: Buffer): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The telnet session as a Duplex of clean data: writes are escaped onto the socket, socket
 * bytes are decoded, and commands are handled here. `StreamLink` wraps it for the contract.
 */
class TelnetDuplex extends Duplex {
  readonly #socket: net.Socket;
  readonly #decoder = new TelnetDecoder();
  /** RFC 1143 option state on our side (WILL/WONT) and the server's side (DO/DONT). */
  readonly #us = new Map<number, OptionState>();
  readonly #him = new Map<number, OptionState>();
  /** Answers awaited: (server command) → FIFO. */
  readonly #waiters = new Map<number, Waiter[]>();
  #onNegotiated: (() => void) | undefined;
  comPortRefused = false;
  /** Data bytes written since the server last proved it had read up to that point. */
  #unsynced = 0;
  #linger: ReturnType<typeof setTimeout> | undefined;
  /** The line rate in force, for the close-time linger. */
  baudRate = 115_200;
  /** Bound on the close-time sync answer. */
  syncTimeoutMs = 2_000;

  constructor(socket: net.Socket) {
    super({ allowHalfOpen: false });
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onSocketData(chunk));
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => {
      this.#rejectWaiters(new Error('the telnet connection closed'));
      if (!this.destroyed) this.destroy();
    });
  }

  /** Offer our options; resolves when every offer got an answer. */
  negotiate(): Promise<void> {
    const offers: Array<[number, number]> = [
      [WILL, OPT_COM_PORT],
      [WILL, OPT_BINARY],
      [DO, OPT_BINARY],
      [WILL, OPT_SGA],
      [DO, OPT_SGA],
    ];
    const bytes: number[] = [];
    for (const [verb, option] of offers) {
      (verb === WILL ? this.#us : this.#him).set(option, 'wantyes');
      bytes.push(IAC, verb, option);
    }
    this.#socket.write(Buffer.from(bytes));
    return new Promise((resolve) => {
      this.#onNegotiated = resolve;
      this.#checkNegotiated();
    });
  }

  /** Send a COM-PORT-OPTION command and await the server's answer (command + 100). */
  comPort(command: number, value: Buffer, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const answer = command + SERVER_OFFSET;
      const list = this.#waiters.get(answer) ?? [];
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const l = this.#waiters.get(answer);
          if (l) l.splice(l.indexOf(waiter), 1);
          reject(
            Object.assign(new Error(`no answer to COM-PORT command ${command} within ${timeoutMs} ms`), {
              code: 'ETIMEDOUT',
            }),
          );
        }, timeoutMs),
      };
      list.push(waiter);
      this.#waiters.set(answer, list);
      const payload = telnetEscape(Buffer.concat([Buffer.from([command]), value]));
      this.#socket.write(Buffer.concat([Buffer.from([IAC, SB, OPT_COM_PORT]), payload, Buffer.from([IAC, SE])]));
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#unsynced += chunk.length;
    this.#socket.write(telnetEscape(chunk), cb);
  }

  override _read(): void {
    // Data is pushed as it arrives; the socket is not paused (AT traffic is small).
  }

  /**
   * Graceful end. ser2net drops what it has not yet written to the device when the TCP
   * connection closes (measured: 24 KB of a 32 KB write lost under load). So before ending:
   * 1. ask the server something (SET-BAUDRATE 0 = "which baud rate?"); it reads the stream in
   *    order and reads the network only as its device writes progress, so the answer means
   *    every earlier byte has left the socket, and at most one buffer is still on its way;
   * 2. wait the line time of that buffer (ser2net's is 4 KB) or of what we wrote, if less;
   * 3. end our side and wait for the server to close (StreamLink bounds all of it).
   */
  override _final(cb: (err?: Error | null) => void): void {
    void (async () => {
      if (this.#unsynced > 0 && !this.#socket.destroyed) {
        const pending = Math.min(this.#unsynced, SERVER_BUFFER_BYTES);
        try {
          await this.comPort(CPO_SET_BAUDRATE, Buffer.alloc(4), this.syncTimeoutMs);
          await new Promise<void>((r) => {
            this.#linger = setTimeout(r, Math.ceil((pending * 10 * 1000) / this.baudRate) + CLOSE_LINGER_MARGIN_MS);
          });
        } catch (err) {
          debug('close-time sync failed: %s', (err as Error).message);
        }
      }
      this.#socket.once('close', () => cb());
      this.#socket.end();
    })();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#rejectWaiters(err ?? new Error('the link was closed'));
    clearTimeout(this.#linger);
    this.#socket.destroy();
    cb(err);
  }

  #rejectWaiters(err: Error): void {
    for (const list of this.#waiters.values()) {
      for (const w of list) {
        clearTimeout(w.timer);
        w.reject(err);
      }
    }
    this.#waiters.clear();
  }

  #onSocketData(chunk: Buffer): void {
    const { data, events } = this.#decoder.push(chunk);
    for (const e of events) {
      if (e.kind === 'negotiate') this.#onNegotiate(e.verb, e.option);
      else this.#onSubnegotiation(e.option, e.payload);
    }
    if (data.length > 0) this.push(data);
  }

  #send(verb: number, option: number): void {
    this.#socket.write(Buffer.from([IAC, verb, option]));
  }

  /**
   * RFC 1143 without the queue bits (we never change our mind after the offers):
   * - DO/WILL in NO: agree (WILL/DO) if it is an option we want, else refuse (WONT/DONT);
   *   in YES: ignore; in WANTYES: it is the answer to our offer, so YES without a reply.
   * - DONT/WONT in NO: ignore; in YES: acknowledge (WONT/DONT) and go NO; in WANTYES: the
   *   offer was refused, NO without a reply.
   * Never answering an answer is what keeps negotiation from looping.
   */
  #onNegotiate(verb: number, option: number): void {
    const aboutUs = verb === DO || verb === DONT;
    const on = verb === DO || verb === WILL;
    const states = aboutUs ? this.#us : this.#him;
    const wanted = aboutUs ? WANT_US.has(option) : WANT_HIM.has(option);
    const state = states.get(option) ?? 'no';
    const yes = aboutUs ? WILL : DO;
    const no = aboutUs ? WONT : DONT;
    if (on) {
      if (state === 'wantyes') states.set(option, 'yes');
      else if (state === 'no') {
        states.set(option, wanted ? 'yes' : 'no');
        this.#send(wanted ? yes : no, option);
      }
    } else {
      if (aboutUs && option === OPT_COM_PORT) this.comPortRefused = true;
      if (state === 'yes') this.#send(no, option);
      states.set(option, 'no');
    }
    debug('negotiate %d %d', verb, option);
    this.#checkNegotiated();
  }

  #checkNegotiated(): void {
    const pending = [...this.#us.values(), ...this.#him.values()].includes('wantyes');
    if (this.#onNegotiated && (!pending || this.comPortRefused)) {
      const done = this.#onNegotiated;
      this.#onNegotiated = undefined;
      done();
    }
  }

  #onSubnegotiation(option: number, payload: Buffer): void {
    if (option !== OPT_COM_PORT || payload.length === 0) return;
    const command = payload[0]!;
    const waiter = this.#waiters.get(command)?.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(payload.subarray(1));
    } else {
      debug('COM-PORT notification %d %o', command, payload.subarray(1));
    }
  }
}

/** An `rfc2217://` link: the contract over the telnet session, plus signals and settings. */
export class Rfc2217Link extends StreamLink {
  readonly #telnet: TelnetDuplex;
  readonly #opts: Rfc2217Options;
  #settings: Required<LineSettings>;

  constructor(uri: string, telnet: TelnetDuplex, settings: Required<LineSettings>, opts: Rfc2217Options) {
    super(uri, telnet);
    this.#telnet = telnet;
    this.#settings = settings;
    this.#opts = opts;
    telnet.baudRate = settings.baudRate;
    telnet.syncTimeoutMs = opts.controlTimeoutMs;
  }

  /** The line settings the server acknowledged. */
  get settings(): Readonly<Required<LineSettings>> {
    return this.#settings;
  }

  async setSignals(signals: LinkSignals): Promise<void> {
    if (!this.isOpen)
      throw new LinkError('BXHIL_LINK_CLOSED', this.uri, `cannot set DTR/RTS on ${this.uri}: the link is closed`);
    const values: number[] = [];
    if (signals.dtr !== undefined) values.push(signals.dtr ? CONTROL.dtrOn : CONTROL.dtrOff);
    if (signals.rts !== undefined) values.push(signals.rts ? CONTROL.rtsOn : CONTROL.rtsOff);
    for (const v of values) {
      try {
        await this.#telnet.comPort(CPO_SET_CONTROL, Buffer.from([v]), this.#opts.controlTimeoutMs);
      } catch (cause) {
        throw new LinkUnsupportedError(
          this.uri,
          'setSignals',
          `the RFC 2217 server at ${this.uri} did not acknowledge ${v <= CONTROL.dtrOff ? 'DTR' : 'RTS'} within ${this.#opts.controlTimeoutMs} ms: its port probably has no modem-control lines (a PTY); reset the module another way`,
          { cause },
        );
      }
    }
  }

  async updateSettings(settings: Partial<LineSettings>): Promise<void> {
    if (!this.isOpen)
      throw new LinkError('BXHIL_LINK_CLOSED', this.uri, `cannot update settings of ${this.uri}: the link is closed`);
    checkLineSettings(settings, this.uri);
    const next = {
      ...this.#settings,
      ...Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)),
    };
    try {
      this.#settings = await applySettings(this.#telnet, next, this.#settings, this.#opts.controlTimeoutMs);
      this.#telnet.baudRate = this.#settings.baudRate;
    } catch (cause) {
      throw new LinkUnsupportedError(
        this.uri,
        'updateSettings',
        `the RFC 2217 server at ${this.uri} did not apply the settings: ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
  }
}

/** Send the settings that differ from `current` (all of them when `current` is undefined). */
async function applySettings(
  telnet: TelnetDuplex,
  next: Required<LineSettings>,
  current: Required<LineSettings> | undefined,
  timeoutMs: number,
): Promise<Required<LineSettings>> {
  const applied = { ...next };
  if (current?.baudRate !== next.baudRate) {
    const v = Buffer.alloc(4);
    v.writeUInt32BE(next.baudRate);
    const answer = await telnet.comPort(CPO_SET_BAUDRATE, v, timeoutMs);
    if (answer.length >= 4) applied.baudRate = answer.readUInt32BE(0);
    if (applied.baudRate !== next.baudRate) {
      throw new Error(
        `baud rate ${next.baudRate} was answered with ${applied.baudRate}: use a rate the server's port supports`,
      );
    }
  }
  if (current?.dataBits !== next.dataBits)
    await telnet.comPort(CPO_SET_DATASIZE, Buffer.from([next.dataBits]), timeoutMs);
  if (current?.parity !== next.parity)
    await telnet.comPort(CPO_SET_PARITY, Buffer.from([PARITY_CODE[next.parity]]), timeoutMs);
  if (current?.stopBits !== next.stopBits)
    await telnet.comPort(CPO_SET_STOPSIZE, Buffer.from([STOPSIZE_CODE[next.stopBits]]), timeoutMs);
  if (current?.rtscts !== next.rtscts) {
    await telnet.comPort(
      CPO_SET_CONTROL,
      Buffer.from([next.rtscts ? CONTROL.flowHardware : CONTROL.flowNone]),
      timeoutMs,
    );
  }
  return applied;
}

/** Everything an `rfc2217://` URI says (line settings, timeouts, host and port); throws `ConfigError`. */
export function parseRfc2217Uri(url: URL): {
  settings: Required<LineSettings>;
  opts: Rfc2217Options;
  target: ReturnType<typeof parseTcpTarget>;
} {
  const settings = parseSerialOptions(url, { allow: TIMEOUT_KEYS });
  const opts = parseRfc2217Options(url);
  const target = {
    ...parseTcpTarget(url, [...TIMEOUT_KEYS, 'baud', 'baudrate', 'databits', 'parity', 'stopbits', 'rtscts']),
    connectTimeoutMs: opts.connectTimeoutMs,
  };
  return { settings, opts, target };
}

/** Open an `rfc2217://host:port?...` link (see the module comment). */
export async function openRfc2217Link(url: URL, raw: string = url.href): Promise<Rfc2217Link> {
  const { settings, opts, target } = parseRfc2217Uri(url);
  const socket = await connectTcp(raw, target, 'ser2net (with an accepter `telnet(rfc2217),tcp,...`)');
  const telnet = new TelnetDuplex(socket);
  telnet.on('error', (err) => debug('%s: %s', raw, err.message)); // until the link owns it
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const negotiated = telnet.negotiate();
    await Promise.race([
      negotiated,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new LinkOpenError(
                raw,
                'ETIMEDOUT',
                `${target.host}:${target.port} accepted the connection but did not negotiate telnet within ${opts.negotiationTimeoutMs} ms: is it an RFC 2217 server (ser2net accepter "telnet(rfc2217),tcp,...")? For a raw TCP port use tcp:// instead`,
              ),
            ),
          opts.negotiationTimeoutMs,
        );
      }),
    ]);
    if (telnet.comPortRefused) {
      throw new LinkOpenError(
        raw,
        'NEGOTIATION',
        `${target.host}:${target.port} refused COM-PORT-OPTION (RFC 2217): enable it in ser2net with an accepter "telnet(rfc2217),tcp,..."`,
      );
    }
    try {
      await applySettings(telnet, settings, undefined, opts.negotiationTimeoutMs);
    } catch (cause) {
      throw new LinkOpenError(
        raw,
        'NEGOTIATION',
        `${target.host}:${target.port} did not apply the line settings: ${(cause as Error).message}`,
        { cause },
      );
    }
  } catch (err) {
    telnet.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  telnet.removeAllListeners('error');
  return new Rfc2217Link(raw, telnet, settings, opts);
}
