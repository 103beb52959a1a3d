/**
 * A Duplex shim between the (TLS) socket and aedes: aedes reads and writes the shim, the shim
 * frames MQTT packets in both directions, reports each one (for the evidence), lets a gate
 * pass, rewrite, drop or refuse inbound packets (profile rules such as aws-iot's), and drops
 * outbound packets of a withheld type (fault injection). aedes owns no sockets (docs/STYLE.md §12),
 * so it cannot tell the shim from a socket.
 */
import { Duplex } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';

export type GateAction =
  | { action: 'pass' }
  /** Pass this packet instead (e.g. a CONNECT with the keep-alive clamped). */
  | { action: 'replace'; packet: Packet }
  /** Drop silently (e.g. aws-iot: QoS 2 SUBSCRIBE gets no SUBACK). */
  | { action: 'drop'; reason: string }
  /** Write `reply` (if any) to the client, then close the connection. */
  | { action: 'close'; reason: string; reply?: Packet };

export interface TapHooks {
  /** Called for every complete inbound packet before aedes sees it. */
  gate(packet: Packet): GateAction;
  /** Whether a packet of this type must be parsed (gate, evidence); otherwise only counted. */
  wantsPacket(dir: 'in' | 'out', cmd: string): boolean;
  /** A packet that was not parsed (bulk traffic past the evidence cap). */
  onLightPacket(dir: 'in' | 'out', cmd: string, withheld: boolean): void;
  /** Every parsed packet, after the gate/fault decision. `withheld` when it did not reach its peer. */
  onPacket(dir: 'in' | 'out', packet: Packet, withheld: boolean, original?: Packet): void;
  /** True when an outbound packet of this type must be dropped (fault injection). */
  withhold(cmd: string): boolean;
  /** A gate refused; the tap has closed the socket. */
  onRefuse(reason: string): void;
  /** Bytes that do not parse as MQTT. */
  onMalformed(dir: 'in' | 'out', err: Error): void;
  /** aedes destroyed the connection (take-over, keep-alive timeout, protocol error). */
  onBrokerClose(err: Error | null): void;
}

