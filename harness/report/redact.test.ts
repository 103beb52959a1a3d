/**
 * Redaction: a private key or a password handed to the report layer never comes out of it.
 * Keys are real ones (node:crypto) in every PEM flavour the module accepts [BX-T §3.3]:
 * PKCS#1 (`RSA PRIVATE KEY`), PKCS#8, SEC1 (`EC PRIVATE KEY`) and encrypted PKCS#8.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { PrivateKeyStreamRedactor, REDACTED, containsPrivateKey, redactSecrets, redactValue } from './redact.ts';

const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const keys = {
  pkcs1: rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
  pkcs8: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  sec1: ec.privateKey.export({ type: 'sec1', format: 'pem' }) as string,
  encrypted: ec.privateKey.export({
    type: 'pkcs8',
    format: 'pem',
    cipher: 'aes-256-cbc',
    passphrase: 'hunter22',
  }) as string,
};
const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;

/** The base64 body of a PEM block (what must never leak, even without the armour lines). */
function body(pem: string): string {
  return pem
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'))
    .join('');
}

function assertNoKey(text: string, pem: string): void {
  const lines = pem.split('\n').filter((l) => l && !l.startsWith('-----'));
  for (const line of lines) expect(text).not.toContain(line);
  expect(containsPrivateKey(text)).toBe(false);
}

describe('redactSecrets', () => {
  test.each(Object.entries(keys))('replaces a %s private key by a marker with length and sha256', (_name, pem) => {
    const text = `AT+KPRIVKSTORE=0,${pem.length}\r\nCONNECT\r\n${pem}+++\r\nOK\r\n`;
    const out = redactSecrets(text);
    assertNoKey(out, pem);
    const block = pem.trimEnd();
    const sha = createHash('sha256').update(block).digest('hex');
    expect(out).toContain(`${Buffer.byteLength(block)} bytes, sha256 ${sha}`);
    expect(out).toContain('AT+KPRIVKSTORE=0,');
    expect(out).toContain('+++\r\nOK');
  });

  test('handles CRLF keys and several keys in one text; leaves certificates and public keys alone', () => {
    const crlf = keys.pkcs8.replace(/\n/g, '\r\n');
    const text = `${crlf}\r\n${publicPem}\n${keys.sec1}`;
    const out = redactSecrets(text);
    assertNoKey(out, keys.pkcs8);
    assertNoKey(out, keys.sec1);
    expect(out).toContain(publicPem.trim());
    expect(out.match(/\[REDACTED (?:EC )?PRIVATE KEY/g)).toHaveLength(2);
  });

  test('a key cut off before its END line is redacted to the end of the text', () => {
    const cut = keys.pkcs1.slice(0, 200);
    const out = redactSecrets(`before ${cut}`);
    expect(out).toMatch(/^before \[REDACTED RSA PRIVATE KEY \(truncated\)/);
    expect(out).not.toContain(body(keys.pkcs1).slice(0, 40));
  });

  test('is idempotent', () => {
    const text = `${keys.pkcs8} password=abc AT+SRWSTACFG="lab","wifipass",1`;
    const once = redactSecrets(text);
    expect(redactSecrets(once)).toBe(once);
  });

  test.each([
    ['password=s3cret&x=1', 's3cret', 'password=[REDACTED]&x=1'],
    ['{"password":"s3cret","user":"bob"}', 's3cret', '{"password":"[REDACTED]","user":"bob"}'],
    ["passphrase: 'open sesame'", 'open sesame', "passphrase: '[REDACTED]'"],
    ['psk = 0badc0de', '0badc0de', 'psk = [REDACTED]'],
    ['AT+SRWSTACFG="labnet","wifi-pw-1",1', 'wifi-pw-1', 'AT+SRWSTACFG="labnet","[REDACTED]",1'],
    ['+SRWSTACFG: "labnet","wifi-pw-1",1', 'wifi-pw-1', '+SRWSTACFG: "labnet","[REDACTED]",1'],
    ['AT+KMQTTCFG=1,"broker.example",8883,4,"dev1",60,1,0,,,0,0,"user","mqtt-pw"', 'mqtt-pw', '"user","[REDACTED]"'],
    [
      '+KMQTTCFG: 1,"srv",1883,4,"BX_DUT",60,1,1,"TMA/DUT/status","OFFLINE",0,0,"user","pass"',
      '"pass"',
      '"user","[REDACTED]"',
    ],
    ['AT+KMQTTCFG=1,1,"host",8883,4,"id",120,1,0,"","",0,0,"user","hl-pw",0', 'hl-pw', '"user","[REDACTED]",0'],
    ['CLIENT_RANDOM 0a0b0c 1f2e3d4c5b6a', '1f2e3d4c5b6a', 'CLIENT_RANDOM 0a0b0c [REDACTED]'],
  ])('blanks the password in %j', (input, secret, expected) => {
    const out = redactSecrets(input);
    expect(out).not.toContain(secret);
    expect(out).toContain(expected);
  });

  test('leaves ordinary AT traffic and words like "passed" alone', () => {
    const text =
      'AT+KMQTTCFG=1,"broker",8883,4,"dev1"\r\n+KMQTTCFG: 1\r\nOK\r\n3 passed, 0 failed\r\n+KMQTT_IND: 1,1\r\n<<secret: 1704 bytes, sha256=97a8>>';
    expect(redactSecrets(text)).toBe(text);
  });
});

describe('redactValue', () => {
  test('redacts secret-named fields, nested strings and byte fields that hold a key', () => {
    const input = {
      summary: `upload ${keys.sec1}`,
      data: {
        password: 'pw',
        keyPem: keys.pkcs8,
        hex: Buffer.from(keys.pkcs1).toString('hex'),
        base64: Buffer.from('plain bytes').toString('base64'),
        list: [`x ${keys.encrypted}`],
        passed: 3,
        ok: true,
      },
    };
    const out = redactValue(input);
    const json = JSON.stringify(out);
    for (const pem of Object.values(keys)) assertNoKey(json, pem);
    expect(json).not.toContain(Buffer.from(keys.pkcs1).toString('hex').slice(100, 160));
    expect(out.data.password).toBe(REDACTED);
    expect(out.data.keyPem).toBe(REDACTED);
    expect(out.data.base64).toBe(input.data.base64);
    expect(out.data.passed).toBe(3);
    expect(input.data.password).toBe('pw');
  });
});

describe('PrivateKeyStreamRedactor', () => {
  test('redacts a key split across link chunks, and what follows the END line is kept', () => {
    const stream = `AT+KPRIVKSTORE=0,${keys.pkcs8.length}\r\n${keys.pkcs8}+++`;
    const chunks: string[] = [];
    for (let i = 0; i < stream.length; i += 64) chunks.push(stream.slice(i, i + 64));
    const r = new PrivateKeyStreamRedactor();
    const out = chunks.map((c) => r.redact(c)).join('|');
    for (const line of keys.pkcs8.split('\n').filter((l) => l && !l.startsWith('-----'))) {
      // Every 20-character piece of the body must be gone (chunks cut lines anywhere).
      for (let i = 0; i + 20 <= line.length; i += 20) expect(out).not.toContain(line.slice(i, i + 20));
    }
    expect(out).toContain('AT+KPRIVKSTORE=0,');
    expect(r.inside).toBe(false);
  });
});
