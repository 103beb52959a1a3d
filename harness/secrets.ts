/**
 * Secrets and their redaction, for every layer (the AT engine, the driver, the report, the run).
 *
 * Two kinds of protection, applied together by `redactSecrets`:
 *
 * 1. **What the harness sent** (`SecretRegistry`). Every secret the harness sends registers its
 *    content before it leaves: a private key uploaded in data mode (`AtEngine.dataMode(...,
 *    { secret: true })`) and a password (`AtEngine.addSecret`). The registry then recognises
 *    that content wherever it turns up again, in whatever shape the module sends it back:
 *    - a key: every run of at least `MIN_KEY_RUN` (16) characters of its base64 body, across
 *      line breaks, so a body line echoed verbatim, a line cut in two, or a few lines joined
 *      are all found. 16 base64 characters carry 12 bytes (96 bits): a run that long of a key's
 *      secret part cannot turn up by chance, while shorter runs would also hit the DER headers
 *      that every key of one type shares (`MIIEowIBAAKCAQEA` is the first 16 characters of every
 *      PKCS#1 RSA-2048 key). The final body line is matched whole when it has 8 or more
 *      characters (it is often shorter than 16);
 *    - a password: the whole value, and in an unterminated text (a timeout tail, a frame cut
 *      off) also a prefix of 4 or more characters at its end (an echo that stopped inside it).
 *    A run of a key that only encodes its public part (the modulus, the public point, the
 *    algorithm identifier, all of which a certificate carries too) is redacted like the rest
 *    but is not counted as an echo of key material (`hasKeyMaterial`): a module that shows its
 *    certificate must not be reported for leaking its key.
 * 2. **What looks like a secret** (no registration needed): PEM private-key blocks (replaced by
 *    a marker with the length and sha256 of the block, so two reports can tell whether the same
 *    key was used), `password=...`-style fields, the password argument of `AT+SRWSTACFG` /
 *    `+SRWSTACFG:` (Wi-Fi, [BX-T]) and of `AT+KMQTTCFG` / `+KMQTTCFG:` (MQTT, position 14 [BX-T]),
 *    also when the line is cut off inside it, and the secrets of NSS key-log lines.
 *
 * `processSecrets` is the registry of this process: the engine registers there by default, and
 * every sink in the same process (evidence bundles, error messages, results, the console)
 * redacts with it. Everything here is synchronous and pure apart from the registry's state.
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { splitAtArgs } from './at-args.ts';

/** Replacement for a password-like value (the report layer's marker). */
export const REDACTED = '[REDACTED]';
/** The AT layer's marker for a registered secret (transcripts, AT evidence, engine errors). */
export const AT_REDACTED = '<<redacted>>';
/** Replacement for a run of registered key material. */
export const KEY_MATERIAL_MARKER = '[REDACTED KEY MATERIAL]';
/** Shortest run of a registered key's base64 body that is recognised (see the file comment). */
export const MIN_KEY_RUN = 16;
/** Shortest password prefix redacted at the end of an unterminated text. */
export const MIN_PASSWORD_PREFIX = 4;
/** A final body line at least this long is matched whole (it is often shorter than `MIN_KEY_RUN`). */
const MIN_LAST_LINE = 8;

const PEM_KEY_BLOCK = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g;
const PEM_KEY_BEGIN = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----/;
const PEM_KEY_END = /-----END ((?:[A-Z0-9]+ )*)PRIVATE KEY-----/;
/** Runs of base64 characters long enough to hold a registered key run. */
const BASE64_RUN = new RegExp(`[A-Za-z0-9+/=]{${MIN_KEY_RUN},}`, 'g');
const BASE64_RUN_SHORT = new RegExp(`[A-Za-z0-9+/=]{${MIN_LAST_LINE},}`, 'g');

