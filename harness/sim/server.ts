/**
 * Serve a virtual module on a TCP port the way ser2net does in raw mode: the bytes of the
 * connection are the module's serial line. One client at a time; a second client is refused
 * with one line (`bx-hil sim: busy: ...`) and closed, as ser2net answers "Port already in use".
 * A client that leaves detaches the serial side; the next client finds the same module state
 * (stores, sessions, echo setting), as a terminal reconnecting to a real board would.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import createDebug from 'debug';
import type { VirtualModule } from './module.ts';

const debug = createDebug('bx-hil:sim');

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
  /** Whether a client is connected (holds the serial side). */
  readonly hasClient: boolean;
  /** Idempotent: stops listening and drops the client; the module is left open. */
  close(): Promise<void>;
}

export const BUSY_LINE =
  'bx-hil sim: busy: another client is connected to this module (one client at a time, like ser2net)\r\n';

export async function serveModule(module: VirtualModule, options: ServeOptions = {}): Promise<SimServer> {
  const host = options.host ?? '127.0.0.1';
  let client: Socket | undefined;
  const server: Server = createServer((sock) => {
    sock.setNoDelay(true);
    if (client) {
      debug('refused a second client from %s', sock.remoteAddress);
      sock.end(BUSY_LINE);
      sock.on('error', () => undefined);
      return;
    }
    client = sock;
    debug('client connected from %s:%d', sock.remoteAddress, sock.remotePort);
    module.attach(sock);
    const gone = () => {
      if (client !== sock) return;
      client = undefined;
      module.detach();
    };
    sock.on('close', gone);
    sock.on('error', gone);
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
        client?.destroy();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}
