/**
 * The catalogue of findings: every code states a severity, a one-line message and a fix for each
 * of its cases; every code a check names is in it and every code in it is named by a check; and
 * docs/pki.md lists every code with the severities it can have.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { CATALOGUE, finding, type FindingCode, type FindingValues } from './catalogue.ts';
import type { Severity } from './types.ts';

const CODES = Object.keys(CATALOGUE).sort() as FindingCode[];
const d = new Date('2030-01-02T03:04:05Z');
const cmd = { command: 'AT+KCERTSTORE' };
const limit = { profile: '2.6.3', source: '[BX-T]' };

/** Values for every case of every code (the compiler requires an entry per code). */
const SAMPLES: { [C in FindingCode]: Array<FindingValues[C]> } = {
  AT_DATA_INVALID: [{ ...cmd, reason: 'broken base64' }],
  CA_KEY: [{ ca: 'Root', certFile: 'ca.crt' }],
  KEY_CERT_MATCH: [{ subject: 'dev', certFile: 'dev.crt' }],
  KEY_CERT_MISMATCH: [{ key: 'RSA-2048', publicKeySha256: 'AB:CD:EF:01:23:45:67:89:AB', leaves: ['dev', 'srv'] }],
  KEY_NO_CERT: [{ key: 'EC P-256' }],
  KEY_ENCRYPTED: [{ file: 'k.pem' }],
  KEY_FORMAT: [
    { ...limit, file: 'k.pem', encoding: 'pkcs8', keyType: 'RSA', accepted: ['pkcs1', 'sec1'] },
    { ...limit, file: 'k.pem', encoding: 'pkcs1', keyType: 'RSA', accepted: ['pkcs8'] },
  ],
  KEY_FORMAT_UNVERIFIED: [{ ...limit, file: 'k.pem', encoding: 'pkcs8' }],
  KEY_TOO_LARGE: [
    { ...limit, kind: 'key', bits: 4096, max: 2048 },
    { kind: 'certificate', label: 'srv', bits: 4096, profile: '2.6.3', max: 2048 },
  ],
  KEY_TYPE: [
    { ...limit, kind: 'curve', curve: 'P-521', curves: ['P-256'] },
    { kind: 'type', type: 'ED25519' },
  ],
  PEM_JSON_ESCAPED: [{}],
  PEM_REQUIRED: [
    { file: 'c.der', isKey: false },
    { file: 'k.der', isKey: true },
  ],
  LINE_ENDINGS: [
    { kind: 'mixed', file: 'c.pem' },
    { ...limit, kind: 'crlf', file: 'c.pem', accepted: ['lf'] },
    { ...limit, kind: 'lf', file: 'c.pem' },
    { ...limit, ...cmd, kind: 'at-data' },
  ],
  SLOT_TOO_LARGE: [
    { kind: 'file', bytes: 4000, max: 3000, source: '[BX-T]', certificates: 3 },
    { ...cmd, kind: 'declared', bytes: 4000, max: 3000 },
    { ...cmd, kind: 'inline', bytes: 4000, max: 3000 },
  ],
  CHAIN_IN_FILE: [
    { certificates: 3, firstIsCa: true },
    { certificates: 2, firstIsCa: false },
  ],
  PUBLIC_ROOT: [{ name: 'Amazon Root CA 1', note: 'RSA-2048', sha256: '8E:CD:E6:88:4F:3D:87:B1:12:5B:A3:1A' }],
  NOT_YET_VALID: [{ label: 'srv', notBefore: d, now: d }],
  EXPIRED: [{ label: 'srv', notAfter: d }],
  EXPIRES_SOON: [{ label: 'srv', notAfter: d }],
  DEVICE_CLOCK: [
    { kind: 'outside', label: 'srv', clock: new Date(0), notBefore: d, notAfter: d },
    { kind: 'no-certificates' },
  ],
  WEAK_SIGNATURE: [{ label: 'srv', algorithm: 'sha1WithRSAEncryption' }],
  WEAK_KEY: [{ label: 'srv', bits: 1024 }],
  HOST_OK: [{ label: 'srv', host: 'localhost' }],
  HOST_MISMATCH: [
    { label: 'srv', host: 'localhost', names: ['DNS:other'] },
    { label: 'srv', host: 'localhost', names: [] },
  ],
  WRONG_ROOT: [{ host: 'x.amazonaws.com', roots: ['Root'] }],
  CHAIN_OK: [{ label: 'srv', root: 'Root', rootFile: 'root.crt', via: ['Intermediate'] }],
  CHAIN_UNTRUSTED: [
    { kind: 'same-name', label: 'srv', file: 'fake.crt', name: 'Root', signed: 'Intermediate' },
    { kind: 'public', label: 'srv', publicRoot: 'Amazon Root CA 1', roots: ['Root'] },
    {
      kind: 'issuer-missing',
      label: 'srv',
      roots: ['Root'],
      issuer: 'CN=Other',
      issuerCn: 'Other',
      intermediate: false,
    },
    {
      kind: 'issuer-missing',
      label: 'ica',
      roots: ['Root'],
      issuer: 'CN=Other',
      issuerCn: 'Other',
      intermediate: true,
    },
  ],
  CHAIN_PUBLIC: [{ label: 'srv', publicRoot: 'Amazon Root CA 1' }],
  AWS_DEVICE_CERT: [{ label: 'dev', issuer: 'OU=Amazon Web Services' }],
  CLIENT_CA_NOT_GIVEN: [{ label: 'dev', issuer: 'CN=Device CA' }],
  CHAIN_NOT_CHECKED: [{ label: 'srv', issuer: 'CN=Root' }],
  TYPOGRAPHIC_QUOTES: [{ command: 'AT+KMQTTCFG', fixed: 'AT+KMQTTCFG=1,"h",8883,4,"id"' }],
  AT_MISSING_PARAM: [
    { ...cmd, kind: 'no-parameters' },
    { ...cmd, kind: 'too-few', count: 0, min: 1 },
    { ...cmd, kind: 'slot-index' },
  ],
  AT_QUOTES: [cmd],
  AT_EXTRA_PARAM: [{ ...cmd, count: 4, max: 3 }],
  AT_RANGE: [
    ...(['data-type', 'byte-count', 'slot-index', 'secure', 'port', 'version'] as const).map((kind) => ({
      ...cmd,
      kind,
      got: '9',
    })),
    { ...cmd, kind: 'zero-bytes', max: 3000 },
  ],
  AT_TLS_OFF: [{ command: 'AT+KMQTTCFG' }],
  AT_TRAILING_COMMA: [{ command: 'AT+KMQTTCFG' }],
  AT_NO_ESCAPE: [cmd],
  AT_BYTE_COUNT: [
    { ...cmd, kind: 'inline', declared: 10, actual: 12, corrected: 'AT+KCERTSTORE=0,12' },
    { ...cmd, kind: 'file', declared: 10, file: 'c.pem', bytes: 12, lineEndings: 'crlf', finalNewline: false },
  ],
};