export interface RedactOptions {
  /** Marker for a password. Default `REDACTED` (`[REDACTED]`); the AT layer uses `AT_REDACTED`. */
  marker?: string;
  /**
   * The text ends in the middle of something (a timeout tail, a frame cut off): a password's
   * prefix of `MIN_PASSWORD_PREFIX` or more characters at its end is redacted too. Default false.
   */
  unterminated?: boolean;
}

/** The base64 characters of a text (a PEM body without armour, headers or line breaks). */
function base64Chars(text: string): string {
  return text.replace(/[^A-Za-z0-9+/=]/g, '');
}

/** Every `MIN_KEY_RUN`-character window of `s` into `into`. */
function addWindows(s: string, into: Set<string>): void {
  for (let i = 0; i + MIN_KEY_RUN <= s.length; i++) into.add(s.slice(i, i + MIN_KEY_RUN));
}

/**
 * The windows of a key's public part as base64 at each of the three byte alignments, so a
 * public run is recognised wherever it starts in the key's own encoding.
 */
function publicWindows(pemBlock: string): Set<string> {
  const out = new Set<string>();
  let spki: Buffer;
  try {
    spki = createPublicKey(createPrivateKey(pemBlock)).export({ type: 'spki', format: 'der' });
  } catch {
    return out; // not a key node:crypto reads (encrypted, malformed): every run counts as secret
  }
  for (let shift = 0; shift < 3; shift++)
    addWindows(Buffer.concat([Buffer.alloc(shift), spki]).toString('base64'), out);
  return out;
}

/**
 * The secrets this process sent, recognised wherever they come back (see the file comment).
 * Registering is idempotent; nothing is ever removed (a secret stays secret).
 */
export class SecretRegistry {
  readonly #passwords = new Set<string>();
  /** Every window of every registered key body: redacted wherever found. */
  readonly #windows = new Set<string>();
  /** The windows that are not public (not in the key's SPKI): their presence is an echo. */
  readonly #secretWindows = new Set<string>();
  /** Final body lines shorter than a window, matched whole. */
  readonly #lastLines = new Set<string>();
  readonly #registered = new Set<string>();

  /** Register a password (or any short secret string). Empty strings are ignored. */
  addPassword(value: string): void {
    if (value.length > 0) this.#passwords.add(value);
  }

