/**
 * The ClientHello, parsed by hand from the first TLS record(s) BEFORE Node's TLS stack takes the
 * socket, so the rig can say what the device offered even when the handshake then fails
 * (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2, RFC 6066 for SNI and Max Fragment Length, RFC 7301 ALPN).
 * Also classifies the first bytes of a connection: TLS, plaintext MQTT, HTTP or other.
 */

import type { ClientHello, FirstBytesKind } from '../diagnose/index.ts';

export type { ClientHello, FirstBytesKind };

const VERSIONS: Record<number, string> = {
  0x0300: 'SSL3.0',
  0x0301: 'TLS1.0',
  0x0302: 'TLS1.1',
  0x0303: 'TLS1.2',
  0x0304: 'TLS1.3',
};

/** IANA TLS cipher suite names (the subset devices and OpenSSL actually offer). */
const CIPHERS: Record<number, string> = {
  0x0004: 'TLS_RSA_WITH_RC4_128_MD5',
  0x0005: 'TLS_RSA_WITH_RC4_128_SHA',
  0x000a: 'TLS_RSA_WITH_3DES_EDE_CBC_SHA',
  0x002f: 'TLS_RSA_WITH_AES_128_CBC_SHA',
  0x0033: 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA',
  0x0035: 'TLS_RSA_WITH_AES_256_CBC_SHA',
  0x0039: 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA',
  0x003c: 'TLS_RSA_WITH_AES_128_CBC_SHA256',
  0x003d: 'TLS_RSA_WITH_AES_256_CBC_SHA256',
  0x0067: 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA256',
  0x006b: 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA256',
  0x008c: 'TLS_PSK_WITH_AES_128_CBC_SHA',
  0x008d: 'TLS_PSK_WITH_AES_256_CBC_SHA',
  0x009c: 'TLS_RSA_WITH_AES_128_GCM_SHA256',
  0x009d: 'TLS_RSA_WITH_AES_256_GCM_SHA384',
  0x009e: 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256',
  0x009f: 'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384',
  0x00a8: 'TLS_PSK_WITH_AES_128_GCM_SHA256',
  0x00a9: 'TLS_PSK_WITH_AES_256_GCM_SHA384',
  0x00ff: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  0x1301: 'TLS_AES_128_GCM_SHA256',
  0x1302: 'TLS_AES_256_GCM_SHA384',
  0x1303: 'TLS_CHACHA20_POLY1305_SHA256',
  0x1304: 'TLS_AES_128_CCM_SHA256',
  0x1305: 'TLS_AES_128_CCM_8_SHA256',
  0x5600: 'TLS_FALLBACK_SCSV',
  0xc009: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA',
  0xc00a: 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA',
  0xc013: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA',
  0xc014: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
  0xc023: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256',
  0xc024: 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384',
  0xc027: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256',
  0xc028: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384',
  0xc02b: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  0xc02c: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  0xc02f: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  0xc030: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  0xc09c: 'TLS_RSA_WITH_AES_128_CCM',
  0xc09d: 'TLS_RSA_WITH_AES_256_CCM',
  0xc0a4: 'TLS_PSK_WITH_AES_128_CCM',
  0xc0a8: 'TLS_PSK_WITH_AES_128_CCM_8',
  0xc0ac: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM',
  0xc0ad: 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM',
  0xc0ae: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8',
  0xc0af: 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8',
  0xcca8: 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
  0xcca9: 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  0xccaa: 'TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
};

const GROUPS: Record<number, string> = {
  23: 'secp256r1',
  24: 'secp384r1',
  25: 'secp521r1',
  29: 'x25519',
  30: 'x448',
  256: 'ffdhe2048',
  257: 'ffdhe3072',
  258: 'ffdhe4096',
  259: 'ffdhe6144',
  260: 'ffdhe8192',
};

const SIGALGS: Record<number, string> = {
  0x0201: 'rsa_pkcs1_sha1',
  0x0203: 'ecdsa_sha1',
  0x0401: 'rsa_pkcs1_sha256',
  0x0403: 'ecdsa_secp256r1_sha256',
  0x0501: 'rsa_pkcs1_sha384',
  0x0503: 'ecdsa_secp384r1_sha384',
  0x0601: 'rsa_pkcs1_sha512',
  0x0603: 'ecdsa_secp521r1_sha512',
  0x0804: 'rsa_pss_rsae_sha256',
  0x0805: 'rsa_pss_rsae_sha384',
  0x0806: 'rsa_pss_rsae_sha512',
  0x0807: 'ed25519',
  0x0808: 'ed448',
  0x0809: 'rsa_pss_pss_sha256',
  0x080a: 'rsa_pss_pss_sha384',
  0x080b: 'rsa_pss_pss_sha512',
};

