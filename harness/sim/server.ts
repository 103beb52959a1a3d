/**
 * Serve a virtual module on a TCP port the way ser2net does in raw mode: the bytes of the
 * connection are the module's serial line. One client at a time; a second client is refused
 * with one line (`bx-hil sim: busy: ...`) and closed, as ser2net answers "Port already in use".
 * A client that leaves detaches the serial side; the next client finds the same module state
 * (stores, sessions, echo setting), as a terminal reconnecting to a real board would.
 *
 * A client has left once its FIN arrives, not only once its socket is fully closed: a client
 * that closes and reconnects at once is served (the new connection replaces the old one, as
 * with ser2net). The FIN and the new connection can reach this process in either order within
 * one event-loop turn, so a new connection that finds the slot taken waits up to
 * `TAKEOVER_GRACE_MS` for the holder's FIN before it is refused.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import createDebug from 'debug';
import type { VirtualModule } from './module.ts';

const debug = createDebug('bx-hil:sim');

/**
 * How long a new client waits for the current one's FIN before it gets the busy line. Long
 * enough for a loaded 2-core machine to read a FIN that is already in the socket; short against
 * a person or a harness that retries.
 */
const TAKEOVER_GRACE_MS = 250;

export interface ServeOptions {
  /** Address to bind. Default `127.0.0.1`. */
  host?: string;
  /** Port; 0 picks a free one (read it back from `port`). Default 0. */
  port?: number;
}

export interface SimServer {
  readonly host: string;
  readonly port: number;
  /** `tcp://<host>:<port>` */
  readonly url: string;
  /** Whether a client is connected (holds the serial side); false from its FIN on. */
  readonly hasClient: boolean;
  /** Idempotent: stops listening and drops the client; the module is left open. */
  close(): Promise<void>;
}

export const BUSY_LINE =
  'bx-hil sim: busy: another client is connected to this module (one client at a time, like ser2net)\r\n';

export async function serveModule(module: VirtualModule, options: ServeOptions = {}): Promise<SimServer> {
  const host = options.host ?? '127.0.0.1';
  let client: Socket | undefined;
  let stopping = false;
  /** New connections waiting for the holder's FIN (see TAKEOVER_GRACE_MS). */
  const waiting = new Set<() => void>();

  const take = (sock: Socket): void => {
    client = sock;
    debug('client connected from %s:%d', sock.remoteAddress, sock.remotePort);
    module.attach(sock);
    const gone = () => {
      if (client !== sock) return;
      client = undefined;
      module.detach();
      for (const wake of [...waiting]) wake();
    };
    // 'end' is the client's FIN: the slot is free from then on.
    sock.on('end', gone);
    sock.on('close', gone);
    sock.on('error', gone);
  };

  const refuse = (sock: Socket): void => {
    debug('refused a second client from %s', sock.remoteAddress);
    sock.end(BUSY_LINE);
  };

  const server: Server = createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('error', () => undefined);
    if (!client) {
      take(sock);
      return;
    }
    const done = () => {
      clearTimeout(timer);
      waiting.delete(done);
      if (sock.destroyed) return;
      if (stopping) sock.destroy();
      else if (client) refuse(sock);
      else take(sock);
    };
    const timer = setTimeout(done, TAKEOVER_GRACE_MS);
    waiting.add(done);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    url: `tcp://${host.includes(':') ? `[${host}]` : host}:${port}`,
    get hasClient() {
      return client !== undefined;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        stopping = true;
        for (const wake of [...waiting]) wake();
        client?.destroy();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}
