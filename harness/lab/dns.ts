/**
 * The lab's DNS responder: a real module finds its broker through DNS from the Wi-Fi network's
 * DHCP, so the harness answers the run's names itself. Built on `dns-packet` (the
 * codec) over `node:dgram` (the socket); nothing here parses DNS by hand.
 *
 * - A known name (case-insensitive, trailing dot tolerated) gets its A record; any other query
 *   type for a known name (AAAA, MX...) gets NOERROR with no answer, so a dual-stack resolver
 *   falls back to the A record instead of giving up.
 * - Any other name gets NXDOMAIN, or is relayed to `forward` (an upstream resolver) as is.
 * - Every query lands on the evidence bus (`source: 'dns'`, `kind: 'query'`): the name, the
 *   type, who asked, and what it was told. That record is what `judgeDnsQueries` reads.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import createDebug from 'debug';
import dnsPacket, { type Answer, type Packet } from 'dns-packet';
import { ConfigError } from '../errors.ts';
import type { EvidenceBus } from '../evidence.ts';
import { bindUdp4, checkListenHost } from './udp.ts';

const debug = createDebug('bx-hil:dns');

/** How long a forwarded query may wait for the upstream before the module gets SERVFAIL. */
const DEFAULT_FORWARD_TIMEOUT_MS = 2_000; // a resolver's own per-try timeout is of this order (glibc: 5 s, c-ares: 5 s)

/** The RCODEs the responder gives (RFC 1035 §4.1.1). */
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;

/** TTL of the answers: short, so a module that caches does not keep a stale lab address for long. */
const ANSWER_TTL_S = 5;

/** Options of `startDnsResponder`: where it listens, the names it answers, an upstream for the rest. */
export interface DnsResponderOptions {
  /** Where to listen. Default 127.0.0.1, port 0 (a free one; read it back from `port`). */
  host?: string;
  port?: number;
  /** Host name → IPv4 address the module is told. */
  names: Record<string, string>;
  /** `<ip>[:<port>]` of an upstream resolver for every other name; absent: NXDOMAIN. */
  forward?: string;
  forwardTimeoutMs?: number;
  bus?: EvidenceBus;
  /** The field named in a ConfigError (`--listen`, `network.dns.listen`). Default `dns.listen`. */
  field?: string;
}

/** One query as the responder saw it. */
export interface DnsQuery {
  /** Monotonic ms (the bus clock when there is a bus, else performance.now()). */
  t: number;
  /** The name as asked (case and trailing dot kept). */
  name: string;
  type: string;
  /** `<ip>:<port>` of the asker. */
  from: string;
  /** `NOERROR`, `NXDOMAIN`, `SERVFAIL`. */
  rcode: string;
  /** The A/AAAA addresses given. */
  addresses: string[];
  /** Who decided: `names` (the run's map), `forward` (the upstream), `none` (NXDOMAIN). */
  by: 'names' | 'forward' | 'none';
}

/** `<ip>:<port>` / `<ip>` → host and port (port 53 when absent). */
export function parseDnsAddress(text: string, field: string, defaultPort = 53): { host: string; port: number } {
  const m = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(text);
  const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
  if (!m || !isIPv4(m[1]!) || port > 65_535) {
    throw new ConfigError(field, text, `${field} must be <ipv4>[:<port>], e.g. 127.0.0.1:5353, not "${text}"`);
  }
  return { host: m[1]!, port };
}

/** `<host>=<ipv4>` → [host, ip]. */
export function parseDnsName(text: string, field: string): [string, string] {
  const eq = text.indexOf('=');
  const host = eq > 0 ? text.slice(0, eq) : '';
  const ip = eq > 0 ? text.slice(eq + 1) : '';
  if (!host || !isIPv4(ip) || !/^[A-Za-z0-9_.-]+\.?$/.test(host)) {
    throw new ConfigError(
      field,
      text,
      `${field} must be <host>=<ipv4>, e.g. abc-ats.iot.eu-west-1.amazonaws.com=192.168.4.1, not "${text}"`,
    );
  }
  return [host, ip];
}

/** The key a name is looked up by: lower case, no trailing dot. */
export function normalizeDnsName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** A running DNS responder: its `address`, the queries it answered (`queries`), `close()`. */
export class DnsResponder {
  readonly host: string;
  readonly port: number;
  readonly #socket: Socket;
  readonly #names: Map<string, string>;
  readonly #forward: { host: string; port: number } | undefined;
  readonly #forwardTimeoutMs: number;
  readonly #bus: EvidenceBus | undefined;
  readonly #queries: DnsQuery[] = [];
  readonly #pending = new Set<Socket>();
  readonly #listeners = new Set<(q: DnsQuery) => void>();
  #closing: Promise<void> | undefined;

