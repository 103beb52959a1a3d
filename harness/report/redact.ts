/**
 * Redaction of secrets before evidence lands on disk or in a report (common rule: private keys,
 * passwords and TLS key logs never reach logs, transcripts or reports unless a flag asks).
 *
 * The text pass itself (`redactSecrets`: PEM private keys, the secrets this process sent as
 * registered in `processSecrets`, password fields, AT password arguments, key-log secrets) lives
 * in the base layer (harness/secrets.ts) so the AT engine applies the very same pass; this file
 * adds what only the report needs: `redactValue` for JSON-like values (fields named like a
 * secret, byte fields holding a key) and `PrivateKeyStreamRedactor` for a key split over several
 * events (an upload in data mode is written to the link in chunks).
 */
import { containsPrivateKey, REDACTED, redactSecrets } from '../secrets.ts';

export {
  REDACTED,
  containsPrivateKey,
  privateKeyMarker,
  redactSecrets,
  redactAtPasswords,
  processSecrets,
  SecretRegistry,
} from '../secrets.ts';

const PEM_KEY_BLOCK = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g;
const PEM_KEY_BEGIN = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----/;
const PEM_KEY_END = /-----END ((?:[A-Z0-9]+ )*)PRIVATE KEY-----/;

/** Field names whose values are secrets (matched case-insensitively, `_`/`-` ignored). */
const SECRET_NAME =
  /^(?:password|passwd|passphrase|pwd|secret|clientsecret|psk|presharedkey|apikey|accesstoken|token|privatekey|keypem|privatekeypem|keylog)$/;

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