  /**
   * Register key material: PEM text with one or more private-key blocks, or (without armour)
   * any secret text whose base64 runs are to be recognised. Bytes are read as latin1.
   */
  addKey(material: string | Uint8Array): void {
    const text = typeof material === 'string' ? material : Buffer.from(material).toString('latin1');
    const id = createHash('sha256').update(text, 'latin1').digest('hex');
    if (this.#registered.has(id)) return;
    this.#registered.add(id);
    const blocks = [...text.matchAll(PEM_KEY_BLOCK)].map((m) => m[0]);
    const bodies =
      blocks.length > 0
        ? blocks.map((block) => ({ block, lines: bodyLines(block) }))
        : [{ block: undefined, lines: text.split(/\r?\n|\r/).map(base64Chars) }];
    for (const { block, lines } of bodies) {
      const body = lines.join('');
      const pub = block ? publicWindows(block) : new Set<string>();
      for (let i = 0; i + MIN_KEY_RUN <= body.length; i++) {
        const w = body.slice(i, i + MIN_KEY_RUN);
        this.#windows.add(w);
        if (!pub.has(w)) this.#secretWindows.add(w);
      }
      const last = lines.filter((l) => l.length > 0).pop();
      if (last && last.length >= MIN_LAST_LINE && last.length < MIN_KEY_RUN) this.#lastLines.add(last);
    }
  }

  /** Whether anything is registered. */
  get empty(): boolean {
    return this.#passwords.size === 0 && this.#windows.size === 0 && this.#lastLines.size === 0;
  }

  /** Whether `text` holds a run of a registered key's secret part (an echo of key material). */
  hasKeyMaterial(text: string): boolean {
    if (this.#secretWindows.size === 0) return false;
    for (const m of text.matchAll(BASE64_RUN)) {
      const run = m[0];
      for (let i = 0; i + MIN_KEY_RUN <= run.length; i++)
        if (this.#secretWindows.has(run.slice(i, i + MIN_KEY_RUN))) return true;
    }
    return false;
  }

  /** Replace every registered secret in `text`: passwords by the marker, key runs by `KEY_MATERIAL_MARKER`. */
  redact(text: string, options: RedactOptions = {}): string {
    if (this.empty || text.length === 0) return text;
    const marker = options.marker ?? REDACTED;
    let out = text;
    if (this.#windows.size > 0) out = this.#redactKeyRuns(out);
    if (this.#passwords.size > 0) {
      // Longest first: a password that contains another is replaced whole.
      const pws = [...this.#passwords].sort((a, b) => b.length - a.length);
      for (const p of pws) if (out.includes(p)) out = out.split(p).join(marker);
      if (options.unterminated) {
        for (const p of pws) {
          for (let k = p.length - 1; k >= MIN_PASSWORD_PREFIX; k--) {
            if (out.endsWith(p.slice(0, k))) {
              out = out.slice(0, out.length - k) + marker;
              break;
            }
          }
        }
      }
    }
    return out;
  }

  #redactKeyRuns(text: string): string {
    let out = text.replace(BASE64_RUN, (run) => {
      // Mark every character covered by a registered window, then replace the covered spans.
      const covered = new Uint8Array(run.length);
      let any = false;
      for (let i = 0; i + MIN_KEY_RUN <= run.length; i++) {
        if (this.#windows.has(run.slice(i, i + MIN_KEY_RUN))) {
          covered.fill(1, i, i + MIN_KEY_RUN);
          any = true;
        }
      }
      if (!any) return run;
      let res = '';
      for (let i = 0; i < run.length;) {
        let j = i;
        while (j < run.length && covered[j] === covered[i]) j++;
        res += covered[i] ? KEY_MATERIAL_MARKER : run.slice(i, j);
        i = j;
      }
      return res;
    });
    if (this.#lastLines.size > 0)
      out = out.replace(BASE64_RUN_SHORT, (run) => (this.#lastLines.has(run) ? KEY_MATERIAL_MARKER : run));
    return out;
  }
}

/** The base64 lines of a PEM block's body (armour and `Proc-Type:`-style headers left out). */
function bodyLines(block: string): string[] {
  return block
    .split(/\r?\n|\r/)
    .filter((l) => !l.startsWith('-----') && !l.includes(':'))
    .map(base64Chars);
}

/** The registry of this process: the AT engine registers there by default; every sink redacts with it. */
export const processSecrets = new SecretRegistry();

/** The marker that replaces a private key: type, length in bytes and sha256 of the PEM block. */
export function privateKeyMarker(pemBlock: string, label = ''): string {
  const sha = createHash('sha256').update(pemBlock).digest('hex');
  return `[REDACTED ${label}PRIVATE KEY: ${Buffer.byteLength(pemBlock)} bytes, sha256 ${sha}]`;
}

/** True when the text holds any part of a PEM private key (a whole block, a BEGIN or an END line). */
export function containsPrivateKey(text: string): boolean {
  return PEM_KEY_BEGIN.test(text) || PEM_KEY_END.test(text);
}

/**
 * `password=x`, `password: x`, `"password":"x"`, `passphrase='x'` in free text. A size such as
 * the AT layer's own marker `<<secret: 1704 bytes, sha256=...>>` is not a value, nor is a marker.
 */
const SECRET_FIELD =
  /(["']?)\b(password|passwd|passphrase|pwd|client[_-]?secret|secret|psk|pre[_-]?shared[_-]?key|api[_-]?key|access[_-]?token)\1(\s*[:=]\s*)(\[REDACTED\]|<<redacted>>|"(?:[^"\\\r\n]|\\.)*"|'[^'\r\n]*'|(?!\d+ bytes\b)[^\s,;&}\]"']+)/gi;

/** NSS key-log labels (SSLKEYLOGFILE format); the last field is the secret. */
const KEYLOG_LINE =
  /^(CLIENT_RANDOM|CLIENT_EARLY_TRAFFIC_SECRET|CLIENT_HANDSHAKE_TRAFFIC_SECRET|SERVER_HANDSHAKE_TRAFFIC_SECRET|CLIENT_TRAFFIC_SECRET_0|SERVER_TRAFFIC_SECRET_0|EARLY_EXPORTER_SECRET|EXPORTER_SECRET) ([0-9A-Fa-f]+) [0-9A-Fa-f]+$/gm;

function isMarked(field: string): boolean {
  return field.includes(REDACTED) || field.includes(AT_REDACTED);
}

function redactField(field: string, marker: string): string {
  const t = field.trim();
  if (t === '' || t === '""' || isMarked(field)) return field;
  // A field cut off inside its quotes (`"hun`) is still the password: redacted all the same.
  return t.startsWith('"') ? `"${marker}"` : marker;
}

/** Redacts the password argument of the AT commands and read forms that carry one (also cut off). */
export function redactAtPasswords(text: string, marker = REDACTED): string {
  // Wi-Fi station settings: AT+SRWSTACFG="<ssid>","<password>"[,<autoconnect>] and the read
  // form +SRWSTACFG: "<ssid>","<pw>",<autoconnect> ([BX-T]); the password is the 2nd field.
  let out = text.replace(/((?:AT)?\+SRWSTACFG(?:=|:\s*))([^\r\n]*)/gi, (_m, head: string, rest: string) => {
    const f = splitAtArgs(rest).fields;
    if (f.length >= 2) f[1] = redactField(f[1]!, marker);
    return head + f.join(',');
  });
  // MQTT session: AT+KMQTTCFG=<secure>,<server>,...,<username>,<password> (14th field, [BX-T]);
  // the read form +KMQTTCFG: <id>,"<server>",... has the same positions. HL78xx firmwares put
  // a PDP profile first ([3P], not BX), which shifts the password to the 15th field: told apart
  // by whether the 2nd field is the quoted server or a number.
  out = out.replace(/((?:AT)?\+KMQTTCFG(?:=|:\s*))([^\r\n]*)/gi, (_m, head: string, rest: string) => {
    const f = splitAtArgs(rest).fields;
    const shifted = f.length >= 3 && /^\s*\d+\s*$/.test(f[1] ?? '') && /^\s*"/.test(f[2] ?? '');
    const index = shifted ? 14 : 13;
    if (f.length > index) f[index] = redactField(f[index]!, marker);
    return head + f.join(',');
  });
  return out;
}

export interface RedactSecretsOptions extends RedactOptions {
  /** The registry to apply. Default `processSecrets`. */
  registry?: SecretRegistry;
}

/**
 * The one redaction pass: PEM private keys, the registry's secrets (keys sent, passwords), then
 * password-like fields, key-log secrets and AT password arguments. Idempotent: redacting twice
 * gives the same text. A BEGIN line with no END (a key cut off) is redacted to the end of the
 * text; an END line with no BEGIN from the start of the text.
 */
export function redactSecrets(text: string, options: RedactSecretsOptions = {}): string {
  const marker = options.marker ?? REDACTED;
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
  out = (options.registry ?? processSecrets).redact(out, options);
  out = out.replace(SECRET_FIELD, (m, q: string, name: string, sep: string, value: string) => {
    if (isMarked(value)) return m;
    const quote = value.startsWith('"') ? '"' : value.startsWith("'") ? "'" : '';
    return `${q}${name}${q}${sep}${quote}${marker}${quote}`;
  });
  out = out.replace(KEYLOG_LINE, (_m, label: string, random: string) => `${label} ${random} ${marker}`);
  return redactAtPasswords(out, marker);
}
