/**
 * `tcp://host:port`: a serial port exposed as raw TCP (ser2net `accepter: tcp,...`,
 * `socat TCP-LISTEN:...,fork /dev/ttyUSB0`, or the bx-hil simulator's TCP listener).
 *
 * - Query option `connectTimeoutMs` (default 5000 ms) bounds the connect.
 * - Nagle is off (`setNoDelay`): AT commands are small and latency matters more than packets.
 * - No line settings and no modem-control lines travel over raw TCP: configure the baud rate
 *   on the server side (ser2net's `connector: serialdev,...,115200n81`), or use `rfc2217://`.
 * - Once open this is a `StreamLink` over the socket (stream.ts holds the contract logic).
 */
import net from 'node:net';
import { ConfigError } from '../errors.ts';
import { LinkOpenError, type LinkOpenReason } from './errors.ts';
import { StreamLink } from './stream.ts';

/** Where a `tcp://` link connects (a raw serial-over-TCP bridge), and its connect bound. */
export interface TcpTarget {
  host: string;
  port: number;
  /** Bound on the TCP connect. Default 5000 ms. */
  connectTimeoutMs: number;
}

/** Default bound on connecting, for tcp:// and rfc2217://. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000; // 5 s

/**
 * Host, port and `connectTimeoutMs` of a `tcp://` or `rfc2217://` URI; throws `ConfigError`.
 * `allow` lists further query keys the caller handles.
 */
export function parseTcpTarget(url: URL, allow: readonly string[] = []): TcpTarget {
  const uri = url.href;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '')
    throw new ConfigError(
      'host',
      uri,
      `no host in ${uri}: use ${url.protocol}//host:port, e.g. ${url.protocol}//127.0.0.1:3333`,
    );
  if (url.port === '')
    throw new ConfigError(
      'port',
      uri,
      `no port in ${uri}: use ${url.protocol}//${host}:<port> (ser2net's accepter port)`,
    );
  const port = Number(url.port);
  if (port === 0)
    throw new ConfigError(
      'port',
      uri,
      `port 0 in ${uri} is not a port one can connect to: give the port ser2net or bx-hil sim listens on`,
    );
  let connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS;
  for (const [key, value] of url.searchParams) {
    if (key === 'connectTimeoutMs') {
      const n = Number(value);
      if (!/^\d+$/.test(value) || n <= 0) {
        throw new ConfigError(
          'connectTimeoutMs',
          value,
          `bad connectTimeoutMs="${value}" in ${uri}: expected a positive integer (ms)`,
        );
      }
      connectTimeoutMs = n;
    } else if (!allow.includes(key.toLowerCase())) {
      throw new ConfigError(
        key,
        value,
        `unknown option "${key}" in ${uri}: known options are ${['connectTimeoutMs', ...allow].join(', ')}`,
      );
    }
  }
  return { host, port, connectTimeoutMs };
}

/** One `LinkOpenError` for a failed connect, naming the fix. */
export function mapConnectError(
  uri: string,
  target: TcpTarget,
  err: unknown,
  what = 'ser2net / bx-hil sim',
): LinkOpenError {
  const code = (err as { code?: unknown } | null)?.code;
  const at = `${target.host}:${target.port}`;
  let reason: LinkOpenReason = 'OTHER';
  let message = `cannot connect to ${at}: ${err instanceof Error ? err.message : String(err)}`;
  if (code === 'ECONNREFUSED') {
    reason = 'ECONNREFUSED';
    message = `nothing listens on ${at}: is ${what} running, and is the port right?`;
  } else if (code === 'ETIMEDOUT') {
    reason = 'ETIMEDOUT';
    message = `no answer from ${at} within ${target.connectTimeoutMs} ms: check the host, a firewall, or raise ?connectTimeoutMs=`;
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    reason = 'ENOTFOUND';
    message = `cannot resolve host "${target.host}": check the name in ${uri}`;
  }
  return new LinkOpenError(uri, reason, message, { cause: err });
}

/**
 * Connect a TCP socket within `connectTimeoutMs`; on failure the socket is destroyed and one
 * `LinkOpenError` rejects (no handle or timer is left behind).
 */
export function connectTcp(uri: string, target: TcpTarget, what?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.host, port: target.port });
    const fail = (err: unknown): void => {
      clearTimeout(timer);
      socket.removeAllListeners('connect');
      socket.destroy();
      reject(mapConnectError(uri, target, err, what));
    };
    const timer = setTimeout(
      () =>
        fail(Object.assign(new Error(`connect timed out after ${target.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })),
      target.connectTimeoutMs,
    );
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      // Until the caller wraps it (a few microtasks later), an error must not go uncaught; the
      // wrapper's own listener sees the same error and ends the link.
      socket.on('error', () => undefined);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/** Open a `tcp://host:port` link. */
export async function openTcpLink(url: URL, raw: string = url.href): Promise<StreamLink> {
  const target = parseTcpTarget(url);
  const socket = await connectTcp(raw, target);
  return new StreamLink(raw, socket);
}
