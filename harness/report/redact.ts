/**
 * Redaction of secrets before evidence lands on disk or in a report (common rule: private keys,
 * passwords and TLS key logs never reach logs, transcripts or reports unless a flag asks).
 *
 * What counts as a secret here:
 * - PEM private keys (`-----BEGIN [RSA |EC |ENCRYPTED ]PRIVATE KEY-----` ... END), replaced by
 *   a marker that keeps the length and the sha256 of the block so two reports can still tell
 *   whether the same key was used, without revealing it;
 * - password-like `key=value` / `"key": "value"` fields (password, passphrase, secret, psk, ...);
 * - the password argument of `AT+SRWSTACFG` / `+SRWSTACFG:` (Wi-Fi, [BX-T]) and of
 *   `AT+KMQTTCFG` / `+KMQTTCFG:` (MQTT, position 14 [BX-T]; the read form shows it in clear);
 * - the secrets of NSS key-log lines (`CLIENT_RANDOM <random> <secret>` and the TLS 1.3 labels).
 *
 * The helpers are pure and synchronous; `PrivateKeyStreamRedactor` handles a key that arrives
 * split over several events (an upload in data mode is written to the link in chunks).
 */
import { createHash } from 'node:crypto';

/** Replacement for a password-like value. */
export const REDACTED = '[REDACTED]';

const PEM_KEY_BLOCK = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g;
const PEM_KEY_BEGIN = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----/;
const PEM_KEY_END = /-----END ((?:[A-Z0-9]+ )*)PRIVATE KEY-----/;

/** Field names whose values are secrets (matched case-insensitively, `_`/`-` ignored). */
const SECRET_NAME =
  /^(?:password|passwd|passphrase|pwd|secret|clientsecret|psk|presharedkey|apikey|accesstoken|token|privatekey|keypem|privatekeypem|keylog)$/;

/**
 * `password=x`, `password: x`, `"password":"x"`, `passphrase='x'` in free text. A size such as
 * the AT layer's own marker `<<secret: 1704 bytes, sha256=...>>` is not a value.
 */
const SECRET_FIELD =
  /(["']?)\b(password|passwd|passphrase|pwd|client[_-]?secret|secret|psk|pre[_-]?shared[_-]?key|api[_-]?key|access[_-]?token)\1(\s*[:=]\s*)(\[REDACTED\]|"(?:[^"\\\r\n]|\\.)*"|'[^'\r\n]*'|(?!\d+ bytes\b)[^\s,;&}\]"']+)/gi;

/** NSS key-log labels (SSLKEYLOGFILE format); the last field is the secret. */
const KEYLOG_LINE =
  /^(CLIENT_RANDOM|CLIENT_EARLY_TRAFFIC_SECRET|CLIENT_HANDSHAKE_TRAFFIC_SECRET|SERVER_HANDSHAKE_TRAFFIC_SECRET|CLIENT_TRAFFIC_SECRET_0|SERVER_TRAFFIC_SECRET_0|EARLY_EXPORTER_SECRET|EXPORTER_SECRET) ([0-9A-Fa-f]+) [0-9A-Fa-f]+$/gm;

/** The marker that replaces a private key: type, length in bytes and sha256 of the PEM block. */
export function privateKeyMarker(pemBlock: string, label = ''): string {
  const sha = createHash('sha256').update(pemBlock).digest('hex');
  return `[REDACTED ${label}PRIVATE KEY: ${Buffer.byteLength(pemBlock)} bytes, sha256 ${sha}]`;
}

/** True when the text holds any part of a PEM private key (a whole block, a BEGIN or an END line). */
export function containsPrivateKey(text: string): boolean {
  return PEM_KEY_BEGIN.test(text) || PEM_KEY_END.test(text);
}

/** Splits an AT parameter list on commas outside double quotes; keeps each field's raw text. */
function splitAtParams(params: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of params) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function redactField(field: string): string {
  if (field.trim() === '' || field.trim() === '""') return field;
  return field.trim().startsWith('"') ? `"${REDACTED}"` : REDACTED;
}

/** Redacts the password argument of the AT commands and read forms that carry one. */
function redactAtPasswords(text: string): string {
  // Wi-Fi station settings: AT+SRWSTACFG="<ssid>","<password>"[,<autoconnect>] and the read
  // form +SRWSTACFG: "<ssid>","<pw>",<autoconnect> ([BX-T]); the password is the 2nd field.
  let out = text.replace(/((?:AT)?\+SRWSTACFG(?:=|:\s*))([^\r\n]*)/gi, (_m, head: string, rest: string) => {
    const f = splitAtParams(rest);
    if (f.length >= 2) f[1] = redactField(f[1]!);
    return head + f.join(',');
  });
  // MQTT session: AT+KMQTTCFG=<secure>,<server>,...,<username>,<password> (14th field, [BX-T]);
  // the read form +KMQTTCFG: <id>,"<server>",... has the same positions. HL78xx firmwares put
  // a PDP profile first ([3P], not BX), which shifts the password to the 15th field: told apart
  // by whether the 2nd field is the quoted server or a number.
  out = out.replace(/((?:AT)?\+KMQTTCFG(?:=|:\s*))([^\r\n]*)/gi, (_m, head: string, rest: string) => {
    const f = splitAtParams(rest);
    const shifted = f.length >= 3 && /^\s*\d+\s*$/.test(f[1] ?? '') && /^\s*"/.test(f[2] ?? '');
    const index = shifted ? 14 : 13;
    if (f.length > index) f[index] = redactField(f[index]!);
    return head + f.join(',');
  });
  return out;
}

/**
 * Replaces every secret in `text` (see the file comment). Idempotent: redacting twice gives the
 * same text. A BEGIN line with no END (a key cut off) is redacted to the end of the text.
 */
export function redactSecrets(text: string): string {
  let out = text.replace(PEM_KEY_BLOCK, (block, label: string) => privateKeyMarker(block, label));
  const begin = PEM_KEY_BEGIN.exec(out);
  if (begin) {
    const rest = out.slice(begin.index);
    out = `${out.slice(0, begin.index)}[REDACTED ${begin[1]}PRIVATE KEY (truncated): ${Buffer.byteLength(rest)} bytes]`;
  }
  const end = PEM_KEY_END.exec(out);
  if (end) {
    const head = out.slice(0, end.index + end[0].length);
    out = `[REDACTED PRIVATE KEY (tail): ${Buffer.byteLength(head)} bytes]${out.slice(end.index + end[0].length)}`;
  }
  out = out.replace(SECRET_FIELD, (_m, q: string, name: string, sep: string, value: string) => {
    if (value === REDACTED || value === `"${REDACTED}"` || value === `'${REDACTED}'`)
      return `${q}${name}${q}${sep}${value}`;
    const quote = value.startsWith('"') ? '"' : value.startsWith("'") ? "'" : '';
    return `${q}${name}${q}${sep}${quote}${REDACTED}${quote}`;
  });
  out = out.replace(KEYLOG_LINE, (_m, label: string, random: string) => `${label} ${random} ${REDACTED}`);
  return redactAtPasswords(out);
}

function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name.toLowerCase().replace(/[_-]/g, ''));
}

