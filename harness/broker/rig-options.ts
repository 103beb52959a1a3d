/**
 * The aedes rig's options, validated once at the edge (docs/STYLE.md §6): every default filled in,
 * every bad value refused with a ConfigError naming the field.
 */
import { constants as cryptoConstants } from 'node:crypto';
import type tls from 'node:tls';
import { ConfigError } from '../errors.ts';
import { AWS_MQTT_ALPN } from './accept-rules.ts';
import { profileTls, type GateContext, type ProfileTls } from './profiles.ts';
import { RETAIN_BYTES_DEFAULT } from './verdict-log.ts';
import type { AwsIotOptions, BrokerFaults, BrokerRig, BrokerRigOptions, ProfileName } from './types.ts';

const PROFILES: readonly ProfileName[] = ['strict', 'mosquitto-like', 'aws-iot', 'tls-server-only', 'plain'];
const TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;

export interface ParsedRigOptions {
  host: string;
  port: number;
  profile: ProfileName;
  tls: ProfileTls;
  aws: GateContext['aws'];
  allowedClientIds?: string[];
  faults: BrokerFaults;
  keylogPath?: string;
  clientCaPem?: string;
  crlPem?: string;
  connectTimeoutMs: number;
  clientHelloTimeoutMs: number;
  retainBytes: number;
}

/** At least one ended connection of any size fits; below this a budget is a typo. */
const RETAIN_BYTES_MIN = 16 * 1024; // 16 KiB

/** `retainBytes` of a rig's options, checked (ConfigError naming the field), default 8 MiB. */
export function parseRetainBytes(value: number | undefined): number {
  const v = value ?? RETAIN_BYTES_DEFAULT;
  if (!(Number.isSafeInteger(v) && v >= RETAIN_BYTES_MIN))
    throw new ConfigError(
      'retainBytes',
      value,
      `retainBytes must be a whole number of bytes, at least ${RETAIN_BYTES_MIN} (default ${RETAIN_BYTES_DEFAULT})`,
    );
  return v;
}

/** Validate options once, at the edge (docs/STYLE.md §6). Throws ConfigError naming the field. */
export function parseBrokerRigOptions(options: BrokerRigOptions): ParsedRigOptions {
  const profile = options.profile ?? 'strict';
  if (!PROFILES.includes(profile))
    throw new ConfigError(
      'profile',
      profile,
      `unknown broker profile "${String(profile)}": use one of ${PROFILES.join(', ')}`,
    );
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '')
    throw new ConfigError('host', host, 'host must be an address such as 127.0.0.1');
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError('port', port, `port must be an integer 0..65535 (0 = pick a free one), got ${String(port)}`);
  const ms = (field: string, value: number | undefined, dflt: number): number => {
    const v = value ?? dflt;
    if (!(typeof v === 'number' && v > 0))
      throw new ConfigError(field, value, `${field} must be a positive number of milliseconds`);
    return v;
  };
  const aws: AwsIotOptions = options.aws ?? {};
  if (aws.sniMode && !['optional', 'required', 'match'].includes(aws.sniMode)) {
    throw new ConfigError('aws.sniMode', aws.sniMode, 'aws.sniMode must be optional, required or match');
  }
  const t = profileTls(profile, aws);
  const tlsOpt = options.tls ?? {};
  for (const f of ['minVersion', 'maxVersion'] as const) {
    const v = tlsOpt[f];
    if (v !== undefined && !TLS_VERSIONS.includes(v))
      throw new ConfigError(`tls.${f}`, v, `tls.${f} must be one of ${TLS_VERSIONS.join(', ')}`);
  }
  const merged: ProfileTls = {
    ...t,
    minVersion: tlsOpt.minVersion ?? t.minVersion,
    maxVersion: tlsOpt.maxVersion ?? t.maxVersion,
    requestCert: tlsOpt.requestCert ?? t.requestCert,
  };
  if (tlsOpt.ciphers !== undefined) merged.ciphers = tlsOpt.ciphers;
  if (options.serverCertChainPem !== undefined && options.serverKeyPem === undefined) {
    throw new ConfigError(
      'serverKeyPem',
      '(absent)',
      'serverCertChainPem needs serverKeyPem (the key of its leaf certificate)',
    );
  }
  const parsed: ParsedRigOptions = {
    host,
    port,
    profile,
    tls: merged,
    aws: {
      ...aws,
      sniMode: aws.sniMode ?? 'optional',
      unknownCertMode: aws.unknownCertMode ?? 'close-after-connect',
      endpoint: aws.endpoint ?? 'localhost',
    },
    faults: { ...(options.faults ?? {}) },
    connectTimeoutMs: ms('connectTimeoutMs', options.connectTimeoutMs, 10_000), // 10 s
    clientHelloTimeoutMs: ms('clientHelloTimeoutMs', options.clientHelloTimeoutMs, 5_000), // 5 s
    retainBytes: parseRetainBytes(options.retainBytes),
  };
  if (options.allowedClientIds) parsed.allowedClientIds = options.allowedClientIds;
  if (options.keylogPath) parsed.keylogPath = options.keylogPath;
  if (options.clientCaPem) parsed.clientCaPem = options.clientCaPem;
  if (options.crlPem) parsed.crlPem = options.crlPem;
  return parsed;
}

/**
 * The `tls.Server` options of a listener: the server chain and key it presents, the client CAs
 * it trusts, the profile's versions and ciphers. `alpn`: the aws-iot ALPN listener.
 */
export function tlsServerOptions(
  opts: ParsedRigOptions,
  pki: BrokerRig['pki'],
  serve: { chainPem: string; keyPem: string; alpn: boolean },
): tls.TlsOptions {
  const t = opts.tls;
  const ca = opts.clientCaPem ?? [pki.ca.certPem, ...(pki.extraCa ?? []).map((c) => c.certPem)];
  const o: tls.TlsOptions = {
    cert: serve.chainPem,
    key: serve.keyPem,
    ca,
    requestCert: t.requestCert,
    // P7: never let OpenSSL refuse silently; the rig reads authorizationError and refuses.
    rejectUnauthorized: false,
    minVersion: t.minVersion,
    maxVersion: t.maxVersion,
    // A stalled or silent handshake is judged by the rig's own bound.
    handshakeTimeout: opts.connectTimeoutMs,
  };
  if (opts.crlPem) o.crl = opts.crlPem;
  if (t.ciphers) o.ciphers = t.ciphers + (t.ciphersuites ? `:${t.ciphersuites}` : '');
  // T9 [DOC]: AWS IoT does not support the SessionTicket extension.
  if (t.noTickets) o.secureOptions = cryptoConstants.SSL_OP_NO_TICKET;
  if (serve.alpn) o.ALPNProtocols = [AWS_MQTT_ALPN];
  // TLS 1.0/1.1 need SECLEVEL 0 on OpenSSL 3 (docs/reference/dependencies.md); only when the range asks for them.
  if (t.minVersion === 'TLSv1' || t.minVersion === 'TLSv1.1') o.ciphers = `${o.ciphers ?? 'DEFAULT'}:@SECLEVEL=0`;
  return o;
}
