/**
 * `runDoctor`: what each certificate, key and AT file is, and what is wrong with them, in plain
 * words, before anything is uploaded (issue 4). Used by `bx-hil doctor` (text or --json).
 *
 * Each finding has a severity, a stable code, one line of explanation and a fix. Key material
 * is never printed: keys are described by type, size and the SHA-256 of their public key.
 * Exit code: 2 when an input cannot be used, else 1 when a finding is an error, else 0.
 */
import 'reflect-metadata'; // @peculiar/x509 v2 needs it before import (docs/reference/dependencies.md P5)
import * as px from '@peculiar/x509';
import type { KeyObject, X509Certificate } from 'node:crypto';
import { loadConstraints, type DeviceConstraints } from './constraints.ts';
import { PkiInputError, type InputProblem } from './errors.ts';
import {
  DEFAULT_MAX_FILE_BYTES,
  describeKeyObject,
  loadCertOrKeyFile,
  publicKeyFingerprint,
  readInput,
  lineEndingsOf,
  type DoctorInput,
  type FoundKeyEncoding,
  type LoadedFile,
} from './inspect.ts';
import { PUBLIC_ROOTS, findPublicIssuer, findPublicRoot } from './public-roots.ts';
import { parseAtFile, splitAtArgs, type AtLine } from './upload.ts';
import { redactAtPasswords } from '../secrets.ts';

export type { DoctorInput } from './inspect.ts';

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  /** Stable code, e.g. KEY_CERT_MISMATCH (see docs/pki.md). */
  code: string;
  /** The file (and line, for AT files) the finding is about. */
  file?: string;
  /** One line of plain explanation. */
  message: string;
  /** What to do about it. */
  fix: string;
}

export interface CertReport {
  index: number;
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  key: string;
  signatureAlgorithm: string;
  subjectAltNames: string[];
  sha256: string;
  isCa: boolean;
  selfSigned: boolean;
  /** Name of the well-known public root this certificate is (e.g. Amazon Root CA 1). */
  publicRoot?: string;
  /** What doctor takes the certificate to be. */
  role: 'root' | 'intermediate' | 'server' | 'client' | 'leaf';
}

export interface KeyReport {
  index: number;
  encoding: FoundKeyEncoding | 'der';
  key: string;
  /** SHA-256 of the public key (SPKI DER): the key itself is never printed. */
  publicKeySha256: string;
  /** `file#index` of the certificate this key belongs to. */
  matches?: string;
}

export interface FileReport {
  file: string;
  /** False when the file cannot be used at all (then `problem` says why). */
  usable: boolean;
  kind: 'certificates' | 'private-key' | 'certificates-and-keys' | 'crl' | 'at-commands' | 'unusable';
  bytes?: number;
  format?: LoadedFile['format'];
  lineEndings?: LoadedFile['lineEndings'];
  finalNewline?: boolean;
  certificates: CertReport[];
  keys: KeyReport[];
  problem?: { code: InputProblem; message: string };
}

export interface DoctorOptions {
  /** Host name (or IP) the module dials; server certificates are checked against it. Default: the KMQTTCFG server in the AT file, if any. */
  host?: string;
  /** Firmware profile: a built-in name (`2.6.3`, `legacy`, `reference`), a JSON profile path, or constraints. Default `2.6.3`. */
  profile?: string | DeviceConstraints;
  /** A file of AT commands (upload.at format or a plain command list). */
  at?: DoctorInput;
  /** The module's clock, when it differs from `now` (certificates are checked against both). */
  clock?: Date;
  /** Reference "now". Default: the current time. */
  now?: Date;
  /** Passphrase for encrypted keys. */
  passphrase?: string;
  /** Refuse larger files before reading them. Default 1 MiB. */
  maxFileBytes?: number;
}

export interface DoctorResult {
  files: FileReport[];
  findings: Finding[];
  exitCode: 0 | 1 | 2;
  profile: string;
  host?: string;
  hostSource?: 'option' | 'at-file';
  clock?: string;
}

const DAY_MS = 86_400_000;
const EXPIRY_WARNING_MS = 30 * DAY_MS;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
/** Issuer of AWS-generated device certificates (docs/reference/aws-iot-and-mosquitto.md T16). */
const AWS_DEVICE_CA = /OU=Amazon Web Services/;
const TYPOGRAPHIC_QUOTES = /[\u201C\u201D\u201E\u201F\u2033\u00AB\u00BB\u2018\u2019\u201A\u201B\u2032]/g;

interface CertEntry {
  file: string;
  cert: X509Certificate;
  report: CertReport;
  keyMatched?: string;
}

function sigAlgName(der: Buffer): string {
  try {
    const alg = new px.X509Certificate(new Uint8Array(der)).signatureAlgorithm as {
      name: string;
      hash?: { name: string };
    };
    const hash = alg.hash?.name.replace('-', '').toLowerCase() ?? '';
    if (alg.name === 'RSASSA-PKCS1-v1_5') return `${hash}WithRSAEncryption`;
    if (alg.name === 'ECDSA') return `ecdsa-with-${hash.toUpperCase()}`;
    return hash ? `${alg.name} ${hash}` : alg.name;
  } catch {
    return 'unknown';
  }
}

