/**
 * The named steps of `AT+KMQTTCNX` (aedes' connectActions idea, docs/STYLE.md §13): time → resolve
 * → tcp → tls → verify → mqtt. Each step either leaves its result in the context for the next
 * or fails with a `SimConnectError` naming itself; `MqttSession.connect()` runs them in order.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { Resolver, lookup } from 'node:dns/promises';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { MqttClient, type IClientOptions } from 'mqtt';
import { SimConnectError } from '../errors.ts';
import { HandshakeCpu, handshakeCost, peerChain } from './handshake-cpu.ts';
import { sntpTime } from './sntp.ts';
import { verifyServer } from './verify.ts';
import type { MqttSession, NetEnv } from './session.ts';
import { toMqttTopic } from './topics.ts';

export interface StepContext {
  session: MqttSession;
  env: NetEnv;
  address?: { host: string; port: number };
  tcp?: Socket;
  stream?: Duplex;
  tls?: TLSSocket;
  client?: MqttClient;
}

export interface ConnectStep {
  name: string;
  run(ctx: StepContext): Promise<void>;
}

function withTimeout<T>(
  ms: number,
  step: string,
  what: string,
  work: (settle: (err: Error | undefined, v?: T) => void) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let cleanup: () => void = () => undefined;
    const timer = setTimeout(() => {
      cleanup();
      reject(new SimConnectError(step, 'TIMEOUT', `${what} timed out after ${ms} ms`));
    }, ms);
    try {
      cleanup = work((err, v) => {
        clearTimeout(timer);
        cleanup();
        if (err) reject(err);
        else resolve(v as T);
      });
    } catch (err) {
      // e.g. mqtt.js refusing its options synchronously: fail the step now, not at the timeout
      clearTimeout(timer);
      reject(err);
    }
  });
}

/**
 * The module's stub resolver [guess: no source gives the BX's DNS timeouts; lwIP's default is a
 * few seconds per try with a handful of retries]: bounded so a dead server fails the connect
 * within seconds rather than hanging it.
 */
const DNS_TRY_TIMEOUT_MS = 1_500;
const DNS_TRIES = 2;

/** One A lookup through `server`, as the module's resolver would do it; a SimConnectError on failure. */
async function resolveThrough(dnsServer: string, name: string): Promise<string> {
  const resolver = new Resolver({ timeout: DNS_TRY_TIMEOUT_MS, tries: DNS_TRIES });
  resolver.setServers([dnsServer]);
  try {
    const [address] = await resolver.resolve4(name);
    if (!address) throw Object.assign(new Error(`no A record for ${name}`), { code: 'ENODATA' });
    return address;
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOTFOUND' ? 'NXDOMAIN' : code === 'ETIMEOUT' || code === 'ECONNREFUSED' ? 'DNS_TIMEOUT' : 'DNS';
    throw new SimConnectError(
      'resolve',
      reason,
      `cannot resolve ${name} through ${dnsServer}: ${code ?? (cause as Error).message}`,
      { cause },
    );
  } finally {
    resolver.cancel();
  }
}

function keyForm(pem: string): 'pkcs1' | 'pkcs8' | 'sec1' | 'encrypted' | 'unknown' {
  if (pem.includes('BEGIN RSA PRIVATE KEY')) return 'pkcs1';
  if (pem.includes('BEGIN EC PRIVATE KEY')) return 'sec1';
  if (pem.includes('BEGIN ENCRYPTED PRIVATE KEY')) return 'encrypted';
  if (pem.includes('BEGIN PRIVATE KEY')) return 'pkcs8';
  return 'unknown';
}

