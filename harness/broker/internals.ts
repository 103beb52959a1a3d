/**
 * The only places the broker rig reads a field that Node or aedes do not document. Each has no
 * public equivalent; each is checked by internals.test.ts, which fails when an upgrade removes it.
 * Checked against aedes 1.2.0 and Node 20.
 */
import type { Client as AedesClient } from 'aedes';
import type net from 'node:net';
import type tls from 'node:tls';

/**
 * The stream aedes reads a client from: the `MqttTap` the rig handed to `aedes.handle()`.
 * aedes 1.2.0 keeps it as `client.conn` (lib/client.js) and emits no event that carries both
 * the client and its stream, so this is the only way from a `keepaliveTimeout`/`clientError`
 * back to the connection's record.
 */
export function aedesClientStream(client: AedesClient): object | undefined {
  const conn = (client as unknown as { conn?: unknown }).conn;
  return typeof conn === 'object' && conn !== null ? conn : undefined;
}

/**
 * The `net.Socket` a server-side `TLSSocket` wraps. Node 20 keeps it as `_parent` when a
 * `tls.Server` takes a socket through `emit('connection', socket)` (lib/_tls_wrap.js); there is
 * no public accessor. Undefined when absent: the caller falls back to the peer address.
 */
export function tlsParentSocket(sock: tls.TLSSocket): net.Socket | undefined {
  const parent = (sock as unknown as { _parent?: unknown })._parent;
  return typeof parent === 'object' && parent !== null ? (parent as net.Socket) : undefined;
}

/**
 * The SNI a server-side `TLSSocket` received. Node 20 sets `servername` on the socket (also what
 * `SNICallback` gets) but @types/node does not declare it; `false` or absent = no SNI.
 */
export function tlsServername(sock: tls.TLSSocket): string | undefined {
  const name = (sock as unknown as { servername?: unknown }).servername;
  return typeof name === 'string' && name !== '' ? name : undefined;
}
