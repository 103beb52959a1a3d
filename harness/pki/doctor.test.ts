/**
 * doctor on generated faulty files (from the scenario catalogue), on an AWS-style set (Amazon
 * Root CA 1, a device certificate from an AWS-like device CA, its PKCS#1 key and a KMQTTCFG line
 * with typographic quotes, docs/reference/field-report-2.6.3.md) and on unusable input.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BUILTIN_CONSTRAINTS, loadConstraints } from './constraints.ts';
import { runDoctor, type DoctorOptions, type DoctorResult } from './doctor.ts';
import { KeyPool, encodeKey, issueCertificate, type Issued } from './factory.ts';
import { AMAZON_ROOT_CA_1_PEM, PUBLIC_ROOTS } from './public-roots.ts';
import { buildScenario, type ScenarioMaterial } from './scenarios.ts';

const IDS = ['S1', 'S3', 'S4', 'S5', 'S9', 'S10', 'S14', 'S14b', 'S23', 'D1', 'D2', 'D3', 'D5', 'D6', 'D8', 'D10'];
let dir: string;
const sc = new Map<string, ScenarioMaterial>();
const at = (id: string, name: string) => join(dir, id, name);
let awsCa: Issued;
let awsDevice: Issued;
const AWS_HOST = 'a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com';

function codes(r: DoctorResult, severity?: string): string[] {
  return r.findings.filter((f) => !severity || f.severity === severity).map((f) => f.code);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bx-hil-doctor-'));
  const pool = new KeyPool();
  const all = await Promise.all(IDS.map((id) => buildScenario(id, { pool })));
  for (const m of all) {
    sc.set(m.id, m);
    mkdirSync(join(dir, m.id));
    for (const f of m.files) writeFileSync(at(m.id, f.name), f.contents);
  }
  // AWS-style set: the device CA looks like AWS's (docs/reference/aws-iot-and-mosquitto.md T16).
  const rsa = { type: 'rsa', bits: 2048 } as const;
  awsCa = await issueCertificate({
    subject: 'OU=Amazon Web Services,O=Amazon.com Inc.,L=Seattle,ST=Washington,C=US',
    key: await pool.get(rsa, 'root'),
    isCa: true,
    notAfter: new Date('2049-12-31T23:59:59Z'),
  });
  awsDevice = await issueCertificate({
    subject: 'CN=AWS IoT Certificate',
    key: await pool.get(rsa, 'client'),
    issuer: awsCa,
    notAfter: new Date('2049-12-31T23:59:59Z'),
    extendedKeyUsage: ['clientAuth'],
  });
  mkdirSync(join(dir, 'aws'));
  writeFileSync(at('aws', 'AmazonRootCA1.pem'), AMAZON_ROOT_CA_1_PEM);
  writeFileSync(at('aws', 'certificate.pem.crt'), awsDevice.certPem);
  writeFileSync(at('aws', 'private.pem.key'), encodeKey(awsDevice.key, 'pkcs1'));
  writeFileSync(
    at('aws', 'commands.at'),
    `AT+KMQTTCFG=1,\u201C${AWS_HOST}\u201D,8883,4,\u201CBX_one\u201D,\r\nAT+KMQTTCNX=1\r\n`,
  );
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('doctor: AWS-style set (docs/reference/field-report-2.6.3.md)', () => {
  test('names Amazon Root CA 1, pairs key and certificate, explains the AWS device CA and flags the typographic quotes', async () => {
    const r = await runDoctor(
      [at('aws', 'AmazonRootCA1.pem'), at('aws', 'certificate.pem.crt'), at('aws', 'private.pem.key')],
      { at: at('aws', 'commands.at') },
    );
    expect(r.host).toBe(AWS_HOST);
    expect(r.hostSource).toBe('at-file');
    expect(r.files[0]!.certificates[0]!.publicRoot).toBe('Amazon Root CA 1');
    expect(codes(r)).toEqual(
      expect.arrayContaining([
        'PUBLIC_ROOT',
        'KEY_CERT_MATCH',
        'AWS_DEVICE_CERT',
        'TYPOGRAPHIC_QUOTES',
        'AT_TRAILING_COMMA',
      ]),
    );
    expect(codes(r, 'error')).toEqual(['TYPOGRAPHIC_QUOTES']);
    expect(codes(r, 'warning')).toEqual([]);
    const quotes = r.findings.find((f) => f.code === 'TYPOGRAPHIC_QUOTES')!;
    expect(quotes.file).toBe(`${at('aws', 'commands.at')}:1`);
    expect(quotes.fix).toContain(`AT+KMQTTCFG=1,"${AWS_HOST}",8883,4,"BX_one",`);
    expect(r.files[2]!.keys[0]).toMatchObject({
      encoding: 'pkcs1',
      key: 'RSA 2048',
      matches: `${at('aws', 'certificate.pem.crt')}#1`,
    });
    expect(r.exitCode).toBe(1);
  });

  test('the same set with the quotes fixed is clean (exit 0)', async () => {
    writeFileSync(at('aws', 'fixed.at'), `AT+KMQTTCFG=1,"${AWS_HOST}",8883,4,"BX_one"\r\n`);
    const r = await runDoctor(
      [at('aws', 'AmazonRootCA1.pem'), at('aws', 'certificate.pem.crt'), at('aws', 'private.pem.key')],
      { at: at('aws', 'fixed.at') },
    );
    expect(codes(r, 'error')).toEqual([]);
    expect(r.exitCode).toBe(0);
  });

  test('a root that is not Amazon Root CA 1/3 for an AWS endpoint is the wrong root', async () => {
    const r = await runDoctor([at('S1', 'root-ca.crt'), at('aws', 'certificate.pem.crt')], { host: AWS_HOST });
    expect(codes(r, 'error')).toContain('WRONG_ROOT');
  });

  test('a module clock at 1970 makes every certificate not yet valid for the module', async () => {
    const r = await runDoctor([at('aws', 'AmazonRootCA1.pem'), at('aws', 'certificate.pem.crt')], {
      clock: new Date(0),
    });
    expect(r.findings.filter((f) => f.code === 'DEVICE_CLOCK')).toHaveLength(2);
    expect(r.clock).toBe('1970-01-01T00:00:00.000Z');
  });
});

describe('doctor: generated faulty files', () => {
  test('S1 (nothing wrong) with its upload.at: no error or warning, exit 0', async () => {
    const r = await runDoctor(
      ['device-root.crt', 'device.crt', 'device.key', 'server.crt'].map((f) => at('S1', f)),
      { at: at('S1', 'upload.at'), host: 'localhost' },
    );
    expect(r.findings.filter((f) => f.severity !== 'info')).toEqual([]);
    expect(codes(r)).toEqual(expect.arrayContaining(['KEY_CERT_MATCH', 'CHAIN_OK', 'HOST_OK']));
    expect(r.exitCode).toBe(0);
  });

  test.each([
    ['S23', ['device.crt', 'device.key'], {}, 'KEY_CERT_MISMATCH'],
    ['S5', ['root-ca.crt', 'server.crt'], { host: 'localhost' }, 'HOST_MISMATCH'],
    ['S3', ['server.crt'], {}, 'EXPIRED'],
    ['S4', ['server.crt'], {}, 'NOT_YET_VALID'],
    ['S9', ['root-ca.crt', 'server.crt'], {}, 'CHAIN_UNTRUSTED'],
    ['S10', ['root-ca.crt', 'server.crt'], {}, 'CHAIN_UNTRUSTED'],
    [
      'D1',
      ['device.key'],
      { profile: { ...BUILTIN_CONSTRAINTS['2.6.3']!, name: 'pkcs1-only', keyEncodings: ['pkcs1'] } },
      'KEY_FORMAT',
    ],
    ['D2', ['device.crt'], { profile: 'legacy' }, 'LINE_ENDINGS'],
    ['D3', ['device-root.crt'], {}, 'SLOT_TOO_LARGE'],
    ['D5', ['device-root.crt', 'device.crt'], { clock: new Date('1970-01-01T00:00:00Z') }, 'DEVICE_CLOCK'],
    ['D6', ['device.key'], { passphrase: 'from-material' }, 'KEY_ENCRYPTED'],
    ['D8', ['device-root.crt'], {}, 'PEM_JSON_ESCAPED'],
    ['D10', ['device.key'], { profile: 'legacy' }, 'KEY_TOO_LARGE'],
    ['D10', ['device.key'], {}, 'SLOT_TOO_LARGE'],
  ] as const)('%s %j: %s', async (id, names, opts, code) => {
    const m = sc.get(id)!;
    const options = { ...opts, passphrase: 'passphrase' in opts ? m.clientKeyPassphrase : undefined } as DoctorOptions;
    const r = await runDoctor(
      names.map((n) => at(id, n)),
      options,
    );
    expect(codes(r, 'error'), JSON.stringify(r.findings, null, 1)).toContain(code);
    expect(r.exitCode).toBe(1);
  });

  test('weak signature and weak key are warnings', async () => {
    const sha1 = await runDoctor([at('S14', 'server.crt')]);
    expect(codes(sha1, 'warning')).toContain('WEAK_SIGNATURE');
    expect(sha1.files[0]!.certificates[0]!.signatureAlgorithm).toBe('sha1WithRSAEncryption');
    const rsa1024 = await runDoctor([at('S14b', 'server.crt')]);
    expect(codes(rsa1024, 'warning')).toContain('WEAK_KEY');
  });

  test('a CA private key is called out as such', async () => {
    const s1 = sc.get('S1')!;
    const r = await runDoctor([at('S1', 'root-ca.crt'), { name: 'ca.key', data: Buffer.from(s1.root.keyPem) }]);
    expect(codes(r, 'warning')).toContain('CA_KEY');
    expect(codes(r)).not.toContain('KEY_CERT_MATCH');
  });

  test('the fake root says "same name, different key"', async () => {
    const r = await runDoctor([at('S10', 'root-ca.crt'), at('S10', 'server.crt')]);
    expect(r.findings.find((f) => f.code === 'CHAIN_UNTRUSTED')!.message).toMatch(/different CA with the same name/);
  });

  test('the profile decides: 2.6.3 takes PKCS#8 (noting it is unverified), CR LF and RSA-4096; legacy does not', async () => {
    const inputs = [at('D1', 'device.key'), at('D2', 'device.crt'), at('D10', 'device.key')];
    const r = await runDoctor(inputs, { profile: '2.6.3' });
    expect(codes(r, 'error')).not.toContain('KEY_FORMAT');
    expect(codes(r, 'error')).not.toContain('LINE_ENDINGS');
    expect(codes(r, 'error')).not.toContain('KEY_TOO_LARGE');
    expect(codes(r, 'info')).toContain('KEY_FORMAT_UNVERIFIED');
    expect(r.profile).toBe('2.6.3');
    const legacy = await runDoctor(inputs, { profile: 'legacy' });
    expect(codes(legacy, 'error')).toEqual(expect.arrayContaining(['LINE_ENDINGS', 'KEY_TOO_LARGE']));
  });

  for (const name of ['2.6.3', 'legacy', 'reference']) {
    const path = new URL(`../sim/profiles/${name}.json`, import.meta.url).pathname;
    test.skipIf(!existsSync(path))(
      `built-in constraints agree with the simulator profile ${name} (needs harness/sim/profiles/${name}.json)`,
      () => {
        const fromSim = loadConstraints(path);
        expect({ ...fromSim, sources: {} }).toEqual({ ...BUILTIN_CONSTRAINTS[name]!, sources: {} });
      },
    );
  }

  test('--profile reads the constraints object of a JSON profile file', async () => {
    const p = join(dir, 'profile.json');
    writeFileSync(
      p,
      JSON.stringify({
        name: 'custom',
        quirks: {},
        constraints: { keyEncodings: ['pkcs1', 'pkcs8'], maxRsaBits: 4096 },
      }),
    );
    const c = loadConstraints(p);
    expect(c).toMatchObject({ name: 'custom', maxRsaBits: 4096, keyEncodings: ['pkcs1', 'pkcs8'], slotMaxBytes: 3000 });
    const r = await runDoctor([at('D1', 'device.key')], { profile: p });
    expect(codes(r, 'error')).not.toContain('KEY_FORMAT');
    writeFileSync(p, JSON.stringify({ constraints: { maxRsaBits: 'big' } }));
    expect(() => loadConstraints(p)).toThrowError(
      expect.objectContaining({ code: 'BXHIL_CONFIG', field: 'constraints.maxRsaBits' }),
    );
    expect(() => loadConstraints(join(dir, 'nope.json'))).toThrowError(
      expect.objectContaining({ code: 'BXHIL_CONFIG' }),
    );
  });
});

describe('doctor: AT file checks', () => {
  test('a byte count that does not match the inline data is AT_BYTE_COUNT', async () => {
    const upload = sc
      .get('S1')!
      .upload.replace(/^AT\+KCERTSTORE=0,(\d+)$/m, (_l, n: string) => `AT+KCERTSTORE=0,${Number(n) + 2}`);
    const r = await runDoctor([], { at: { name: 'upload.at', data: Buffer.from(upload) } });
    const f = r.findings.find((x) => x.code === 'AT_BYTE_COUNT')!;
    expect(f.severity).toBe('error');
    expect(f.file).toMatch(/^upload\.at:\d+$/);
  });

  test('data inline in upload.at is checked like files when no file has the same bytes', async () => {
    const mismatch = await runDoctor([], { at: at('S23', 'upload.at') });
    expect(codes(mismatch, 'error')).toContain('KEY_CERT_MISMATCH');
    expect(mismatch.files.map((f) => f.file)).toEqual(expect.arrayContaining([`${at('S23', 'upload.at')}:6`]));
    const clean = await runDoctor([], { at: at('S1', 'upload.at') });
    expect(clean.findings.filter((f) => f.severity !== 'info')).toEqual([]);
    expect(codes(clean)).toEqual(expect.arrayContaining(['KEY_CERT_MATCH', 'CHAIN_OK']));
    const both = await runDoctor([at('S1', 'device.crt')], { at: at('S1', 'upload.at') });
    expect(both.files.filter((f) => f.certificates.some((c) => c.subject === 'CN=bx-hil-device'))).toHaveLength(1);
  });

  test('unreadable inline data is an AT_DATA_INVALID finding, not an unusable file', async () => {
    const m = await buildScenario('S22', {});
    const r = await runDoctor([], { at: { name: 'S22.at', data: Buffer.from(m.upload) } });
    expect(codes(r, 'error')).toContain('AT_DATA_INVALID');
    expect(r.exitCode).toBe(1);
  });

  test('without inline data the count is checked against the file for that slot', async () => {
    const len = Buffer.byteLength(sc.get('S1')!.rootForDevice);
    const good = await runDoctor([at('S1', 'device-root.crt')], {
      at: { name: 'a.at', data: Buffer.from(`AT+KCERTSTORE=0,${len}\r`) },
    });
    expect(codes(good)).not.toContain('AT_BYTE_COUNT');
    const bad = await runDoctor([at('S1', 'device-root.crt')], {
      at: { name: 'a.at', data: Buffer.from(`AT+KCERTSTORE=0,${len + 1}\r`) },
    });
    expect(codes(bad, 'error')).toContain('AT_BYTE_COUNT');
  });

  test('missing and extra parameters, ranges and quotes follow the [BX-T] error rules', async () => {
    const text = [
      'AT+KCERTSTORE=1,1200',
      'AT+KPRIVKSTORE=0,100,1',
      'AT+KMQTTCFG=1,"h",8883',
      'AT+KCERTSTORE=0,3001',
      'AT+KMQTTCFG=0,"h",1883,4,"id"',
      'AT+KMQTTCFG=1,"h,8883,4,"id"',
      'AT+KCERTSTORE',
    ].join('\r\n');
    const r = await runDoctor([], { at: { name: 'c.at', data: Buffer.from(text) } });
    const byLine = (n: number) => r.findings.filter((f) => f.file === `c.at:${n}`).map((f) => f.code);
    expect(byLine(1)).toEqual(['AT_MISSING_PARAM']);
    expect(byLine(2)).toEqual(['AT_EXTRA_PARAM']);
    expect(byLine(3)).toEqual(['AT_MISSING_PARAM']);
    expect(byLine(4)).toEqual(['SLOT_TOO_LARGE']);
    expect(byLine(5)).toEqual(['AT_TLS_OFF']);
    expect(byLine(6)).toEqual(['AT_QUOTES']);
    expect(byLine(7)).toEqual(['AT_MISSING_PARAM']);
  });
});

describe('doctor: unusable input (exit code 2, one message per file)', () => {
  test('empty, binary junk, broken base64, truncated DER, 10 MB, a directory, a missing file, an encrypted key without passphrase', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    const s1 = sc.get('S1')!;
    writeFileSync(join(bad, 'empty.pem'), '');
    writeFileSync(join(bad, 'junk.bin'), Buffer.from([0x00, 0xff, 0x13, 0x37, 0x00, 0x01, 0x02]));
    writeFileSync(
      join(bad, 'broken.pem'),
      s1.root.certPem
        .split('\n')
        .map((l, i) => (i === 2 ? `${l.slice(0, 10)}!@#$${l.slice(14)}` : l))
        .join('\n'),
    );
    writeFileSync(
      join(bad, 'truncated.pem'),
      s1.files
        .find((f) => f.name === 'server.crt')!
        .contents.split('\n')
        .filter((_l, i) => i < 5 || i > 12)
        .join('\n'),
    );
    writeFileSync(join(bad, 'huge.pem'), '');
    truncateSync(join(bad, 'huge.pem'), 10 * 1024 * 1024);
    writeFileSync(join(bad, 'notes.txt'), 'hello\nworld\n');
    writeFileSync(
      join(bad, 'utf16.pem'),
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(s1.root.certPem, 'utf16le')]),
    );
    const inputs = [
      'empty.pem',
      'junk.bin',
      'broken.pem',
      'truncated.pem',
      'huge.pem',
      'notes.txt',
      'utf16.pem',
      'missing.pem',
    ].map((f) => join(bad, f));
    const r = await runDoctor([...inputs, bad, at('D6', 'device.key'), at('S1', 'device.crt')]);
    expect(r.exitCode).toBe(2);
    const problems = r.files.map((f) => f.problem?.code ?? 'ok');
    expect(problems).toEqual([
      'empty',
      'binary',
      'bad-pem',
      'bad-pem',
      'too-large',
      'unrecognised',
      'binary',
      'not-found',
      'directory',
      'encrypted-no-passphrase',
      'ok',
    ]);
    for (const f of r.files.filter((x) => !x.usable)) {
      expect(f.problem!.message.split('\n')).toHaveLength(1);
      expect(f.problem!.message.startsWith(f.file)).toBe(true);
      expect(f.problem!.message).not.toMatch(/\bat .*\.ts:\d+/);
    }
    expect(r.files[6]!.problem!.message).toContain('UTF-16');
    expect(r.files[9]!.problem!.message).toContain('--passphrase-env');
    expect(r.files[10]!.certificates).toHaveLength(1);
  });

  test('a wrong passphrase is an input problem, not a crash', async () => {
    const r = await runDoctor([at('D6', 'device.key')], { passphrase: 'not-it' });
    expect(r.files[0]!.problem!.code).toBe('bad-passphrase');
    expect(r.exitCode).toBe(2);
  });

  test('DER certificates and keys are read, and flagged because the module takes PEM', async () => {
    const s1 = sc.get('S1')!;
    const r = await runDoctor([
      { name: 'root.der', data: s1.root.certDer },
      { name: 'key.der', data: s1.clientLeaf!.key.privateKey.export({ type: 'pkcs1', format: 'der' }) },
    ]);
    expect(r.files.map((f) => f.format)).toEqual(['der', 'der']);
    expect(codes(r, 'error').filter((c) => c === 'PEM_REQUIRED')).toHaveLength(2);
  });
});

describe('doctor never prints key material', () => {
  test('no key body, passphrase or PEM key label in the result', async () => {
    const m = sc.get('D6')!;
    const r = await runDoctor([at('S1', 'device.key'), at('D6', 'device.key'), at('S1', 'device.crt')], {
      passphrase: m.clientKeyPassphrase,
      at: at('S1', 'upload.at'),
    });
    const json = JSON.stringify(r);
    expect(json).not.toMatch(/PRIVATE KEY-----/);
    expect(json).not.toContain(m.clientKeyPassphrase!);
    const keyBody = sc.get('S1')!.clientKey!.split('\n')[5]!;
    expect(keyBody.length).toBeGreaterThan(40);
    expect(json).not.toContain(keyBody);
    expect(r.files[0]!.keys[0]!.publicKeySha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });
});

describe('public roots', () => {
  test('embedded fingerprints are those of the embedded PEMs (and of the openssl CLI when present)', () => {
    for (const root of PUBLIC_ROOTS) {
      expect(new X509Certificate(root.pem).fingerprint256).toBe(root.sha256);
    }
    let out = '';
    try {
      out = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], {
        input: AMAZON_ROOT_CA_1_PEM,
        timeout: 10_000,
      }).toString();
    } catch {
      return; // openssl absent: the Node check above still holds
    }
    expect(out).toContain(PUBLIC_ROOTS[0]!.sha256);
  });
});