const SEVERITIES: readonly Severity[] = ['error', 'warning', 'info'];

/** The severities a code can have, from its samples. */
function severitiesOf(code: FindingCode): Set<Severity> {
  return new Set((SAMPLES[code] as Array<FindingValues[typeof code]>).map((v) => finding(code, 'f', v).severity));
}

describe('the catalogue of findings', () => {
  test.each(CODES)('%s states a severity, a one-line message and a fix for each of its cases', (code) => {
    const samples = SAMPLES[code] as Array<FindingValues[typeof code]>;
    expect(samples.length).toBeGreaterThan(0);
    const stated = samples.map((v) => finding(code, 'f.pem', v));
    for (const f of stated) {
      expect(f.code).toBe(code);
      expect(f.file).toBe('f.pem');
      expect(SEVERITIES).toContain(f.severity);
      for (const text of [f.message, f.fix]) {
        expect(text.trim().length).toBeGreaterThan(5);
        expect(text).not.toMatch(/[\r\n]/);
      }
    }
    // Each case says something of its own.
    expect(new Set(stated.map((f) => `${f.severity} ${f.message} ${f.fix}`)).size).toBe(stated.length);
  });

  test('every code a check names is in the catalogue, and every code in it is named by a check', () => {
    const dir = import.meta.dirname;
    const sources = [
      ...readdirSync(dir).map((f) => join(dir, f)),
      ...readdirSync(join(dir, 'checks')).map((f) => join(dir, 'checks', f)),
    ].filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    const named = new Set<string>();
    for (const file of sources)
      for (const m of readFileSync(file, 'utf8').matchAll(/\bfinding\(\s*'([A-Z_]+)'/g)) named.add(m[1]!);
    expect([...named].sort()).toEqual(CODES);
  });

  test('docs/pki.md lists every code with each severity it can have', () => {
    const docs = readFileSync(join(import.meta.dirname, '../../../docs/pki.md'), 'utf8');
    const rows = new Map<string, string>();
    for (const line of docs.split('\n')) {
      const cells = line.split('|').map((c) => c.trim());
      if (cells.length < 4) continue;
      for (const m of cells[1]!.matchAll(/`([A-Z_]+)`/g)) rows.set(m[1]!, cells[2]!);
    }
    expect([...rows.keys()].sort()).toEqual(CODES);
    for (const code of CODES)
      for (const severity of severitiesOf(code)) expect(`${code}: ${rows.get(code)}`).toContain(severity);
  });
});
