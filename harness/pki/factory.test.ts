/**
 * The factory's key kinds, encodings, signature hashes, clock-relative validity, CRLs and PEM
 * layouts, each read back by the openssl CLI (skipped with the reason when openssl is absent).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hasTool, runTool } from '../processes.ts';
import { KeyPool, encodeKey, issueCertificate, issueCrl, keyPairFromPem, pemLayout, type KeySpec } from './factory.ts';

const TIMEOUT_MS = 15_000;
const opensslPresent = hasTool('openssl');

/** openssl's exit code and its stdout + stderr (the verify and pkey answers go to either). */
async function openssl(args: string[]): Promise<{ code: number; out: string }> {
  const r = await runTool('openssl', args, { cwd: dir, timeoutMs: TIMEOUT_MS });
  return { code: r.code, out: `${r.out}${r.err}` };
}

let dir: string;
const pool = new KeyPool();
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bx-hil-factory-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const SPECS: KeySpec[] = [
  { type: 'rsa', bits: 1024 },
  { type: 'rsa', bits: 3072 },
  { type: 'ec', curve: 'P-256' },
  { type: 'ec', curve: 'P-384' },
  { type: 'ec', curve: 'P-521' },
];

describe.skipIf(!opensslPresent)('factory output read by openssl (needs the openssl CLI)', () => {
  test.concurrent.each(SPECS.map((s) => [s.type === 'rsa' ? `RSA-${s.bits}` : `EC ${s.curve}`, s] as const))(
    '%s: certificate under an RSA CA, every key encoding',
    async (_name, spec) => {
      const ca = await issueCertificate({
        subject: 'CN=factory CA',
        key: await pool.get({ type: 'rsa', bits: 2048 }, 'ca'),
        isCa: true,
      });
      const key = await pool.get(spec, 'leaf');
      const leaf = await issueCertificate({
        subject: 'CN=leaf',
        key,
        issuer: ca,
        hash: 'SHA-384',
        altNames: ['leaf.example', '10.0.0.1'],
      });
      const tag = JSON.stringify(spec).replace(/\W/g, '');
      writeFileSync(join(dir, `${tag}-ca.pem`), ca.certPem);
      writeFileSync(join(dir, `${tag}-leaf.pem`), leaf.certPem);
      const text = await openssl(['x509', '-in', `${tag}-leaf.pem`, '-noout', '-text']);
      expect(text.out).toContain(spec.type === 'rsa' ? `Public-Key: (${spec.bits} bit)` : `NIST CURVE: ${spec.curve}`);
      expect(text.out).toMatch(/Signature Algorithm: sha384WithRSAEncryption/);
      expect(text.out).toMatch(/DNS:leaf\.example, IP Address:10\.0\.0\.1/);
      const verify = await openssl(['verify', '-CAfile', `${tag}-ca.pem`, `${tag}-leaf.pem`]);
      expect(verify.out).toMatch(/: OK/);
      const encodings = spec.type === 'rsa' ? (['pkcs1', 'pkcs8'] as const) : (['sec1', 'pkcs8'] as const);
      const labels = { pkcs1: 'RSA PRIVATE KEY', pkcs8: 'PRIVATE KEY', sec1: 'EC PRIVATE KEY' };
      const certPub = (await openssl(['x509', '-in', `${tag}-leaf.pem`, '-noout', '-pubkey'])).out;
      for (const enc of encodings) {
        const pem = encodeKey(key, enc);
        expect(pem.startsWith(`-----BEGIN ${labels[enc]}-----\n`)).toBe(true);
        writeFileSync(join(dir, `${tag}-${enc}.key`), pem);
        const pub = await openssl(['pkey', '-in', `${tag}-${enc}.key`, '-pubout']);
        expect(pub.out).toBe(certPub);
        expect(keyPairFromPem(pem).spec).toEqual(spec);
      }
      const enc = encodeKey(key, 'pkcs8-encrypted', 'secret-pass');
      writeFileSync(join(dir, `${tag}-enc.key`), enc);
      expect((await openssl(['pkey', '-in', `${tag}-enc.key`, '-noout', '-passin', 'pass:secret-pass'])).code).toBe(0);
      expect((await openssl(['pkey', '-in', `${tag}-enc.key`, '-noout', '-passin', 'pass:wrong'])).code).not.toBe(0);
    },
  );

  test('validity is relative to the given clock; SHA-1 signature', async () => {
    const key = await pool.get({ type: 'rsa', bits: 1024 }, 'leaf');
    const now = new Date('2031-06-01T12:00:00Z');
    const c1 = await issueCertificate({ subject: 'CN=old', key, now, hash: 'SHA-1' });
    writeFileSync(join(dir, 'clock.pem'), c1.certPem);
    const r = await openssl(['x509', '-in', 'clock.pem', '-noout', '-dates', '-text']);
    expect(r.out).toContain('notBefore=Jun  1 11:00:00 2031 GMT');
    expect(r.out).toContain('notAfter=Jul  1 12:00:00 2031 GMT');
    expect(r.out).toMatch(/Signature Algorithm: sha1WithRSAEncryption/);
  });

  test('a CRL lists the revoked serial and openssl reads it', async () => {
    const caKey = await pool.get({ type: 'ec', curve: 'P-256' }, 'leaf');
    const ca = await issueCertificate({ subject: 'CN=crl CA', key: caKey, isCa: true });
    const leaf = await issueCertificate({
      subject: 'CN=revoked',
      key: await pool.get({ type: 'rsa', bits: 1024 }, 'leaf'),
      issuer: ca,
    });
    const crl = await issueCrl({ issuer: ca, revoked: [leaf] });
    expect(crl.pem.startsWith('-----BEGIN X509 CRL-----\n')).toBe(true);
    writeFileSync(join(dir, 'ca.crl'), crl.pem);
    const r = await openssl(['crl', '-in', 'ca.crl', '-noout', '-text']);
    expect(r.code, r.out).toBe(0);
    expect(r.out.toUpperCase()).toContain(leaf.cert.serialNumber.toUpperCase());
  });
});

describe('PEM layouts', () => {
  const pem = '-----BEGIN CERTIFICATE-----\nAAAA\nBBBB\n-----END CERTIFICATE-----\n';
  test.each([
    ['lf', pem],
    ['crlf', pem.replace(/\n/g, '\r\n')],
    ['lf-no-final-newline', pem.slice(0, -1)],
    ['json-escaped', pem.replace(/\n/g, '\\n') + '\n'],
  ] as const)('%s', (layout, expected) => {
    expect(pemLayout(pem, layout)).toBe(expected);
    expect(pemLayout(pemLayout(pem, 'crlf'), layout)).toBe(expected);
  });
});
