/**
 * The shapes doctor reports (its public API, re-exported by harness/pki) and the context every
 * check reads: what was loaded and how it was described.
 */
import type { X509Certificate } from 'node:crypto';
import type { DeviceConstraints } from '../constraints.ts';
import type { InputProblem } from '../errors.ts';
import type { DoctorInput, FoundKeyEncoding, LoadedFile, LoadedKey } from '../inspect.ts';
import type { AtLine } from '../upload.ts';
import type { FindingCode } from './catalogue.ts';

/** How serious a doctor finding is: an `error` fails `bx-hil doctor`. */
export type Severity = 'error' | 'warning' | 'info';

/** One thing doctor found about a certificate, key or pair: code, severity, message, fix. */
export interface Finding {
  severity: Severity;
  /** Stable code, e.g. KEY_CERT_MISMATCH (see docs/pki.md and catalogue.ts). */
  code: FindingCode;
  /** The file (and line, for AT files) the finding is about. */
  file?: string;
  /** One line of plain explanation. */
  message: string;
  /** What to do about it. */
  fix: string;
}

/** What doctor read of one certificate: subject, issuer, validity, key, its findings. */
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

/** What doctor read of one private key: type, size, encoding, its findings (never the key). */
export interface KeyReport {
  index: number;
  encoding: FoundKeyEncoding | 'der';
  key: string;
  /** SHA-256 of the public key (SPKI DER): the key itself is never printed. */
  publicKeySha256: string;
  /** `file#index` of the certificate this key belongs to. */
  matches?: string;
}

/** What doctor read of one file: its certificates and keys and the file's own findings. */
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

/** Options of `runDoctor`: the host name the module dials, the firmware profile, an AT file, the module's clock and the time to judge validity at. */
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

/** What `runDoctor` returns: a report per file and every finding. */
export interface DoctorResult {
  files: FileReport[];
  findings: Finding[];
  exitCode: 0 | 1 | 2;
  profile: string;
  host?: string;
  hostSource?: 'option' | 'at-file';
  clock?: string;
}

/** A parsed AT file. */
export interface AtFile {
  name: string;
  lines: AtLine[];
  text: string;
}

/** Data inline in the AT file that cannot be read as a certificate or key. */
export interface UnreadableAtData {
  /** `file:line` of the command. */
  where: string;
  /** `AT+KCERTSTORE`, `AT+KPRIVKSTORE`. */
  command: string;
  /** Why it cannot be read (the loader's message without the file name). */
  reason: string;
}

/** One certificate as loaded and described. */
export interface CertEntry {
  file: string;
  cert: X509Certificate;
  report: CertReport;
  /** Where the private key of this certificate was given (`file` or `file (key n)`). */
  keyMatched?: string;
}

/** One private key as loaded and described, with the certificate it belongs to. */
export interface KeyEntry {
  file: LoadedFile;
  key: LoadedKey;
  report: KeyReport;
  match?: CertEntry;
}

/** Everything a check reads. Checks never change it. */
export interface DoctorContext {
  constraints: DeviceConstraints;
  now: Date;
  /** The module's clock, when given. */
  clock?: Date;
  host?: string;
  /** Usable certificate and key files, then the readable data inline in the AT file. */
  loaded: LoadedFile[];
  /** Every certificate, in file order (duplicates included). */
  certs: CertEntry[];
  /** The first of each certificate (by SHA-256), in file order. */
  unique: CertEntry[];
  /** The self-signed ones of `unique`. */
  roots: CertEntry[];
  /** Every private key, in file order. */
  keys: KeyEntry[];
  at?: AtFile;
  unreadableAtData: UnreadableAtData[];
}

/** A family of checks: what it finds in the context, in the order it is listed. */
export type Check = (ctx: DoctorContext) => Finding[];

/** A check of one certificate (run for each of `ctx.unique`). */
export type CertificateCheck = (ctx: DoctorContext, c: CertEntry) => Finding[];
