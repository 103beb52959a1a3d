/**
 * The lab's SNTP responder: serves a module the time a scenario wants, so
 * "not yet valid" (serve 1970) and "expired" (serve a date past the certificate) can be
 * reproduced on a module that sets its clock from the network. [guess] No source says the BX
 * uses SNTP (docs/reference/bx310x-at.md §8, open question 11); first contact with hardware
 * settles it. The packet format is harness/ntp.ts.
 */
import type { Socket } from 'node:dgram';
import createDebug from 'debug';
import { ConfigError } from '../errors.ts';
import type { EvidenceBus } from '../evidence.ts';
import { decodeNtpRequest, encodeNtpReply, ntpRepresentable } from '../ntp.ts';
import { bindUdp4, checkListenHost } from './udp.ts';

const debug = createDebug('bx-hil:sntp');

/** `host`: the host's clock; a Date: that instant, counting on from when the responder started. */
export type SntpTime = 'host' | Date;

/** Options of `startSntpResponder`: where it listens and what time it tells. */
export interface SntpResponderOptions {
  host?: string;
  /** Default 0 (a free port); 123 is the standard one and needs privileges. */
  port?: number;
  time: SntpTime;
  bus?: EvidenceBus;
  /** The field named in a ConfigError about the address (`--listen`). Default `sntp.listen`. */
  field?: string;
  /** The field named in a ConfigError about the time (`--time`). Default `sntp.time`. */
  timeField?: string;
}

/** One SNTP query the responder answered: who asked, when, and the time it gave. */
export interface SntpQuery {
  t: number;
  from: string;
  served: string;
}

/** A running SNTP responder: its `host` and `port`, the queries it answered, `close()`. */
export class SntpResponder {
  readonly host: string;
  readonly port: number;
  readonly #socket: Socket;
  readonly #bus: EvidenceBus | undefined;
  readonly #queries: SntpQuery[] = [];
  readonly #listeners = new Set<(q: SntpQuery) => void>();
  #time: SntpTime;
  #startedAt = performance.now();
  #closing: Promise<void> | undefined;

  /** @internal use `startSntpResponder`. */
  constructor(socket: Socket, options: SntpResponderOptions) {
    this.#socket = socket;
    const addr = socket.address();
    this.host = addr.address;
    this.port = addr.port;
    this.#time = options.time;
    this.#bus = options.bus;
    socket.on('message', (msg, rinfo) => {
      if (!decodeNtpRequest(msg)) {
        debug('not an SNTP request from %s:%d (%d bytes)', rinfo.address, rinfo.port, msg.length);
        return;
      }
      const now = this.now();
      const from = `${rinfo.address}:${rinfo.port}`;
      const seen: SntpQuery = { t: this.#bus?.clock.now() ?? performance.now(), from, served: now.toISOString() };
      this.#queries.push(seen);
      this.#bus?.emit({
        t: seen.t,
        source: 'ntp',
        kind: 'query',
        summary: `SNTP from ${from}: served ${seen.served}`,
        data: { ...seen },
      });
      for (const listener of this.#listeners) {
        try {
          listener(seen);
        } catch (err) {
          debug('query listener threw: %O', err); // a broken console must not stop the answers
        }
      }
      if (this.#closing) return;
      socket.send(encodeNtpReply(msg, now), rinfo.port, rinfo.address);
    });
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get queries(): readonly SntpQuery[] {
    return this.#queries;
  }

  /** Call `listener` with each request once answered; returns the unsubscribe function. */
  onQuery(listener: (q: SntpQuery) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The time served now. */
  now(): Date {
    const t = this.#time;
    return t === 'host' ? new Date() : new Date(t.getTime() + (performance.now() - this.#startedAt));
  }

  /** Serve another time from now on (counting on from `time`). */
  setTime(time: SntpTime): void {
    checkTime(time, 'sntp.time');
    this.#time = time;
    this.#startedAt = performance.now();
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => this.#socket.close(() => resolve()));
    return this.#closing;
  }
}

function checkTime(time: SntpTime, field: string): void {
  if (time === 'host' || (time instanceof Date && !Number.isNaN(time.getTime()) && ntpRepresentable(time))) return;
  throw new ConfigError(
    field,
    String(time),
    `${field} must be 'host' or a date from 1900 to 2036-02-07 (an NTP era-0 timestamp), not ${String(time)}`,
  );
}

/** Start an SNTP responder that tells the module a chosen time (or the host's), recording each query; close it when done. */
export async function startSntpResponder(options: SntpResponderOptions): Promise<SntpResponder> {
  checkTime(options.time, options.timeField ?? 'sntp.time');
  const field = options.field ?? 'sntp.listen';
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  checkListenHost(host, field);
  const socket = await bindUdp4(host, port, field, 'sntp', debug);
  return new SntpResponder(socket, options);
}