const EXTENSIONS: Record<number, string> = {
  0: 'server_name',
  1: 'max_fragment_length',
  5: 'status_request',
  10: 'supported_groups',
  11: 'ec_point_formats',
  13: 'signature_algorithms',
  16: 'application_layer_protocol_negotiation',
  18: 'signed_certificate_timestamp',
  21: 'padding',
  22: 'encrypt_then_mac',
  23: 'extended_master_secret',
  35: 'session_ticket',
  41: 'pre_shared_key',
  42: 'early_data',
  43: 'supported_versions',
  45: 'psk_key_exchange_modes',
  49: 'post_handshake_auth',
  51: 'key_share',
  0xff01: 'renegotiation_info',
};

/** Max Fragment Length codes (RFC 6066 §4) to bytes. */
const MFL: Record<number, number> = { 1: 512, 2: 1024, 3: 2048, 4: 4096 };

const hex4 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;
const name = (table: Record<number, string>, n: number): string => table[n] ?? hex4(n);
/** RFC 8701 GREASE values (0x?a?a) are noise: leave them out. */
const isGrease = (n: number): boolean => (n & 0x0f0f) === 0x0a0a && n >> 8 === (n & 0xff);

export function tlsVersionName(n: number): string {
  return name(VERSIONS, n);
}

/**
 * Classify the first bytes of a connection on a TLS port. 0x16 = TLS handshake record;
 * 0x10 = an MQTT CONNECT fixed header (a device configured for plain MQTT); an ASCII method
 * followed by a space = HTTP.
 */
export function classifyFirstBytes(buf: Buffer): FirstBytesKind {
  if (buf.length === 0) return 'other';
  if (buf[0] === 0x16) return 'tls';
  if (buf[0] === 0x10) return 'mqtt';
  if (/^(GET|POST|PUT|HEAD|OPTIONS|DELETE|PATCH|CONNECT|PRI) /.test(buf.subarray(0, 8).toString('latin1')))
    return 'http';
  return 'other';
}

/**
 * How many bytes of `buf` are needed to hold the complete ClientHello handshake message, which
 * may span several records. Returns 0 when more bytes are needed to know, or -1 when `buf` is
 * not a TLS handshake.
 */
export function clientHelloBytesNeeded(buf: Buffer): number {
  const body = handshakeBody(buf);
  if (body === undefined) return -1;
  if (body.length < 4) return 0;
  const need = 4 + body.readUIntBE(1, 3);
  return body.length >= need ? buf.length : 0;
}

/** Concatenate the handshake records' fragments at the start of `buf`; undefined if not TLS handshake. */
function handshakeBody(buf: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let off = 0;
  while (off + 5 <= buf.length) {
    if (buf[off] !== 0x16) {
      if (off === 0) return undefined;
      break;
    }
    const len = buf.readUInt16BE(off + 3);
    parts.push(buf.subarray(off + 5, Math.min(buf.length, off + 5 + len)));
    off += 5 + len;
  }
  if (off === 0 && buf.length > 0 && buf[0] !== 0x16) return undefined;
  return Buffer.concat(parts);
}

/**
 * Parse a ClientHello from the first bytes of a TLS connection. Returns undefined when the bytes
 * are not a (complete) ClientHello; never throws on malformed input.
 */
export function parseClientHello(buf: Buffer): ClientHello | undefined {
  try {
    return parseUnsafe(buf);
  } catch {
    return undefined;
  }
}

