/**
 * Describing: a report for each usable file (what each certificate and key is), and which
 * certificate each key belongs to. Key material is never described beyond type, size and the
 * SHA-256 of the public key.
 */
import 'reflect-metadata'; // @peculiar/x509 v2 needs it before import (docs/reference/dependencies.md P5)
import * as px from '@peculiar/x509';
import type { X509Certificate } from 'node:crypto';
import { describeKeyObject, publicKeyFingerprint, type LoadedFile } from '../inspect.ts';
import { findPublicRoot } from '../public-roots.ts';
import type { CertEntry, CertReport, FileReport, KeyEntry } from './types.ts';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

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

/** A distinguished name on one line (Node gives one attribute per line). */
export function dn(s: string): string {
  return s.split('\n').join(', ');
}

/** The common name of a distinguished name, or the whole name when it has none. */
export function cn(s: string): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(s)?.[1] ?? dn(s);
}

function sans(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter(Boolean)
    .map((s) => s.replace(/^IP Address:/, 'IP:'));
}

export function isSelfSigned(cert: X509Certificate): boolean {
  return issuedBy(cert, cert);
}

export function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

function describeCertificate(index: number, cert: X509Certificate): CertReport {
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
  return {
    index,
    subject: dn(cert.subject),
    issuer: dn(cert.issuer),
    serial: cert.serialNumber,
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    key: describeKeyObject(cert.publicKey).text,
    signatureAlgorithm: sigAlgName(cert.raw),
    subjectAltNames: sans(cert),
    sha256: cert.fingerprint256,
    isCa: cert.ca,
    selfSigned,
    publicRoot: findPublicRoot(cert)?.name,
    role,
  };
}

function kindOf(f: LoadedFile): FileReport['kind'] {
  if (f.certs.length && f.keys.length) return 'certificates-and-keys';
  if (f.keys.length) return 'private-key';
  return f.certs.length ? 'certificates' : 'crl';
}

export interface Described {
  /** The report of each file of `loaded`, in the same order. */
  reports: FileReport[];
  certs: CertEntry[];
  unique: CertEntry[];
  keys: KeyEntry[];
}

/**
 * Describe every certificate and key, and pair each key with the first certificate of the same
 * public key: that certificate is the module's own (a `leaf` becomes a `client`).
 */
export function describe(loaded: LoadedFile[]): Described {
  const certs: CertEntry[] = [];
  const unique = new Map<string, CertEntry>();
  const reports: FileReport[] = [];
  for (const f of loaded) {
    const report: FileReport = {
      file: f.file,
      usable: true,
      kind: kindOf(f),
      bytes: f.bytes,
      format: f.format,
      lineEndings: f.lineEndings,
      finalNewline: f.finalNewline,
      certificates: [],
      keys: [],
    };
    for (const { index, cert } of f.certs) {
      const entry: CertEntry = { file: f.file, cert, report: describeCertificate(index, cert) };
      report.certificates.push(entry.report);
      certs.push(entry);
      if (!unique.has(cert.fingerprint256)) unique.set(cert.fingerprint256, entry);
    }
    for (const k of f.keys) {
      report.keys.push({
        index: k.index,
        encoding: f.format === 'der' ? 'der' : k.encoding,
        key: describeKeyObject(k.publicKey).text,
        publicKeySha256: publicKeyFingerprint(k.publicKey),
      });
    }
    reports.push(report);
  }

  const keys: KeyEntry[] = [];
  for (const f of loaded) {
    // The first report of that name: a file given twice is described twice, paired once.
    const report = reports.find((r) => r.file === f.file)!;
    for (const key of f.keys) {
      const kr = report.keys.find((r) => r.index === key.index)!;
      const spki = key.publicKey.export({ type: 'spki', format: 'der' });
      const match = certs.find((c) => c.cert.publicKey.export({ type: 'spki', format: 'der' }).equals(spki));
      if (match) {
        kr.matches = `${match.file}#${match.report.index}`;
        match.keyMatched = `${f.file}${f.keys.length > 1 ? ` (key ${key.index})` : ''}`;
        if (match.report.role === 'leaf') match.report.role = 'client';
      }
      keys.push({ file: f, key, report: kr, match });
    }
  }
  return { reports, certs, unique: [...unique.values()], keys };
}
