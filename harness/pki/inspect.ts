/**
 * Reading user files for doctor: PEM (LF, CR LF, JSON-escaped) or DER certificates and keys.
 * Anything that cannot be used becomes ONE PkiInputError per file (code BXHIL_PKI_INPUT) with
 * a one-line message naming the cause and the fix; key material never appears in a message.
 */
import { X509Certificate, createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { PkiInputError } from './errors.ts';

/** Input to doctor: a path, or a name and its bytes (tests, stdin). */
export type DoctorInput = string | { name: string; data: Buffer };

/** How a private key was encoded in the file. `pkcs1-encrypted` is legacy OpenSSL `Proc-Type: 4,ENCRYPTED`. */
export type FoundKeyEncoding = 'pkcs1' | 'pkcs8' | 'sec1' | 'pkcs8-encrypted' | 'pkcs1-encrypted';

/** A certificate read from a file, with its position there. */
export interface LoadedCert {
  /** 1-based position in the file. */
  index: number;
  cert: X509Certificate;
}

/** A private key read from a file, with its encoding (never printed). */
export interface LoadedKey {
  index: number;
  encoding: FoundKeyEncoding;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** A PEM or DER file read: its format, line endings, certificates, keys and CRLs. */
export interface LoadedFile {
  /** Name as given (path or label). */
  file: string;
  bytes: number;
  format: 'pem' | 'der' | 'pem-json-escaped';
  lineEndings: 'lf' | 'crlf' | 'mixed' | 'none';
  finalNewline: boolean;
  certs: LoadedCert[];
  keys: LoadedKey[];
  crls: number;
  /** PEM labels doctor does not use (e.g. `CERTIFICATE REQUEST`). */
  otherBlocks: string[];
  /** The file's bytes (to recognise the same data inline in an AT file); never printed. */
  raw?: Buffer;
}

export interface LoadOptions {
  /** Refuse files larger than this before reading them. Default 1 MiB (certificates are a few KB). */
  maxFileBytes?: number;
  /** Passphrase for encrypted keys (never printed). */
  passphrase?: string;
}

/** The largest certificate or key file read (1 MiB): anything bigger is not a certificate. */
export const DEFAULT_MAX_FILE_BYTES = 1_048_576; // 1 MiB

/** Read a stream to its end, refusing more than `max` bytes (a pipe has no size to check first). */
async function readToEnd(stream: NodeJS.ReadableStream, name: string, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    total += b.length;
    if (total > max) {
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      throw tooLarge(name, total, max);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** The name `-` reads standard input. */
export const STDIN_INPUT = '-';

/**
 * Read an input's bytes with the early checks (missing, directory, too large, empty). `-` is
 * standard input; a pipe or a character device (`<(cat key.pem)`, /dev/stdin) is read to its
 * end, not judged by its size, which is 0.
 */
export async function readInput(
  input: DoctorInput,
  options: LoadOptions = {},
): Promise<{ name: string; data: Buffer }> {
  const max = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  if (typeof input !== 'string') {
    if (input.data.length > max) throw tooLarge(input.name, input.data.length, max);
    if (input.data.length === 0) throw empty(input.name);
    return input;
  }
  if (input === STDIN_INPUT) {
    const data = await readToEnd(process.stdin, 'stdin', max);
    if (data.length === 0) throw empty('stdin');
    return { name: 'stdin', data };
  }
  let info;
  try {
    info = await stat(input);
  } catch (err) {
    throw new PkiInputError(
      input,
      'not-found',
      `${input}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the path`,
      { cause: err },
    );
  }
  if (info.isDirectory())
    throw new PkiInputError(
      input,
      'directory',
      `${input}: is a directory; give the certificate and key files inside it`,
    );
  if (!info.isFile()) {
    let data: Buffer;
    try {
      data = await readToEnd(createReadStream(input), input, max);
    } catch (err) {
      if (err instanceof PkiInputError) throw err;
      throw new PkiInputError(
        input,
        'not-found',
        `${input}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'}); give a file or a pipe, or - for standard input`,
        { cause: err },
      );
    }
    if (data.length === 0) throw empty(input);
    return { name: input, data };
  }
  if (info.size > max) throw tooLarge(input, info.size, max);
  if (info.size === 0) throw empty(input);
  return { name: input, data: await readFile(input) };
}

function tooLarge(name: string, size: number, max: number): PkiInputError {
  return new PkiInputError(
    name,
    'too-large',
    `${name}: ${size} bytes is too large for a certificate or key file (limit ${max} bytes); pass the PEM file itself, not an archive or log`,
  );
}

function empty(name: string): PkiInputError {
  return new PkiInputError(name, 'empty', `${name}: the file is empty; export the certificate or key again`);
}

export function lineEndingsOf(text: string): { lineEndings: LoadedFile['lineEndings']; finalNewline: boolean } {
  const crlf = (text.match(/\r\n/g) ?? []).length;
  const lf = (text.match(/\n/g) ?? []).length;
  const lineEndings = lf === 0 ? 'none' : crlf === 0 ? 'lf' : crlf === lf ? 'crlf' : 'mixed';
  return { lineEndings, finalNewline: text.endsWith('\n') };
}

function looksBinary(data: Buffer): boolean {
  let odd = 0;
  for (const b of data.subarray(0, 4096)) {
    if (b === 0) return true;
    if (b < 9 || (b > 13 && b < 32) || b === 127) odd++;
  }
  return odd > 0;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/** Load one input as certificates and keys. Throws PkiInputError when it cannot be used. */
export async function loadCertOrKeyFile(input: DoctorInput, options: LoadOptions = {}): Promise<LoadedFile> {
  const { name, data } = await readInput(input, options);
  if ((data[0] === 0xff && data[1] === 0xfe) || (data[0] === 0xfe && data[1] === 0xff)) {
    throw new PkiInputError(
      name,
      'binary',
      `${name}: UTF-16 text (saved as "Unicode" by a Windows editor); save it as ASCII/UTF-8 or export the PEM again`,
    );
  }
  if (data[0] === 0x30 && looksBinary(data)) return loadDer(name, data);
  if (looksBinary(data)) {
    throw new PkiInputError(
      name,
      'binary',
      `${name}: binary data that is neither a DER certificate nor a DER key; give the PEM file (text starting with -----BEGIN)`,
    );
  }
  let text = data.toString('utf8');
  let format: LoadedFile['format'] = 'pem';
  const endings = lineEndingsOf(text);
  if (!text.includes('-----BEGIN')) {
    const hint = /^\s*AT/im.test(text) ? ' It looks like AT commands: pass it with --at.' : '';
    throw new PkiInputError(
      name,
      'unrecognised',
      `${name}: no PEM block (-----BEGIN ...-----) found; this is not a certificate or key.${hint}`,
    );
  }
  if (/-----BEGIN [A-Z0-9 ]+-----\\n/.test(text)) {
    // Copied out of JSON: literal \n instead of line breaks. Decode to keep checking; doctor reports it.
    text = text.replace(/\\r/g, '').replace(/\\n/g, '\n');
    format = 'pem-json-escaped';
  }
  const loaded: LoadedFile = {
    file: name,
    bytes: data.length,
    format,
    ...endings,
    certs: [],
    keys: [],
    crls: 0,
    otherBlocks: [],
    raw: data,
  };
  const begins = (text.match(/-----BEGIN [A-Z0-9 ]+-----/g) ?? []).length;
  let index = 0;
  for (const m of text.matchAll(PEM_BLOCK)) {
    index++;
    const [, label, rawBody, endLabel] = m as unknown as [string, string, string, string];
    if (label !== endLabel) {
      throw new PkiInputError(
        name,
        'bad-pem',
        `${name}: block ${index} begins as "${label}" but ends as "${endLabel}"; the file was cut or two files were pasted together`,
      );
    }
    const headerLines = rawBody.split(/\r?\n/).filter((l) => l.includes(':'));
    const body = rawBody
      .split(/\r?\n/)
      .filter((l) => !l.includes(':'))
      .join('')
      .replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0 || body.length === 0) {
      throw new PkiInputError(
        name,
        'bad-pem',
        `${name}: the base64 body of block ${index} (${label}) is broken (characters outside base64 or a length that is not a multiple of 4); export the file again instead of editing it by hand`,
      );
    }
    const der = Buffer.from(body, 'base64');
    const encrypted = headerLines.some((l) => /Proc-Type:\s*4,ENCRYPTED/i.test(l));
    switch (label) {
      case 'CERTIFICATE':
      case 'TRUSTED CERTIFICATE':
        try {
          loaded.certs.push({ index, cert: new X509Certificate(der) });
        } catch (err) {
          throw new PkiInputError(
            name,
            'bad-pem',
            `${name}: block ${index} is valid base64 but not a valid certificate (truncated or corrupted); export it again`,
            { cause: err },
          );
        }
        break;
      case 'RSA PRIVATE KEY':
      case 'PRIVATE KEY':
      case 'EC PRIVATE KEY':
      case 'ENCRYPTED PRIVATE KEY':
        loaded.keys.push(loadKey(name, index, label, der, encrypted ? m[0] : undefined, options.passphrase));
        break;
      case 'X509 CRL':
        loaded.crls++;
        break;
      default:
        loaded.otherBlocks.push(label);
    }
  }
  if (index < begins) {
    throw new PkiInputError(
      name,
      'bad-pem',
      `${name}: a -----BEGIN line has no matching -----END line; the file is truncated, export it again`,
    );
  }
  if (loaded.certs.length === 0 && loaded.keys.length === 0 && loaded.crls === 0) {
    throw new PkiInputError(
      name,
      'unrecognised',
      `${name}: contains only ${loaded.otherBlocks.join(', ')}; doctor needs certificates or private keys`,
    );
  }
  return loaded;
}

function loadKey(
  name: string,
  index: number,
  label: string,
  der: Buffer,
  legacyEncryptedPem: string | undefined,
  passphrase?: string,
): LoadedKey {
  const encoding: FoundKeyEncoding = legacyEncryptedPem
    ? 'pkcs1-encrypted'
    : label === 'RSA PRIVATE KEY'
      ? 'pkcs1'
      : label === 'EC PRIVATE KEY'
        ? 'sec1'
        : label === 'ENCRYPTED PRIVATE KEY'
          ? 'pkcs8-encrypted'
          : 'pkcs8';
  const isEncrypted = encoding.endsWith('-encrypted');
  if (isEncrypted && !passphrase) {
    throw new PkiInputError(
      name,
      'encrypted-no-passphrase',
      `${name}: the private key is encrypted and no passphrase was given; use --passphrase-env VAR (the module itself cannot take an encrypted key)`,
    );
  }
  try {
    const privateKey = legacyEncryptedPem
      ? createPrivateKey({ key: legacyEncryptedPem, passphrase })
      : createPrivateKey({
          key: der,
          format: 'der',
          type: encoding === 'pkcs1' ? 'pkcs1' : encoding === 'sec1' ? 'sec1' : 'pkcs8',
          passphrase: isEncrypted ? passphrase : undefined,
        });
    return { index, encoding, privateKey, publicKey: createPublicKey(privateKey) };
  } catch (err) {
    if (isEncrypted)
      throw new PkiInputError(
        name,
        'bad-passphrase',
        `${name}: the passphrase does not decrypt the key; check the variable given to --passphrase-env`,
        { cause: err },
      );
    throw new PkiInputError(
      name,
      'bad-pem',
      `${name}: block ${index} (${label}) is valid base64 but not a valid key (truncated or corrupted); export it again`,
      { cause: err },
    );
  }
}

function loadDer(name: string, data: Buffer): LoadedFile {
  const base = {
    file: name,
    bytes: data.length,
    format: 'der' as const,
    lineEndings: 'none' as const,
    finalNewline: false,
    crls: 0,
    otherBlocks: [],
  };
  try {
    return { ...base, certs: [{ index: 1, cert: new X509Certificate(data) }], keys: [] };
  } catch {
    // not a certificate: try the key encodings
  }
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      const privateKey = createPrivateKey({ key: data, format: 'der', type });
      return {
        ...base,
        certs: [],
        keys: [{ index: 1, encoding: type, privateKey, publicKey: createPublicKey(privateKey) }],
      };
    } catch {
      // next encoding
    }
  }
  throw new PkiInputError(
    name,
    'binary',
    `${name}: binary data that is neither a DER certificate nor a DER key; give the PEM file (text starting with -----BEGIN)`,
  );
}

/** SHA-256 of the SubjectPublicKeyInfo DER, colon-separated upper-case hex. Safe to print. */
export function publicKeyFingerprint(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  return colonHex(createHash('sha256').update(der).digest());
}

export function colonHex(buf: Buffer): string {
  return buf
    .toString('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1:');
}

/** `RSA 2048`, `EC P-256`, `ED25519`. */
export function describeKeyObject(key: KeyObject): { type: string; bits?: number; curve?: string; text: string } {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    return { type: 'RSA', bits: d.modulusLength, text: `RSA ${d.modulusLength}` };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve =
      ({ prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' } as Record<string, string>)[d.namedCurve ?? ''] ??
      d.namedCurve ??
      '?';
    return { type: 'EC', curve, text: `EC ${curve}` };
  }
  const t = (key.asymmetricKeyType ?? 'unknown').toUpperCase();
  return { type: t, text: t };
}