function dn(s: string): string {
  return s.split('\n').join(', ');
}

function cn(s: string): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(s)?.[1] ?? dn(s);
}

function sans(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter(Boolean)
    .map((s) => s.replace(/^IP Address:/, 'IP:'));
}

function isSelfSigned(cert: X509Certificate): boolean {
  try {
    return cert.checkIssued(cert) && cert.verify(cert.publicKey);
  } catch {
    return false;
  }
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

function stripQuotes(s: string): string {
  return s.replace(TYPOGRAPHIC_QUOTES, '').replace(/"/g, '').trim();
}

/** Run every check on the given files. Never throws for bad input: unusable files are reported (exit code 2). */
export async function runDoctor(inputs: DoctorInput[], options: DoctorOptions = {}): Promise<DoctorResult> {
  const constraints =
    typeof options.profile === 'object' ? options.profile : loadConstraints(options.profile ?? '2.6.3');
  const now = options.now ?? new Date();
  const findings: Finding[] = [];
  const files: FileReport[] = [];
  const loaded: LoadedFile[] = [];
  const add = (severity: Severity, code: string, file: string | undefined, message: string, fix: string) =>
    findings.push({ severity, code, file, message, fix });
  const loadOptions = { maxFileBytes: options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, passphrase: options.passphrase };

  // Reports keep the order of the inputs; unusable ones are filled in now, usable ones below.
  const slots: Array<FileReport | LoadedFile> = [];
  for (const input of inputs) {
    const name = typeof input === 'string' ? input : input.name;
    try {
      const f = await loadCertOrKeyFile(input, loadOptions);
      loaded.push(f);
      slots.push(f);
    } catch (err) {
      if (!(err instanceof PkiInputError)) throw err;
      slots.push({
        file: name,
        usable: false,
        kind: 'unusable',
        certificates: [],
        keys: [],
        problem: { code: err.problem, message: err.message },
      });
    }
  }
  let atReport: FileReport | undefined;

  // ---- AT file (parsed first: it may name the host)
  let at: { name: string; lines: AtLine[]; text: string } | undefined;
  if (options.at) {
    const atName = typeof options.at === 'string' ? options.at : options.at.name;
    try {
      const { data } = await readInput(options.at, loadOptions);
      if (data.includes(0))
        throw new PkiInputError(atName, 'binary', `${atName}: binary data, not a text file of AT commands`);
      const text = data.toString('utf8');
      const lines = parseAtFile(text);
      if (lines.length === 0)
        throw new PkiInputError(
          atName,
          'unrecognised',
          `${atName}: no line starting with AT found; give a text file of AT commands`,
        );
      at = { name: atName, lines, text };
      atReport = {
        file: atName,
        usable: true,
        kind: 'at-commands',
        bytes: data.length,
        ...lineEndingsOf(text),
        certificates: [],
        keys: [],
      };
    } catch (err) {
      if (!(err instanceof PkiInputError)) throw err;
      atReport = {
        file: atName,
        usable: false,
        kind: 'unusable',
        certificates: [],
        keys: [],
        problem: { code: err.problem, message: err.message },
      };
    }
  }

  let host = options.host;
  let hostSource: DoctorResult['hostSource'] = host ? 'option' : undefined;
  if (!host && at) {
    const cfg = at.lines.find((l) => l.name === '+KMQTTCFG' && l.form === 'set');
    const server = cfg ? splitAtArgs(cfg.args).params[1] : undefined;
    if (server && stripQuotes(server)) {
      host = stripQuotes(server);
      hostSource = 'at-file';
    }
  }

  // ---- data uploaded inline in the AT file is checked like a file, unless a given file has the same bytes
  if (at) {
    for (const line of at.lines) {
      if (line.data === undefined || line.unterminated) continue;
      const bytes = Buffer.from(line.data, 'utf8');
      if (loaded.some((f) => f.raw?.equals(bytes))) continue;
      const name = `${at.name}:${line.line}`;
      try {
        const f = await loadCertOrKeyFile({ name, data: bytes }, loadOptions);
        loaded.push(f);
        slots.push(f);
      } catch (err) {
        if (!(err instanceof PkiInputError)) throw err;
        add(
          'error',
          'AT_DATA_INVALID',
          name,
          `the data after AT${line.name} cannot be read: ${err.message.slice(name.length + 2)}`,
          'upload the PEM file exactly as exported (check it with bx-hil doctor <file>)',
        );
      }
    }
  }

  // ---- describe every certificate and key
  const certs: CertEntry[] = [];
  const seen = new Map<string, CertEntry>();
  for (const f of loaded) {
    const report: FileReport = {
      file: f.file,
      usable: true,
      kind:
        f.certs.length && f.keys.length
          ? 'certificates-and-keys'
          : f.keys.length
            ? 'private-key'
            : f.certs.length
              ? 'certificates'
              : 'crl',
      bytes: f.bytes,
      format: f.format,
      lineEndings: f.lineEndings,
      finalNewline: f.finalNewline,
      certificates: [],
      keys: [],
    };
    for (const { index, cert } of f.certs) {
      const selfSigned = isSelfSigned(cert);
      const eku = cert.keyUsage ?? [];
      const role: CertReport['role'] = cert.ca
        ? selfSigned
          ? 'root'
          : 'intermediate'
        : eku.includes(SERVER_AUTH) && !eku.includes(CLIENT_AUTH)
          ? 'server'
          : eku.includes(CLIENT_AUTH) && !eku.includes(SERVER_AUTH)
            ? 'client'
            : 'leaf';
      const keyInfo = describeKeyObject(cert.publicKey);
      const cr: CertReport = {
        index,
        subject: dn(cert.subject),
        issuer: dn(cert.issuer),
        serial: cert.serialNumber,
        notBefore: new Date(cert.validFrom).toISOString(),
        notAfter: new Date(cert.validTo).toISOString(),
        key: keyInfo.text,
        signatureAlgorithm: sigAlgName(cert.raw),
        subjectAltNames: sans(cert),
        sha256: cert.fingerprint256,
        isCa: cert.ca,
        selfSigned,
        publicRoot: findPublicRoot(cert)?.name,
        role,
      };
      report.certificates.push(cr);
      const entry: CertEntry = { file: f.file, cert, report: cr };
      certs.push(entry);
      if (!seen.has(cert.fingerprint256)) seen.set(cert.fingerprint256, entry);
    }
    for (const k of f.keys) {
      report.keys.push({
        index: k.index,
        encoding: f.format === 'der' ? 'der' : k.encoding,
        key: describeKeyObject(k.publicKey).text,
        publicKeySha256: publicKeyFingerprint(k.publicKey),
      });
    }
    slots[slots.indexOf(f)] = report;
  }
  files.push(...(slots as FileReport[]));
  if (atReport) files.push(atReport);

  // ---- keys against certificates; the key holder's certificate is the module's (client) certificate
  for (const f of loaded) {
    const report = files.find((r) => r.file === f.file)!;
    for (const k of f.keys) {
      const kr = report.keys.find((r) => r.index === k.index)!;
      const spki = k.publicKey.export({ type: 'spki', format: 'der' });
      const match = certs.find((c) => c.cert.publicKey.export({ type: 'spki', format: 'der' }).equals(spki));
      const where = `${f.file}${f.keys.length > 1 ? ` (key ${k.index})` : ''}`;
      if (match) {
        kr.matches = `${match.file}#${match.report.index}`;
        match.keyMatched = where;
        if (match.report.role === 'leaf') match.report.role = 'client';
        if (match.cert.ca) {
          add(
            'warning',
            'CA_KEY',
            f.file,
            `this is the private key of the CA ${cn(match.cert.subject)} (${match.file}), not a device key`,
            'keep CA keys off the module and out of tickets; the module needs only the CA certificate',
          );
        } else {
          add(
            'info',
            'KEY_CERT_MATCH',
            f.file,
            `the key belongs to ${cn(match.cert.subject)} (${match.file})`,
            'upload both: the certificate with AT+KCERTSTORE=1,<len>,0 and the key with AT+KPRIVKSTORE=0,<len>',
          );
        }
      } else {
        const leaves = certs.filter((c) => !c.cert.ca && !c.report.publicRoot);
        if (leaves.length) {
          add(
            'error',
            'KEY_CERT_MISMATCH',
            f.file,
            `the key (${kr.key}, public key SHA-256 ${kr.publicKeySha256.slice(0, 23)}...) belongs to none of the certificates given (${leaves.map((l) => cn(l.cert.subject)).join(', ')})`,
            'use the key file that was created with the certificate (AWS: the private.pem.key downloaded with it); a new certificate needs its own key',
          );
        } else {
          add(
            'info',
            'KEY_NO_CERT',
            f.file,
            `no certificate given to check the key (${kr.key}) against`,
            'pass the device certificate too to check that they belong together',
          );
        }
      }
      checkKeyForProfile(k.encoding, k.publicKey, f.file, constraints, add);
    }
  }

  // ---- per-file layout and profile limits
  for (const f of loaded) {
    if (f.format === 'pem-json-escaped') {
      add(
        'error',
        'PEM_JSON_ESCAPED',
        f.file,
        'the PEM has literal \\n sequences instead of line breaks (copied out of JSON); no PEM reader, and not the module, accepts it',
        `write it with real line breaks, e.g. node -e "process.stdout.write(JSON.parse(require('fs').readFileSync(0,'utf8')))" < file.json-string > file.pem`,
      );
    } else if (f.format === 'der') {
      add(
        'error',
        'PEM_REQUIRED',
        f.file,
        'the file is binary DER; the module takes PEM text',
        f.keys.length
          ? `openssl pkey -inform der -in ${f.file} -traditional -out key.pem`
          : `openssl x509 -inform der -in ${f.file} -out cert.pem`,
      );
    } else if (f.lineEndings === 'mixed') {
      add(
        'error',
        'LINE_ENDINGS',
        f.file,
        'the file mixes LF and CR LF line endings (edited on two systems); the byte count and the PEM parse get confused',
        'convert to LF only: sed -i "s/\\r$//" ' + f.file,
      );
    } else if (f.lineEndings === 'crlf' && !constraints.lineEndings.includes('crlf')) {
      add(
        'error',
        'LINE_ENDINGS',
        f.file,
        `CR LF line endings; firmware profile ${constraints.name} takes ${constraints.lineEndings.join('/').toUpperCase()} (${constraints.sources.lineEndings ?? 'profile'})`,
        `convert to LF: sed -i "s/\\r$//" ${f.file} (and count the bytes again)`,
      );
    } else if (f.lineEndings === 'lf' && !constraints.lineEndings.includes('lf')) {
      add(
        'error',
        'LINE_ENDINGS',
        f.file,
        `LF line endings; firmware profile ${constraints.name} takes CR LF (${constraints.sources.lineEndings ?? 'profile'})`,
        `convert to CR LF: sed -i "s/$/\\r/" ${f.file} (and count the bytes again)`,
      );
    }
    if (f.bytes > constraints.slotMaxBytes && (f.certs.length || f.keys.length)) {
      add(
        'error',
        'SLOT_TOO_LARGE',
        f.file,
        `${f.bytes} bytes; one KCERTSTORE/KPRIVKSTORE upload takes at most ${constraints.slotMaxBytes} (${constraints.sources.slotMaxBytes ?? 'profile'})`,
        f.certs.length > 1
          ? 'store only the root certificate in the root slot, not the whole bundle'
          : 'use a smaller key or certificate (RSA-2048 or EC P-256)',
      );
    }
    if (f.certs.length > 1 && f.certs[0]!.cert.ca) {
      add(
        'warning',
        'CHAIN_IN_FILE',
        f.file,
        `${f.certs.length} CA certificates in one file (a bundle); a slot stores the bytes as given and which certificate the module uses is unknown [guess]`,
        'store only the root CA that issued the server chain in the root slot',
      );
    } else if (f.certs.length > 1) {
      add(
        'info',
        'CHAIN_IN_FILE',
        f.file,
        `a certificate followed by ${f.certs.length - 1} more (a chain as a server presents it); the module stores one certificate per slot [BX-T]`,
        'upload only the first certificate when this is the device certificate',
      );
    }
  }

  // ---- each certificate: validity, strength, chain, host
  const roots = [...seen.values()].filter((c) => c.report.selfSigned);
  const clock = options.clock;
  for (const c of seen.values()) {
    const r = c.report;
    const label = `${cn(c.cert.subject)}`;
    const nb = new Date(c.cert.validFrom);
    const na = new Date(c.cert.validTo);
    if (r.publicRoot) {
      const root = PUBLIC_ROOTS.find((p) => p.name === r.publicRoot)!;
      add(
        'info',
        'PUBLIC_ROOT',
        c.file,
        `this is ${root.name} (${root.note}), SHA-256 ${root.sha256.slice(0, 23)}...`,
        'store it with AT+KCERTSTORE=0 when the module connects to a server under this root',
      );
    }
    if (now < nb)
      add(
        'error',
        'NOT_YET_VALID',
        c.file,
        `${label} is not valid before ${nb.toISOString()} (now ${now.toISOString()})`,
        'wait, or issue it again with a notBefore in the past (check the clock of the machine that issued it)',
      );
    else if (now > na)
      add('error', 'EXPIRED', c.file, `${label} expired on ${na.toISOString()}`, 'issue or download a new certificate');
    else if (na.getTime() - now.getTime() < EXPIRY_WARNING_MS)
      add(
        'warning',
        'EXPIRES_SOON',
        c.file,
        `${label} expires on ${na.toISOString()}, in less than 30 days`,
        'plan its replacement',
      );
    if (clock && now >= nb && now <= na && (clock < nb || clock > na)) {
      add(
        'error',
        'DEVICE_CLOCK',
        c.file,
        `at the module clock ${clock.toISOString()} ${label} is ${clock < nb ? `not valid yet (from ${nb.toISOString()})` : `expired (${na.toISOString()})`}`,
        'set the module clock (NTP) before connecting; a module that connects anyway does not check validity',
      );
    }
    if (!r.selfSigned && /^sha1|MD5|md5/i.test(r.signatureAlgorithm.replace('ecdsa-with-', ''))) {
      add(
        'warning',
        'WEAK_SIGNATURE',
        c.file,
        `${label} is signed with ${r.signatureAlgorithm}; SHA-1 is refused by AWS IoT and modern TLS stacks`,
        'issue it again with SHA-256',
      );
    }
    const k = describeKeyObject(c.cert.publicKey);
    if (k.type === 'RSA' && (k.bits ?? 0) < 2048) {
      add(
        'warning',
        'WEAK_KEY',
        c.file,
        `${label} has an RSA-${k.bits} key; AWS IoT and OpenSSL security level 2 require 2048 bits`,
        'issue it again with RSA-2048 or EC P-256',
      );
    }
    if (!c.keyMatched && !r.isCa && k.type === 'RSA' && (k.bits ?? 0) > constraints.maxRsaBits) {
      add(
        'warning',
        'KEY_TOO_LARGE',
        c.file,
        `${label} has an RSA-${k.bits} key; verifying it may exhaust the module's memory (profile ${constraints.name}: ${constraints.maxRsaBits} bits)`,
        'prefer RSA-2048 or EC P-256 certificates',
      );
    }
    if (!r.selfSigned) checkChain(c, roots, [...seen.values()], add);
    if (host && (r.role === 'server' || (r.role === 'leaf' && r.subjectAltNames.length > 0))) {
      const ok = /^[\d.]+$|:/.test(host) ? c.cert.checkIP(host) : c.cert.checkHost(host);
      if (ok) add('info', 'HOST_OK', c.file, `${label} is valid for ${host}`, 'nothing to do');
      else
        add(
          'error',
          'HOST_MISMATCH',
          c.file,
          `${label} is for ${r.subjectAltNames.join(', ') || `CN ${label}`}, not ${host}`,
          `configure the session with a name the certificate carries, or issue it with SAN DNS:${host}`,
        );
    }
  }
  if (host && /\.amazonaws\.com$/i.test(host) && roots.length) {
    const good = roots.some(
      (r) => r.report.publicRoot === 'Amazon Root CA 1' || r.report.publicRoot === 'Amazon Root CA 3',
    );
    if (!good) {
      add(
        'error',
        'WRONG_ROOT',
        roots[0]!.file,
        `${host} is an AWS IoT endpoint, whose server chain ends at Amazon Root CA 1 (RSA) or 3 (ECDSA); the root given is ${roots.map((r) => cn(r.cert.subject)).join(', ')}`,
        'store Amazon Root CA 1 (https://www.amazontrust.com/repository/AmazonRootCA1.pem) with AT+KCERTSTORE=0',
      );
    }
  }
  if (clock && certs.length === 0) {
    add(
      'info',
      'DEVICE_CLOCK',
      undefined,
      'no certificate given to check against the module clock',
      'pass the certificate files too',
    );
  }

  if (at) checkAtFile(at, loaded, constraints, add);

  const unusable = files.some((f) => !f.usable);
  const order: Record<Severity, number> = { error: 0, warning: 1, info: 2 };
  findings.sort((a, b) => order[a.severity] - order[b.severity]);
  return {
    files,
    findings,
    exitCode: unusable ? 2 : findings.some((f) => f.severity === 'error') ? 1 : 0,
    profile: constraints.name,
    host,
    hostSource,
    clock: clock?.toISOString(),
  };
}

type Add = (severity: Severity, code: string, file: string | undefined, message: string, fix: string) => void;

function checkKeyForProfile(
  encoding: FoundKeyEncoding,
  publicKey: KeyObject,
  file: string,
  c: DeviceConstraints,
  add: Add,
): void {
  const k = describeKeyObject(publicKey);
  if (encoding.endsWith('-encrypted')) {
    add(
      'error',
      'KEY_ENCRYPTED',
      file,
      'the key is encrypted; the AT interface has no passphrase parameter, so the module cannot use it',
      `openssl pkey -in ${file} -traditional -out device.key (asks for the passphrase, writes it unencrypted; keep that file private)`,
    );
  } else if (!c.keyEncodings.includes(encoding as never)) {
    const want = c.keyEncodings.filter((e) => !e.endsWith('encrypted'));
    const traditional = k.type === 'RSA' ? 'PKCS#1 (BEGIN RSA PRIVATE KEY)' : 'SEC1 (BEGIN EC PRIVATE KEY)';
    add(
      'error',
      'KEY_FORMAT',
      file,
      `the key is ${encoding.toUpperCase().replace('PKCS', 'PKCS#')}; firmware profile ${c.name} takes ${want.join(', ')} (${c.sources.keyEncodings ?? 'profile'})`,
      want.includes('pkcs1') || want.includes('sec1')
        ? `convert to ${traditional}: openssl pkey -in ${file} -traditional -out device.key`
        : `convert to PKCS#8: openssl pkcs8 -topk8 -nocrypt -in ${file} -out device.key`,
    );
  }
  if (!encoding.endsWith('-encrypted') && encoding !== 'pkcs1' && c.keyEncodings.includes(encoding as never)) {
    add(
      'info',
      'KEY_FORMAT_UNVERIFIED',
      file,
      `the key is ${encoding.toUpperCase().replace('PKCS', 'PKCS#')}; profile ${c.name} takes it (${c.sources.keyEncodings ?? 'profile'}), but only PKCS#1 uploads are seen in vendor tests [BX-T]`,
      `if the upload or the handshake fails, convert it: openssl pkey -in ${file} -traditional -out device.key`,
    );
  }
  if (k.type === 'RSA' && (k.bits ?? 0) > c.maxRsaBits) {
    add(
      'error',
      'KEY_TOO_LARGE',
      file,
      `RSA-${k.bits} key; firmware profile ${c.name} handles at most RSA-${c.maxRsaBits} (${c.sources.maxRsaBits ?? 'profile'})`,
      'create the device certificate with an RSA-2048 or EC P-256 key',
    );
  }
  if (k.type === 'EC' && !c.ecCurves.includes(k.curve as never)) {
    add(
      'error',
      'KEY_TYPE',
      file,
      `EC ${k.curve} key; firmware profile ${c.name} supports ${c.ecCurves.length ? c.ecCurves.join(', ') : 'no EC keys'} (${c.sources.ecCurves ?? 'profile'})`,
      'use an RSA-2048 key, or a curve the profile lists',
    );
  }
  if (k.type !== 'RSA' && k.type !== 'EC') {
    add(
      'error',
      'KEY_TYPE',
      file,
      `${k.type} key; the module supports RSA and EC keys only [guess]`,
      'use an RSA-2048 or EC P-256 key',
    );
  }
}

function checkChain(c: CertEntry, roots: CertEntry[], all: CertEntry[], add: Add): void {
  const label = cn(c.cert.subject);
  const path: CertEntry[] = [];
  let cur = c;
  for (let depth = 0; depth < 8; depth++) {
    const parent = all.find((p) => p !== cur && issuedBy(cur.cert, p.cert));
    if (!parent) break;
    path.push(parent);
    if (parent.report.selfSigned) {
      add(
        'info',
        'CHAIN_OK',
        c.file,
        `${label} chains to ${cn(parent.cert.subject)}${
          path.length > 1
            ? ` via ${path
                .slice(0, -1)
                .map((p) => cn(p.cert.subject))
                .join(', ')}`
            : ''
        } (${parent.file})`,
        'nothing to do',
      );
      return;
    }
    cur = parent;
  }
  const missing = cur.cert;
  const sameName = all.find((p) => p !== cur && dn(p.cert.subject) === dn(missing.issuer));
  if (sameName) {
    add(
      'error',
      'CHAIN_UNTRUSTED',
      c.file,
      `${label}: ${sameName.file} has the issuer's name (${cn(sameName.cert.subject)}) but its key did not sign ${cn(missing.subject)}: a different CA with the same name`,
      'get the CA certificate that really issued it (compare the Authority Key Identifier: openssl x509 -noout -ext authorityKeyIdentifier)',
    );
    return;
  }
  const publicIssuer = findPublicIssuer(missing);
  const role = c.report.role;
  if (role === 'client') {
    if (AWS_DEVICE_CA.test(dn(missing.issuer))) {
      add(
        'info',
        'AWS_DEVICE_CERT',
        c.file,
        `${label} is issued by AWS IoT's device CA (${dn(missing.issuer)}), which is not a root you store: AWS checks it against the certificates registered in your account. The root CA file is for checking the server`,
        'nothing to do for the chain; make sure the certificate is ACTIVE and has a policy attached in AWS IoT',
      );
    } else {
      add(
        'warning',
        'CLIENT_CA_NOT_GIVEN',
        c.file,
        `${label} is issued by ${dn(missing.issuer)}, which is not among the files; the broker, not the module, must trust that CA`,
        'register that CA with the broker (AWS: register the CA or the certificate); pass its certificate to doctor to check the chain',
      );
    }
    return;
  }
  if (publicIssuer) {
    add(
      roots.length ? 'error' : 'info',
      roots.length ? 'CHAIN_UNTRUSTED' : 'CHAIN_PUBLIC',
      c.file,
      `${label} chains to ${publicIssuer.name}${roots.length ? `, but the root(s) given are ${roots.map((r) => cn(r.cert.subject)).join(', ')}` : ' (not among the files)'}`,
      `store ${publicIssuer.name} in the module (AT+KCERTSTORE=0)`,
    );
    return;
  }
  if (roots.length === 0) {
    add(
      'info',
      'CHAIN_NOT_CHECKED',
      c.file,
      `no root certificate given to check ${label} against (issuer ${dn(missing.issuer)})`,
      'pass the root CA file the module stores to check the chain',
    );
    return;
  }
  add(
    role === 'intermediate' ? 'warning' : 'error',
    'CHAIN_UNTRUSTED',
    c.file,
    `${label} does not chain to the root(s) given (${roots.map((r) => cn(r.cert.subject)).join(', ')}); its issuer ${dn(missing.issuer)} is missing`,
    `store the root that issued "${cn(missing.issuer)}" in the module, or have the server send its intermediate certificate`,
  );
}

// ---- AT file checks

interface ParamRule {
  min: number;
  max: number;
}
/** Parameter counts per command on the BX ([BX-T]: 917 missing, 915 one too many). */
const PARAMS: Record<string, ParamRule> = {
  '+KCERTSTORE': { min: 1, max: 3 },
  '+KPRIVKSTORE': { min: 2, max: 2 },
  '+KCERTDELETE': { min: 1, max: 2 },
  '+KPRIVKDELETE': { min: 1, max: 1 },
  '+KMQTTCFG': { min: 5, max: 14 },
  '+KMQTTCNX': { min: 1, max: 1 },
  '+KMQTTCLOSE': { min: 1, max: 1 },
  '+KMQTTDEL': { min: 1, max: 1 },
  '+KMQTTPUB': { min: 5, max: 5 },
  '+KMQTTSUB': { min: 3, max: 3 },
  '+KMQTTUNSUB': { min: 2, max: 2 },
};

/** Commands whose parameters carry a password ([BX-T]: Wi-Fi station settings, MQTT session). */
const PASSWORD_COMMANDS = new Set(['+SRWSTACFG', '+KMQTTCFG']);

/**
 * The command as a fix line shows it: a set form with its passwords masked; another form of a
 * password-carrying command without its arguments (they cannot be told apart reliably); and
 * everything through the AT password redaction as well (harness/secrets.ts).
 */
function fixLine(line: AtLine, params: string[], fixed: string): string {
  if (line.form === 'set') return redactAtPasswords(redactLine(line, params), '***');
  if (PASSWORD_COMMANDS.has(line.name)) return `AT${line.name}... (the rest is not shown: it may hold a password)`;
  return redactAtPasswords(fixed, '***');
}

/** A fix line that quotes the command: its user name and password (MQTT) or Wi-Fi password masked. */
function redactLine(line: AtLine, params: string[]): string {
  const secret = (i: number): boolean =>
    (line.name === '+KMQTTCFG' && params.length >= 13 && i >= 12) || (line.name === '+SRWSTACFG' && i === 1);
  const masked = params.map((p, i) => (secret(i) && p ? (p.startsWith('"') ? '"***"' : '***') : p));
  return `AT${line.name}=${masked.join(',')}`;
}

function checkAtFile(
  at: { name: string; lines: AtLine[] },
  loaded: LoadedFile[],
  c: DeviceConstraints,
  add: Add,
): void {
  for (const line of at.lines) {
    const where = `${at.name}:${line.line}`;
    const cmd = `AT${line.name}`;
    if (TYPOGRAPHIC_QUOTES.test(line.text)) {
      TYPOGRAPHIC_QUOTES.lastIndex = 0;
      const fixed = line.text
        .replace(/[\u201C\u201D\u201E\u201F\u2033\u00AB\u00BB]/g, '"')
        .replace(/[\u2018\u2019\u201A\u201B\u2032]/g, "'");
      const params = splitAtArgs(fixed.slice(fixed.indexOf('=') + 1)).params;
      add(
        'error',
        'TYPOGRAPHIC_QUOTES',
        where,
        `${cmd} uses typographic quotes (“ ” or ‘ ’, as web pages and word processors render them); the module reads them as part of the value, not as string delimiters`,
        `retype the quotes as plain ASCII ": ${fixLine(line, params, fixed)}`,
      );
    }
    TYPOGRAPHIC_QUOTES.lastIndex = 0;
    const rule = PARAMS[line.name];
    if (!rule) continue;
    if (line.form === 'action') {
      add(
        'error',
        'AT_MISSING_PARAM',
        where,
        `${cmd} without parameters answers ERROR on the BX [BX-T]`,
        `give the parameters: ${cmd}=...`,
      );
      continue;
    }
    if (line.form !== 'set') continue;
    const { params, unbalancedQuotes } = splitAtArgs(line.args);
    if (unbalancedQuotes) {
      add(
        'error',
        'AT_QUOTES',
        where,
        `${cmd} has an unbalanced " quote; the BX answers plain ERROR [BX-T]`,
        'close every quoted string, and do not put " inside a value',
      );
      continue;
    }
    if (line.args.trim() === '' || params.length < rule.min) {
      add(
        'error',
        'AT_MISSING_PARAM',
        where,
        `${cmd} has ${line.args.trim() === '' ? 0 : params.length} parameter(s), needs at least ${rule.min}: the module answers +CME ERROR: 917 [BX-T]`,
        `complete the command (docs/reference/bx310x-at.md lists the parameters of ${cmd})`,
      );
      continue;
    }
    if (params.length > rule.max) {
      add(
        'error',
        'AT_EXTRA_PARAM',
        where,
        `${cmd} has ${params.length} parameters, at most ${rule.max} are accepted: the module answers +CME ERROR: 915 [BX-T]`,
        'remove the extra parameters (a trailing comma counts as one)',
      );
      continue;
    }
    const int = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);
    switch (line.name) {
      case '+KCERTSTORE':
      case '+KPRIVKSTORE': {
        const isKey = line.name === '+KPRIVKSTORE';
        const type = isKey ? undefined : int(params[0]);
        if (!isKey && type !== 0 && type !== 1) {
          add(
            'error',
            'AT_RANGE',
            where,
            `${cmd}: data type must be 0 (root) or 1 (local certificate), got ${params[0]}: +CME ERROR: 916 [BX-T]`,
            `${cmd}=0,<len> for the root CA, ${cmd}=1,<len>,0 for the device certificate`,
          );
          break;
        }
        if (type === 1 && params.length < 3) {
          add(
            'error',
            'AT_MISSING_PARAM',
            where,
            `${cmd}=1 needs the slot index (third parameter): +CME ERROR: 917 [BX-T]`,
            `${cmd}=1,<len>,0`,
          );
          break;
        }
        const lenText = isKey ? params[1] : params[1];
        const len = int(lenText);
        if (lenText !== undefined && lenText !== '' && len === undefined) {
          add(
            'error',
            'AT_RANGE',
            where,
            `${cmd}: the byte count "${lenText}" is not a number: +CME ERROR: 916 [BX-T]`,
            'give the exact number of bytes that follow CONNECT',
          );
          break;
        }
        if (len !== undefined && len > c.slotMaxBytes) {
          add(
            'error',
            'SLOT_TOO_LARGE',
            where,
            `${cmd} declares ${len} bytes; one upload takes at most ${c.slotMaxBytes}: +CME ERROR: 916 [BX-T]`,
            'store only one certificate (or a smaller key) per slot',
          );
        } else if (len === 0) {
          add(
            'error',
            'AT_RANGE',
            where,
            `${cmd} declares 0 bytes (the range is 1..${c.slotMaxBytes}): +CME ERROR: 916 [BX-T]`,
            'give the exact number of bytes that follow CONNECT',
          );
        }
        const index = int(isKey ? params[0] : params[2]);
        if ((isKey || type === 1) && (index === undefined || index > 2)) {
          add(
            'error',
            'AT_RANGE',
            where,
            `${cmd}: slot index must be 0..2, got ${isKey ? params[0] : params[2]}: +CME ERROR: 916 [BX-T]`,
            'use slot 0',
          );
        }
        checkByteCount(line, len, isKey ? 'key' : type === 0 ? 'root' : 'client', where, loaded, c, add);
        break;
      }
      case '+KMQTTCFG': {
        const secure = int(params[0]);
        const port = int(params[2]);
        const version = int(params[3]);
        if (secure !== 0 && secure !== 1)
          add(
            'error',
            'AT_RANGE',
            where,
            `${cmd}: the first parameter (secure) must be 0 or 1, got ${params[0]}: +CME ERROR: 916 [BX-T]`,
            'use 1 for TLS',
          );
        else if (secure === 0)
          add(
            'warning',
            'AT_TLS_OFF',
            where,
            `${cmd}: the first parameter is 0, so the session is plain TCP and the certificates are not used`,
            'set the first parameter to 1 for TLS',
          );
        if (port === undefined || port > 65535)
          add(
            'error',
            'AT_RANGE',
            where,
            `${cmd}: port must be 0..65535, got ${params[2]}: +CME ERROR: 916 [BX-T]`,
            'use 8883 for MQTT over TLS',
          );
        if (version !== 3 && version !== 4)
          add(
            'error',
            'AT_RANGE',
            where,
            `${cmd}: MQTT version must be 3 or 4, got ${params[3]}: +CME ERROR: 916 [BX-T]`,
            'use 4 (MQTT 3.1.1)',
          );
        if (params.length > 5 && params[params.length - 1] === '') {
          add(
            'info',
            'AT_TRAILING_COMMA',
            where,
            `${cmd} ends with an empty parameter (a trailing comma); firmware 2.6.3 accepted it [report], the defaults then apply`,
            'drop the trailing comma to be safe',
          );
        }
        break;
      }
    }
  }
}

function checkByteCount(
  line: AtLine,
  len: number | undefined,
  slot: 'root' | 'client' | 'key',
  where: string,
  loaded: LoadedFile[],
  c: DeviceConstraints,
  add: Add,
): void {
  const cmd = `AT${line.name}`;
  if (line.data !== undefined) {
    const actual = Buffer.byteLength(line.data, 'utf8');
    if (line.unterminated) {
      add(
        'error',
        'AT_NO_ESCAPE',
        where,
        `the data after ${cmd} never ends with +++; the module stays in data mode`,
        'send +++ (without CR) after a pause once the data is sent',
      );
    }
    if (len !== undefined && len !== actual) {
      add(
        'error',
        'AT_BYTE_COUNT',
        where,
        `${cmd} declares ${len} bytes but ${actual} bytes follow CONNECT`,
        `declare ${actual}: ${cmd.replace(/=.*/, '')}=${line.args.replace(String(len), String(actual))}`,
      );
    }
    const { lineEndings } = lineEndingsOf(line.data);
    if (lineEndings === 'crlf' && !c.lineEndings.includes('crlf')) {
      add(
        'error',
        'LINE_ENDINGS',
        where,
        `the data after ${cmd} has CR LF line endings; firmware profile ${c.name} takes LF (${c.sources.lineEndings ?? 'profile'})`,
        'send the PEM with LF line endings and count the bytes again',
      );
    }
    if (actual > c.slotMaxBytes && (len === undefined || len <= c.slotMaxBytes)) {
      add(
        'error',
        'SLOT_TOO_LARGE',
        where,
        `${actual} bytes follow ${cmd}; one upload takes at most ${c.slotMaxBytes}`,
        'store one certificate (or a smaller key) per slot',
      );
    }
    return;
  }
  if (len === undefined) return;
  // No inline data: compare with the file that goes into this slot, if exactly one fits.
  const candidates = loaded.filter((f) =>
    slot === 'key'
      ? f.keys.length > 0
      : slot === 'root'
        ? f.certs.some((x) => isSelfSigned(x.cert) || x.cert.ca)
        : f.certs.some((x) => !x.cert.ca),
  );
  if (candidates.length !== 1) return;
  const f = candidates[0]!;
  if (f.bytes !== len) {
    add(
      'error',
      'AT_BYTE_COUNT',
      where,
      `${cmd} declares ${len} bytes but ${f.file} is ${f.bytes} bytes (${f.lineEndings === 'crlf' ? 'CR LF' : 'LF'} line endings${f.finalNewline ? '' : ', no final newline'})`,
      `declare exactly the bytes you send: ${f.bytes} for ${f.file} as it is`,
    );
  }
}