/** Decodes a `hex`/`base64` byte field to text, to look for key material inside it. */
function decodeBytesField(name: string, value: string): string | undefined {
  if (/^(?:hex|bytesHex)$/i.test(name) && /^[0-9a-f\s]*$/i.test(value))
    return Buffer.from(value.replace(/\s/g, ''), 'hex').toString('latin1');
  if (/^(?:base64|bytes|bytesBase64|b64)$/i.test(name)) return Buffer.from(value, 'base64').toString('latin1');
  return undefined;
}

/**
 * Deep copy of a JSON-like value with every secret redacted: strings through `redactSecrets`,
 * fields named like a secret (password, passphrase, psk, privateKey, keylog ...) replaced
 * whole, and `hex`/`base64` byte fields that decode to key material replaced by a marker.
 */
export function redactValue<T>(value: T): T {
  return redactInner(value, undefined) as T;
}

function redactInner(value: unknown, name: string | undefined): unknown {
  if (typeof value === 'string') {
    if (name !== undefined && isSecretName(name) && value !== '') return REDACTED;
    if (name !== undefined) {
      const decoded = decodeBytesField(name, value);
      if (decoded !== undefined && containsPrivateKey(decoded))
        return `[REDACTED bytes holding PRIVATE KEY material: ${decoded.length} bytes]`;
    }
    return redactSecrets(value);
  }
  if (Array.isArray(value)) return value.map((v) => redactInner(v, undefined));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] =
        isSecretName(k) && v !== null && v !== undefined && v !== '' && typeof v !== 'boolean'
          ? REDACTED
          : redactInner(v, k);
    }
    return out;
  }
  return value;
}

/**
 * Redacts a private key that is spread over a sequence of texts (e.g. the link chunks of a
 * KPRIVKSTORE upload in data mode, [BX-T] §3.3): once a chunk holds a BEGIN line without its
 * END, every following chunk of the same stream is replaced until the END line is seen.
 * One instance per stream (source + scope); feed the texts in order.
 */
export class PrivateKeyStreamRedactor {
  #inside = false;

  /** True while inside a key that began in an earlier text. */
  get inside(): boolean {
    return this.#inside;
  }

  redact(text: string): string {
    if (this.#inside) {
      const end = PEM_KEY_END.exec(text);
      if (!end) return `[REDACTED PRIVATE KEY (fragment): ${Buffer.byteLength(text)} bytes]`;
      this.#inside = false;
      const cut = end.index + end[0].length;
      return `[REDACTED PRIVATE KEY (tail): ${Buffer.byteLength(text.slice(0, cut))} bytes]${redactSecrets(text.slice(cut))}`;
    }
    // A block opened here and not closed: remember it for the following texts.
    const withoutWhole = text.replace(PEM_KEY_BLOCK, '');
    if (PEM_KEY_BEGIN.test(withoutWhole)) this.#inside = true;
    return redactSecrets(text);
  }
}