/** Splits a byte stream into whole MQTT packets (fixed header + remaining length, [MQTT-2.2]). */
export class MqttFramer {
  #buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    const out: Buffer[] = [];
    for (;;) {
      if (this.#buf.length < 2) break;
      let len = 0;
      let mult = 1;
      let i = 1;
      let complete = false;
      for (; i < 5 && i < this.#buf.length; i++) {
        const b = this.#buf[i]!;
        len += (b & 0x7f) * mult;
        mult *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (i >= 5) throw new Error('malformed MQTT remaining length');
        break;
      }
      const total = i + 1 + len;
      if (this.#buf.length < total) break;
      out.push(this.#buf.subarray(0, total));
      this.#buf = this.#buf.subarray(total);
    }
    return out;
  }
}

/** MQTT control packet type (first nibble) -> mqtt-packet `cmd` ([MQTT-2.2.1]). */
const CMDS = [
  'reserved',
  'connect',
  'connack',
  'publish',
  'puback',
  'pubrec',
  'pubrel',
  'pubcomp',
  'subscribe',
  'suback',
  'unsubscribe',
  'unsuback',
  'pingreq',
  'pingresp',
  'disconnect',
  'auth',
] as const;

export function cmdOf(frame: Buffer): string {
  return CMDS[frame[0]! >> 4] ?? 'reserved';
}

/** A persistent mqtt-packet parser fed one whole frame at a time. */
class FrameParser {
  readonly #parser: ReturnType<typeof mqttPacket.parser>;
  #got: Packet | undefined;
  #error: Error | undefined;

  constructor(protocolVersion?: number) {
    this.#parser = mqttPacket.parser(protocolVersion ? { protocolVersion } : undefined);
    this.#parser.on('packet', (p: Packet) => (this.#got = p));
    this.#parser.on('error', (e: Error) => (this.#error = e));
  }

  parse(frame: Buffer): Packet {
    this.#got = undefined;
    this.#error = undefined;
    this.#parser.parse(frame);
    if (this.#error) throw this.#error;
    if (!this.#got) throw new Error('incomplete MQTT packet');
    return this.#got;
  }
}

/**
 * Wrap `socket` (a TLS socket or a plain one) for aedes. Inbound bytes flow socket -> gate ->
 * aedes; outbound aedes -> withhold filter -> socket.
 */
export class MqttTap extends Duplex {
  readonly #socket: Duplex;
  readonly #hooks: TapHooks;
  readonly #inFramer = new MqttFramer();
  readonly #outFramer = new MqttFramer();
  readonly #inParser = new FrameParser();
  #outParser = new FrameParser();
  #protocolVersion = 4;
  #refused = false;
  #peerEnded = false;

  constructor(socket: Duplex, hooks: TapHooks) {
    super({ allowHalfOpen: false });
    this.#socket = socket;
    this.#hooks = hooks;
    socket.on('data', (chunk: Buffer) => this.#onInbound(chunk));
    socket.on('end', () => {
      this.#peerEnded = true;
      this.push(null);
    });
    socket.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
    socket.on('error', (err) => {
      if (!this.destroyed) this.destroy(err);
    });
  }

  get protocolVersion(): number {
    return this.#protocolVersion;
  }

  #onInbound(chunk: Buffer): void {
    if (this.#refused) return;
    let frames: Buffer[];
    try {
      frames = this.#inFramer.push(chunk);
    } catch (err) {
      this.#hooks.onMalformed('in', err as Error);
      this.push(chunk); // let aedes fail it the way it does
      return;
    }
    const pass: Buffer[] = [];
    const flush = (): void => {
      if (pass.length === 0) return;
      if (!this.push(pass.length === 1 ? pass[0]! : Buffer.concat(pass))) this.#socket.pause();
      pass.length = 0;
    };
    for (const frame of frames) {
      const cmd = cmdOf(frame);
      if (!this.#hooks.wantsPacket('in', cmd)) {
        this.#hooks.onLightPacket('in', cmd, false);
        pass.push(frame);
        continue;
      }
      let packet: Packet;
      try {
        packet = this.#inParser.parse(frame);
      } catch (err) {
        this.#hooks.onMalformed('in', err as Error);
        pass.push(frame);
        continue;
      }
      if (packet.cmd === 'connect') {
        this.#protocolVersion = packet.protocolVersion ?? 4;
        this.#outParser = new FrameParser(this.#protocolVersion);
      }
      const decision = this.#hooks.gate(packet);
      switch (decision.action) {
        case 'pass':
          this.#hooks.onPacket('in', packet, false);
          pass.push(frame);
          break;
        case 'replace': {
          this.#hooks.onPacket('in', decision.packet, false, packet);
          pass.push(mqttPacket.generate(decision.packet, { protocolVersion: this.#protocolVersion }));
          break;
        }
        case 'drop':
          this.#hooks.onPacket('in', packet, true);
          break;
        case 'close':
          flush();
          this.#hooks.onPacket('in', packet, true);
          this.#refused = true;
          if (decision.reply) this.#hooks.onPacket('out', decision.reply, false);
          this.#hooks.onRefuse(decision.reason);
          if (decision.reply) {
            this.#socket.end(mqttPacket.generate(decision.reply, { protocolVersion: this.#protocolVersion }));
            setTimeout(() => this.#socket.destroy(), 200).unref();
          } else {
            this.#socket.destroy();
          }
          return;
      }
    }
    flush();
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.#refused || this.#socket.destroyed) {
      cb();
      return;
    }
    let frames: Buffer[];
    try {
      frames = this.#outFramer.push(chunk);
    } catch (err) {
      this.#hooks.onMalformed('out', err as Error);
      this.#socket.write(chunk, () => cb());
      return;
    }
    const keep: Buffer[] = [];
    for (const frame of frames) {
      const cmd = cmdOf(frame);
      const withheld = this.#hooks.withhold(cmd);
      if (this.#hooks.wantsPacket('out', cmd)) {
        try {
          this.#hooks.onPacket('out', this.#outParser.parse(frame), withheld);
        } catch (err) {
          this.#hooks.onMalformed('out', err as Error);
        }
      } else {
        this.#hooks.onLightPacket('out', cmd, withheld);
      }
      if (!withheld) keep.push(frame);
    }
    if (keep.length === 0 || this.#socket.destroyed) {
      cb();
      return;
    }
    // Call back as soon as the socket accepts the bytes (not when they are flushed): aedes
    // writes one packet at a time, and waiting for the flush would halve throughput.
    if (this.#socket.write(keep.length === 1 ? keep[0]! : Buffer.concat(keep))) cb();
    else this.#socket.once('drain', () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#socket.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.#socket.destroyed) {
      if (!this.#peerEnded && !this.#refused) this.#hooks.onBrokerClose(err);
      this.#socket.destroy();
    }
    cb(err);
  }
}