/** The connect sequence of `AT+KMQTTCNX`, one named step each. */
export const connectSteps: ConnectStep[] = [
  {
    // [guess] A module that sets its clock from SNTP has done so once its network is up; the
    // sim asks before the first connect after boot. No answer leaves the clock unset (counting
    // from 1970), so the verify step finds the server certificate not yet valid.
    name: 'time',
    async run(ctx) {
      const { profile, clock, sntpServer, bus } = ctx.env;
      if (profile.clock.source !== 'sntp' || clock.isSet || !sntpServer) return;
      const time = await sntpTime(sntpServer);
      if (time) clock.set(time);
      bus?.emit({
        source: 'sim',
        kind: 'sntp',
        scope: `session-${ctx.session.id}`,
        summary: time
          ? `clock set from SNTP ${sntpServer}: ${time.toISOString()}`
          : `no SNTP answer from ${sntpServer}: the clock stays at ${clock.now().toISOString()}`,
        data: { server: sntpServer, ...(time ? { time: time.toISOString() } : {}) },
      });
    },
  },
  {
    name: 'resolve',
    async run(ctx) {
      const { server, port } = ctx.session.config;
      const override = ctx.env.resolve.get(server.toLowerCase());
      if (override) {
        ctx.address = { host: override.host, port: override.port ?? port };
        return;
      }
      if (isIP(server) || server.toLowerCase() === 'localhost') {
        ctx.address = { host: server, port };
        return;
      }
      if (ctx.env.dnsServer) {
        // A failure takes the connect's one failure path, `+KMQTT_IND: <id>,0` [guess: no
        // profile or source says the BX reports a DNS failure differently].
        ctx.address = { host: await resolveThrough(ctx.env.dnsServer, server), port };
        return;
      }
      if (!ctx.env.allowExternalDns) {
        throw new SimConnectError(
          'resolve',
          'NO_HOST_OVERRIDE',
          `${server} has no host override and the virtual module only looks names up in DNS when run from the CLI: map it, e.g. ?resolve=${server}=127.0.0.1:${port}`,
        );
      }
      try {
        const { address } = await lookup(server);
        ctx.address = { host: address, port };
      } catch (cause) {
        throw new SimConnectError('resolve', 'DNS', `cannot resolve ${server}: ${(cause as Error).message}`, { cause });
      }
    },
  },
  {
    name: 'tcp',
    run(ctx) {
      const { host, port } = ctx.address!;
      return withTimeout<void>(
        ctx.env.profile.tls.handshakeTimeoutMs,
        'tcp',
        `TCP connect to ${host}:${port}`,
        (settle) => {
          const sock = netConnect({ host, port });
          ctx.tcp = sock;
          ctx.session.track(sock);
          const onErr = (err: NodeJS.ErrnoException) =>
            settle(
              new SimConnectError('tcp', err.code ?? 'TCP', `TCP connect to ${host}:${port} failed: ${err.message}`, {
                cause: err,
              }),
            );
          const onOk = () => settle(undefined);
          const onClose = () =>
            settle(new SimConnectError('tcp', 'CLOSED', `TCP connect to ${host}:${port} was aborted`));
          sock.once('error', onErr).once('connect', onOk).once('close', onClose);
          return () => sock.off('error', onErr).off('connect', onOk).off('close', onClose);
        },
      );
    },
  },
  {
    name: 'tls',
    run(ctx) {
      if (!ctx.session.config.secure) {
        ctx.stream = ctx.tcp;
        return Promise.resolve();
      }
      const { profile, stores } = ctx.env;
      const { server } = ctx.session.config;
      let cert: Buffer | undefined;
      let key: string | undefined;
      let ownKey: ReturnType<typeof createPrivateKey> | undefined;
      const localCert = stores.local[0];
      const localKey = stores.keys[0];
      if (profile.tls.clientIdentity && localCert && localKey) {
        const pem = localKey.toString('latin1');
        const form = keyForm(pem);
        if (form === 'encrypted' || form === 'unknown' || !profile.keys.forms.includes(form)) {
          return Promise.reject(
            new SimConnectError(
              'identity',
              'KEY_FORM',
              `private key 0 is ${form}; this firmware loads ${profile.keys.forms.join(', ')}`,
            ),
          );
        }
        let parsed: ReturnType<typeof createPrivateKey>;
        try {
          parsed = createPrivateKey(pem);
        } catch (cause) {
          return Promise.reject(
            new SimConnectError(
              'identity',
              'KEY_UNREADABLE',
              `private key 0 cannot be read: ${(cause as Error).message}`,
              { cause },
            ),
          );
        }
        const bits = parsed.asymmetricKeyType === 'rsa' ? (parsed.asymmetricKeyDetails?.modulusLength ?? 0) : 0;
        if (bits > profile.tls.maxRsaBits) {
          return Promise.reject(
            new SimConnectError(
              'identity',
              'KEY_TOO_LARGE',
              `private key 0 is RSA-${bits}; this firmware handles at most RSA-${profile.tls.maxRsaBits}`,
            ),
          );
        }
        key = pem;
        cert = localCert;
        ownKey = parsed;
      }
      const ciphers = profile.tls.allowWeakCrypto ? `${profile.tls.ciphers}:@SECLEVEL=0` : profile.tls.ciphers;
      const { timing, bus } = ctx.env;
      const tlsCosts = [
        timing.tls.keyExchangeMs,
        ...Object.values(timing.tls.verifyPerCertMs),
        ...Object.values(timing.tls.signMs),
      ];
      return withTimeout<void>(profile.tls.handshakeTimeoutMs, 'tls', `TLS handshake with ${server}`, (settle) => {
        let sock: TLSSocket;
        // The module's handshake CPU time, spent before its second flight (handshake-cpu.ts);
        // none under the instant timing, where the TLS socket sits on the TCP socket directly.
        const cpu = tlsCosts.some((ms) => ms > 0)
          ? new HandshakeCpu(ctx.tcp!, () => {
              const verifying = profile.tls.verify.chain && !(!stores.root && profile.mqtt.noRootCa === 'noverify');
              let anchor: X509Certificate | undefined;
              try {
                anchor = verifying && stores.root ? new X509Certificate(stores.root) : undefined;
              } catch {
                anchor = undefined; // an unparseable root verifies nothing
              }
              // The module signs only when the server asked for its certificate (CertificateRequest).
              const asked = sock.getSharedSigalgs().length > 0;
              const cost = handshakeCost(timing, peerChain(sock), anchor, asked ? ownKey : undefined);
              bus?.emit({
                source: 'sim',
                kind: 'tls-cpu',
                scope: `session-${ctx.session.id}`,
                summary: `TLS handshake work before the module's Finished: ${cost.ms} ms (key exchange, ${cost.verified.length} signature checks${cost.signed ? `, signing with its ${cost.signed} key` : ''})`,
                data: { ...cost },
              });
              return cost.ms;
            })
          : undefined;
        if (cpu) ctx.session.track(cpu);
        try {
          sock = tlsConnect({
            socket: cpu ?? ctx.tcp,
            // SNI per profile; without `servername` Node sends no SNI on a given socket.
            ...(profile.tls.sni && !isIP(server) ? { servername: server } : {}),
            minVersion: profile.tls.minVersion,
            maxVersion: profile.tls.maxVersion,
            ciphers,
            cert,
            key,
            // The module checks the server itself, against its own clock (verify step).
            rejectUnauthorized: false,
          });
        } catch (cause) {
          settle(
            new SimConnectError(
              'identity',
              'CLIENT_CERT_REJECTED',
              `the TLS stack refused local certificate 0 / key 0: ${(cause as Error).message}`,
              { cause },
            ),
          );
          return () => undefined;
        }
        ctx.tls = sock;
        ctx.session.track(sock);
        const onErr = (err: NodeJS.ErrnoException) =>
          settle(
            new SimConnectError('tls', err.code ?? 'TLS', `TLS handshake with ${server} failed: ${err.message}`, {
              cause: err,
            }),
          );
        const onClose = () =>
          settle(new SimConnectError('tls', 'CLOSED', `the server closed the connection during the TLS handshake`));
        // TLS 1.3 reports the handshake done before the module's Finished leaves: the step ends
        // once the held flight is through.
        const onOk = () => (cpu ? void cpu.released.then(() => settle(undefined)) : settle(undefined));
        sock.once('error', onErr).once('close', onClose).once('secureConnect', onOk);
        return () => sock.off('error', onErr).off('close', onClose).off('secureConnect', onOk);
      });
    },
  },
  {
    name: 'verify',
    async run(ctx) {
      const sock = ctx.tls;
      if (!sock) return;
      const { profile, stores, clock } = ctx.env;
      const presented: X509Certificate[] = [];
      let peer = sock.getPeerCertificate(true);
      const seen = new Set<string>();
      while (peer && peer.raw && !seen.has(peer.fingerprint256)) {
        seen.add(peer.fingerprint256);
        presented.push(new X509Certificate(peer.raw));
        peer = peer.issuerCertificate;
      }
      let root: X509Certificate | undefined;
      if (stores.root) {
        try {
          root = new X509Certificate(stores.root);
        } catch {
          root = undefined; // an unparseable root trusts nothing
        }
      }
      const noRoot = !stores.root && profile.mqtt.noRootCa === 'noverify';
      const result = noRoot
        ? ({ ok: true } as const)
        : verifyServer({
            presented,
            root,
            host: ctx.session.config.server,
            now: clock.now(),
            checks: profile.tls.verify,
            allowWeakCrypto: profile.tls.allowWeakCrypto,
            maxRsaBits: profile.tls.maxRsaBits,
          });
      if (!result.ok) {
        sock.destroy();
        throw new SimConnectError('verify', result.reason, result.message);
      }
      ctx.stream = sock;
    },
  },
  {
    name: 'mqtt',
    run(ctx) {
      const c = ctx.session.config;
      const stream = ctx.stream!;
      const options: IClientOptions = {
        protocolVersion: c.version === 3 ? 3 : 4,
        protocolId: c.version === 3 ? 'MQIsdp' : 'MQTT',
        clientId: c.clientId,
        keepalive: c.keepAlive,
        clean: c.clean,
        reconnectPeriod: 0,
        connectTimeout: ctx.env.profile.mqtt.connectTimeoutMs,
        resubscribe: false,
        ...(c.username ? { username: c.username } : {}),
        ...(c.password ? { password: c.password } : {}),
        ...(c.willFlag
          ? {
              will: {
                topic: toMqttTopic(c.willTopic),
                payload: Buffer.from(c.willMessage, 'latin1'),
                qos: c.willQos as 0 | 1 | 2,
                retain: c.willRetain,
              },
            }
          : {}),
      };
      return withTimeout<void>(ctx.env.profile.mqtt.connectTimeoutMs + 1_000, 'mqtt', 'MQTT CONNECT', (settle) => {
        const client = new MqttClient(() => stream, options);
        ctx.client = client;
        const onErr = (err: Error & { code?: number | string }) =>
          settle(
            new SimConnectError(
              'mqtt',
              `CONNACK_${err.code ?? 'ERROR'}`,
              `the broker refused the MQTT connection: ${err.message}`,
              { cause: err },
            ),
          );
        const onClose = () =>
          settle(new SimConnectError('mqtt', 'CLOSED', 'the broker closed the connection before CONNACK'));
        const onOk = () => settle(undefined);
        client.once('error', onErr).once('close', onClose).once('connect', onOk);
        return () => client.off('error', onErr).off('close', onClose).off('connect', onOk);
      });
    },
  },
];