  /** @internal use `startDnsResponder`. */
  constructor(socket: Socket, names: Map<string, string>, options: DnsResponderOptions) {
    this.#socket = socket;
    const addr = socket.address();
    this.host = addr.address;
    this.port = addr.port;
    this.#names = names;
    this.#forward = options.forward === undefined ? undefined : parseDnsAddress(options.forward, 'dns.forward');
    this.#forwardTimeoutMs = options.forwardTimeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS;
    this.#bus = options.bus;
    socket.on('message', (msg, rinfo) => void this.#onMessage(msg, rinfo));
  }

  /** `<ip>:<port>`, the form `sim:...?dns=` and `Resolver.setServers` take. */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** Every query so far, oldest first. */
  get queries(): readonly DnsQuery[] {
    return this.#queries;
  }

  /** Call `listener` with each query once answered; returns the unsubscribe function. */
  onQuery(listener: (q: DnsQuery) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Map (or re-map) a name while running. */
  setName(name: string, ip: string): void {
    const [host, addr] = parseDnsName(`${name}=${ip}`, 'dns.names');
    this.#names.set(normalizeDnsName(host), addr);
  }

  async #onMessage(msg: Buffer, rinfo: RemoteInfo): Promise<void> {
    let query: Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch (err) {
      debug('undecodable datagram from %s:%d: %s', rinfo.address, rinfo.port, (err as Error).message);
      return; // a resolver would drop it too; nothing to answer
    }
    const q = query.questions?.[0];
    if (query.type !== 'query' || !q) return;
    const from = `${rinfo.address}:${rinfo.port}`;
    const known = this.#names.get(normalizeDnsName(q.name));
    let reply: Buffer;
    let record: Omit<DnsQuery, 't' | 'name' | 'type' | 'from'>;
    if (known !== undefined) {
      const answers: Answer[] = q.type === 'A' ? [{ type: 'A', name: q.name, ttl: ANSWER_TTL_S, data: known }] : [];
      reply = this.#encode(query, 'NOERROR', answers);
      record = { rcode: 'NOERROR', addresses: answers.length ? [known] : [], by: 'names' };
    } else if (this.#forward) {
      const upstream = await this.#relay(msg);
      if (upstream) {
        reply = upstream;
        let decoded: (Packet & { rcode?: string }) | undefined;
        try {
          // decode() also returns the header's `rcode`, which the type definitions leave out
          decoded = dnsPacket.decode(upstream) as Packet & { rcode?: string };
        } catch {
          decoded = undefined;
        }
        record = {
          rcode: decoded?.rcode ?? 'NOERROR',
          addresses: (decoded?.answers ?? [])
            .filter(
              (a): a is Answer & { data: string } =>
                (a.type === 'A' || a.type === 'AAAA') && typeof a.data === 'string',
            )
            .map((a) => a.data),
          by: 'forward',
        };
      } else {
        reply = this.#encode(query, 'SERVFAIL', []);
        record = { rcode: 'SERVFAIL', addresses: [], by: 'forward' };
      }
    } else {
      reply = this.#encode(query, 'NXDOMAIN', []);
      record = { rcode: 'NXDOMAIN', addresses: [], by: 'none' };
    }
    const t = this.#bus?.clock.now() ?? performance.now();
    const seen: DnsQuery = { t, name: q.name, type: q.type, from, ...record };
    this.#queries.push(seen);
    const said = seen.addresses.length ? seen.addresses.join(', ') : seen.rcode;
    this.#bus?.emit({
      t,
      source: 'dns',
      kind: 'query',
      summary: `${q.type} ${q.name} from ${from}: ${said}${seen.by === 'forward' ? ' (forwarded)' : ''}`,
      data: { ...seen },
    });
    debug('%s %s from %s -> %s', q.type, q.name, from, said);
    for (const listener of this.#listeners) {
      try {
        listener(seen);
      } catch (err) {
        // A broken listener (a console that closed) must not stop the answers.
        debug('query listener threw: %O', err);
      }
    }
    if (this.#closing) return;
    this.#socket.send(reply, rinfo.port, rinfo.address, (err) => {
      if (err) debug('reply to %s failed: %s', from, err.message);
    });
  }

  #encode(query: Packet, rcode: keyof typeof RCODE, answers: Answer[]): Buffer {
    // RD copied from the query, RA set: we answer as a recursive resolver would.
    const rd = ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) !== 0;
    // dns-packet 5 encodes the RCODE only as the low 4 bits of `flags` (decode reads it back as `rcode`).
    return dnsPacket.encode({
      type: 'response',
      id: query.id,
      flags:
        dnsPacket.AUTHORITATIVE_ANSWER |
        dnsPacket.RECURSION_AVAILABLE |
        (rd ? dnsPacket.RECURSION_DESIRED : 0) |
        RCODE[rcode],
      questions: query.questions,
      answers,
    });
  }

  /** Send the query's bytes to the upstream; its reply's bytes, or undefined on timeout/error. */
  #relay(msg: Buffer): Promise<Buffer | undefined> {
    const { host, port } = this.#forward!;
    return new Promise((resolve) => {
      const sock = createSocket('udp4');
      this.#pending.add(sock);
      const done = (reply: Buffer | undefined) => {
        clearTimeout(timer);
        this.#pending.delete(sock);
        sock.close();
        resolve(reply);
      };
      const timer = setTimeout(() => {
        debug('forward to %s:%d timed out after %d ms', host, port, this.#forwardTimeoutMs);
        done(undefined);
      }, this.#forwardTimeoutMs);
      sock.once('message', (reply) => done(reply));
      sock.once('error', (err) => {
        debug('forward to %s:%d failed: %s', host, port, err.message);
        done(undefined);
      });
      sock.send(msg, port, host);
    });
  }

  /** Stop answering and release the port. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      for (const s of this.#pending) s.close();
      this.#pending.clear();
      this.#socket.close(() => resolve());
    });
    return this.#closing;
  }
}

/** Bind the responder and start answering; rejects with a ConfigError naming the fix when the port cannot be had. */
export async function startDnsResponder(options: DnsResponderOptions): Promise<DnsResponder> {
  const field = options.field ?? 'dns.listen';
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  checkListenHost(host, field);
  const names = new Map<string, string>();
  for (const [name, ip] of Object.entries(options.names)) {
    if (!isIPv4(ip))
      throw new ConfigError('dns.names', `${name}=${ip}`, `dns.names: ${name} maps to "${ip}", not an IPv4 address`);
    names.set(normalizeDnsName(name), ip);
  }
  const fwd = options.forward === undefined ? undefined : parseDnsAddress(options.forward, 'dns.forward');
  const socket = await bindUdp4(host, port, field, 'dns', debug);
  const bound = socket.address();
  if (fwd && fwd.port === bound.port && (fwd.host === bound.address || bound.address === '0.0.0.0')) {
    // Forwarding to itself would relay each query back in a loop until every try timed out.
    socket.close();
    throw new ConfigError(
      'dns.forward',
      options.forward,
      `dns.forward ${options.forward} is this responder itself: name an upstream resolver`,
    );
  }
  return new DnsResponder(socket, names, options);
}

/** What `probeDns` found: whether the server answered in time, its rcode, the addresses and how long it took. */
export interface DnsProbeResult {
  /** The server answered in time. */
  answered: boolean;
  rcode?: string;
  addresses: string[];
  elapsedMs: number;
}

/**
 * One A query for `name` to `server`, as a module would send it (preflight: is the responder
 * reachable on the address the modules use, and does it answer the run's name?). Never throws
 * for a silent server: `answered: false` after `timeoutMs`.
 */
export async function probeDns(
  server: { host: string; port: number },
  name: string,
  timeoutMs = 2_000,
): Promise<DnsProbeResult> {
  const t0 = performance.now();
  const sock = createSocket('udp4');
  try {
    return await new Promise<DnsProbeResult>((resolve) => {
      const id = Math.floor(Math.random() * 0xffff);
      const timer = setTimeout(
        () => resolve({ answered: false, addresses: [], elapsedMs: performance.now() - t0 }),
        timeoutMs,
      );
      sock.on('message', (msg) => {
        let reply: Packet & { rcode?: string };
        try {
          reply = dnsPacket.decode(msg) as Packet & { rcode?: string };
        } catch {
          return; // not DNS: keep waiting for the answer
        }
        if (reply.id !== id) return;
        clearTimeout(timer);
        resolve({
          answered: true,
          ...(reply.rcode ? { rcode: reply.rcode } : {}),
          addresses: (reply.answers ?? [])
            .filter((a): a is Answer & { data: string } => a.type === 'A' && typeof a.data === 'string')
            .map((a) => a.data),
          elapsedMs: performance.now() - t0,
        });
      });
      sock.once('error', () => {
        clearTimeout(timer);
        resolve({ answered: false, addresses: [], elapsedMs: performance.now() - t0 });
      });
      sock.send(
        dnsPacket.encode({
          type: 'query',
          id,
          flags: dnsPacket.RECURSION_DESIRED,
          questions: [{ type: 'A', name }],
        }),
        server.port,
        server.host,
      );
    });
  } finally {
    sock.close();
  }
}