function parseUnsafe(buf: Buffer): ClientHello | undefined {
  const hs = handshakeBody(buf);
  if (hs === undefined || hs.length < 4 || hs[0] !== 0x01) return undefined;
  const len = hs.readUIntBE(1, 3);
  if (hs.length < 4 + len) return undefined;
  const b = hs.subarray(4, 4 + len);
  let p = 0;
  const legacy = b.readUInt16BE(p);
  p += 2 + 32; // version + random
  p += 1 + b[p]!; // session id
  const csLen = b.readUInt16BE(p);
  p += 2;
  const cipherSuites: string[] = [];
  for (let i = 0; i < csLen; i += 2) {
    const cs = b.readUInt16BE(p + i);
    if (!isGrease(cs)) cipherSuites.push(name(CIPHERS, cs));
  }
  p += csLen;
  p += 1 + b[p]!; // compression methods
  const hello: ClientHello = {
    version: tlsVersionName(legacy),
    supportedVersions: [tlsVersionName(legacy)],
    cipherSuites,
    sessionTicket: false,
    extensions: [],
  };
  if (p + 2 > b.length) return hello; // no extensions (SSL3-era clients)
  const extEnd = p + 2 + b.readUInt16BE(p);
  p += 2;
  while (p + 4 <= extEnd) {
    const type = b.readUInt16BE(p);
    const elen = b.readUInt16BE(p + 2);
    const e = b.subarray(p + 4, p + 4 + elen);
    p += 4 + elen;
    if (isGrease(type)) continue;
    hello.extensions.push(name(EXTENSIONS, type));
    switch (type) {
      case 0: {
        // server_name_list: u16 len, then (u8 type, u16 len, name); type 0 = host_name
        let q = 2;
        while (q + 3 <= e.length) {
          const t = e[q]!;
          const l = e.readUInt16BE(q + 1);
          if (t === 0) hello.sni = e.subarray(q + 3, q + 3 + l).toString('utf8');
          q += 3 + l;
        }
        break;
      }
      case 1:
        hello.maxFragmentLength = MFL[e[0]!] ?? e[0];
        break;
      case 10:
        hello.groups = u16list(e.subarray(2, 2 + e.readUInt16BE(0)))
          .filter((g) => !isGrease(g))
          .map((g) => name(GROUPS, g));
        break;
      case 13:
        hello.signatureAlgorithms = u16list(e.subarray(2, 2 + e.readUInt16BE(0))).map((s) => name(SIGALGS, s));
        break;
      case 16: {
        const list: string[] = [];
        let q = 2;
        while (q < e.length) {
          const l = e[q]!;
          list.push(e.subarray(q + 1, q + 1 + l).toString('utf8'));
          q += 1 + l;
        }
        hello.alpn = list;
        break;
      }
      case 35:
        hello.sessionTicket = true;
        break;
      case 43:
        hello.supportedVersions = u16list(e.subarray(1, 1 + e[0]!))
          .filter((v) => !isGrease(v))
          .map(tlsVersionName);
        break;
      default:
        break;
    }
  }
  return hello;
}

function u16list(b: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < b.length; i += 2) out.push(b.readUInt16BE(i));
  return out;
}

/** TLS alert descriptions (RFC 8446 §6), for summaries. */
export const TLS_ALERTS: Record<number, string> = {
  0: 'close_notify',
  10: 'unexpected_message',
  20: 'bad_record_mac',
  40: 'handshake_failure',
  42: 'bad_certificate',
  43: 'unsupported_certificate',
  44: 'certificate_revoked',
  45: 'certificate_expired',
  46: 'certificate_unknown',
  47: 'illegal_parameter',
  48: 'unknown_ca',
  49: 'access_denied',
  50: 'decode_error',
  51: 'decrypt_error',
  70: 'protocol_version',
  71: 'insufficient_security',
  80: 'internal_error',
  86: 'inappropriate_fallback',
  90: 'user_canceled',
  109: 'missing_extension',
  110: 'unsupported_extension',
  112: 'unrecognized_name',
  113: 'bad_certificate_status_response',
  115: 'unknown_psk_identity',
  116: 'certificate_required',
  120: 'no_application_protocol',
};

/** Alert name from Node's error code or OpenSSL reason, e.g. `ERR_SSL_TLSV1_ALERT_UNKNOWN_CA` -> `unknown_ca`. */
export function alertFromError(code: string, message: string): string | undefined {
  const m =
    /(?:SSLV3|TLSV1|TLSV13)_ALERT_([A-Z_]+)/.exec(code) ?? /(?:sslv3|tlsv1|tlsv13) alert ([a-z ]+)/.exec(message);
  if (!m) return undefined;
  const raw = m[1]!.toLowerCase().replace(/ /g, '_');
  const known = Object.values(TLS_ALERTS).find((n) => n === raw);
  return known ?? raw;
}
