/**
 * The bind step the lab's UDP responders (DNS, SNTP) share: check the listen address, bind a
 * `udp4` socket, and turn a failed bind into a ConfigError that names the fix.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import type { Debugger } from 'debug';
import { ConfigError } from '../errors.ts';

/** A responder listens on one IPv4 address; anything else is bad input naming `field`. */
export function checkListenHost(host: string, field: string): void {
  if (!isIPv4(host)) throw new ConfigError(field, host, `${field} must be an IPv4 address, not "${host}"`);
}

/**
 * Bind a `udp4` socket on `host:port`; rejects with `bindError` (the socket closed) when the port
 * cannot be had. Later socket errors go to `debug`: a responder keeps answering.
 */
export async function bindUdp4(
  host: string,
  port: number,
  field: string,
  service: 'dns' | 'sntp',
  debug: Debugger,
): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(bindError(err, host, port, field, service));
    socket.once('error', onError);
    socket.bind(port, host, () => {
      socket.off('error', onError);
      resolve();
    });
  }).catch((err: unknown) => {
    socket.close();
    throw err;
  });
  socket.on('error', (err) => debug('%s socket error: %s', service, err.message));
  return socket;
}

/**
 * @internal the error for a failed bind, naming the fix (the SNTP responder's alternative to
 * privileges is a port redirect: DHCP option 42 carries no port).
 */
export function bindError(
  err: NodeJS.ErrnoException,
  host: string,
  port: number,
  field: string,
  service: 'dns' | 'sntp' = 'dns',
): ConfigError {
  if (err.code === 'EACCES') {
    const alternative =
      service === 'dns'
        ? `or listen on a high port and point the lab's dnsmasq at it for the run's names: server=/<name>/${host}#5353 (see docs/lab.md)`
        : `or listen on a high port and redirect to it: iptables -t nat -A PREROUTING -p udp --dport ${port} -j REDIRECT --to-ports <port>`;
    return new ConfigError(
      field,
      `${host}:${port}`,
      `${field}: binding ${host}:${port} needs privileges (ports below 1024). Either let node bind low ports: ` +
        `sudo setcap cap_net_bind_service=+ep $(readlink -f $(which node)) ; ${alternative}`,
      { cause: err },
    );
  }
  if (err.code === 'EADDRINUSE') {
    const hint =
      service === 'dns'
        ? `(another DNS server, e.g. systemd-resolved or dnsmasq?): pick another port, or add server=/<name>/${host}#<port> to that server instead`
        : '(an NTP server, e.g. chronyd or systemd-timesyncd?): stop it for the run, or pick another port';
    return new ConfigError(field, `${host}:${port}`, `${field}: ${host}:${port} is already in use ${hint}`, {
      cause: err,
    });
  }
  return new ConfigError(field, `${host}:${port}`, `${field}: cannot listen on ${host}:${port}: ${err.message}`, {
    cause: err,
  });
}
