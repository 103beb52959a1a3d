/**
 * Every generated scenario is checked with the real openssl CLI: the
 * verifier the module would be (openssl verify with the module's root, host name and clock),
 * the verifier the server would be (openssl verify with the client CA), `openssl x509` on what
 * was issued and `openssl pkey` on the key the module gets. Each shows the outcome the
 * catalogue entry states.
 *
 * Glossary: "module" = the BX310x (or the simulator) as TLS client; "server" = the harness's
 * TLS front door; "root for the device" = what `AT+KCERTSTORE=0` stores.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hasTool, runTool } from '../processes.ts';
import { KeyPool, pemLayout } from './factory.ts';
import { parseAtFile } from './upload.ts';
import { buildScenario, getScenario, scenarios, type ScenarioMaterial, type VerifyOutcome } from './scenarios.ts';

const OPENSSL_TIMEOUT_MS = 15_000;

const opensslPresent = hasTool('openssl');

interface Run {
  code: number;
  out: string;
}

/** openssl's exit code and its stdout + stderr. */
async function openssl(args: string[], cwd: string): Promise<Run> {
  const r = await runTool('openssl', args, { cwd, timeoutMs: OPENSSL_TIMEOUT_MS });
  return { code: r.code, out: `${r.out}${r.err}` };
}

let dir: string;
const built = new Map<string, ScenarioMaterial>();
let pool: KeyPool;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bx-hil-pki-'));
  pool = new KeyPool();
  const all = await Promise.all(scenarios.map((s) => buildScenario(s.id, { pool })));
  for (const m of all) {
    built.set(m.id, m);
    const sdir = join(dir, m.id);
    mkdirSync(sdir, { recursive: true });
    for (const f of m.files) writeFileSync(join(sdir, f.name), f.contents, { mode: f.secret ? 0o600 : 0o644 });
    if (m.serverLeaf) {
      writeFileSync(join(sdir, 'server-leaf.crt'), m.serverLeaf.certPem);
      const rest = m.serverCert.slice(m.serverLeaf.certPem.length);
      if (rest) writeFileSync(join(sdir, 'server-rest.crt'), rest);
    }
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('catalogue data', () => {
  test('ids are unique and every §5.5 scenario S1-S27 is present', () => {
    const ids = scenarios.map((s) => s.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (let n = 1; n <= 27; n++) expect(ids).toContain(`S${n}`);
    expect(ids.filter((id) => id.startsWith('D')).length).toBeGreaterThanOrEqual(6);
  });

  test('expected outcomes agree with what the PKI says', () => {
    for (const s of scenarios) {
      const results = [s.pki.server, s.pki.client].filter((v): v is VerifyOutcome => v !== undefined);
      if (s.expected === 'connect') {
        expect(
          results.every((r) => r.result === 'ok'),
          s.id,
        ).toBe(true);
        expect(s.pki.keyMatchesCert, s.id).not.toBe(false);
      }
      if (s.expected === 'refuse' && s.category === 'server-cert') expect(s.pki.server?.result, s.id).not.toBe('ok');
      expect(s.anchors.length, s.id).toBeGreaterThan(0);
      expect(s.reason.length, s.id).toBeGreaterThan(10);
    }
  });

  test('buildScenario options are checked at the edge (ConfigError naming the field)', async () => {
    await expect(buildScenario('S1', { hostName: 'not a host' })).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: 'hostName',
    });
    await expect(buildScenario('S1', { port: 70000 })).rejects.toMatchObject({ code: 'BXHIL_CONFIG', field: 'port' });
    await expect(buildScenario('S1', { clientId: 'a "quoted" id' })).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: 'clientId',
    });
  });

  test('getScenario finds ids case-insensitively and refuses unknown ones with a stable code', () => {
    expect(getScenario('s1').id).toBe('S1');
    expect(() => getScenario('S99')).toThrowError(expect.objectContaining({ code: 'BXHIL_PKI_SCENARIO' }));
  });

  test('the catalogue is frozen data that survives JSON', () => {
    expect(Object.isFrozen(scenarios[0]!.server)).toBe(true);
    expect(JSON.parse(JSON.stringify(scenarios))).toEqual(scenarios);
  });
});

describe('material', () => {
  test('keys are generated once per kind and reused across scenarios', () => {
    // Root, intermediate, server, client, other (RSA-2048); shared 1024 and 4096; EC leaves.
    expect(pool.size).toBeLessThanOrEqual(12);
  });

  test('upload.at byte counts equal the exact bytes of the files the module gets', () => {
    for (const m of built.values()) {
      const cmds = parseAtFile(m.upload).filter((c) => c.data !== undefined);
      const expected = [m.rootForDevice, m.clientCert, m.clientKey].filter((x): x is string => x !== undefined);
      expect(
        cmds.map((c) => c.data),
        m.id,
      ).toEqual(expected);
      for (const c of cmds) {
        const declared = Number(c.name === '+KPRIVKSTORE' ? c.args.split(',')[1] : c.args.split(',')[1]);
        expect(declared, `${m.id} ${c.text}`).toBe(Buffer.byteLength(c.data!, 'utf8'));
        expect(c.unterminated, m.id).toBeUndefined();
      }
      expect(m.upload).toMatch(/^AT\+KMQTTCFG=1,"[^"]+",8883,4,"bx-hil-device",60,1$/m);
    }
  });

  test('secret files are the keys, passphrases, PSKs and an upload.at that embeds a key', () => {
    for (const m of built.values()) {
      for (const f of m.files) {
        const embedsKey = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(f.contents);
        expect(f.secret, `${m.id} ${f.name}`).toBe(embedsKey || f.name === 'psk.txt' || f.name.endsWith('.passphrase'));
      }
    }
  });

  test('D3 puts more than 3000 bytes into the root slot; every other root fits', () => {
    for (const m of built.values()) {
      const len = Buffer.byteLength(m.rootForDevice);
      if (m.entry.device.root === 'ca-bundle') expect(len).toBeGreaterThan(3000);
      else expect(len, m.id).toBeLessThanOrEqual(3000);
    }
  });

  test('PEM layouts: CRLF, no final newline and JSON-escaped are what they say', () => {
    const lf = built.get('S1')!.rootForDevice;
    expect(pemLayout(lf, 'crlf')).toBe(lf.replace(/\n/g, '\r\n'));
    expect(built.get('D2')!.clientKey).toMatch(/\r\n-----END RSA PRIVATE KEY-----\r\n$/);
    expect(built.get('D9')!.rootForDevice.endsWith('-----END CERTIFICATE-----')).toBe(true);
    const json = built.get('D8')!.rootForDevice;
    expect(json.split('\n').length).toBe(2);
    expect(json).toContain('-----BEGIN CERTIFICATE-----\\n');
  });
});

function verifyArgs(
  m: ScenarioMaterial,
  outcome: VerifyOutcome,
  side: 'server' | 'client',
  withPolicy: boolean,
): string[] {
  const args = ['verify'];
  if (side === 'server') {
    args.push('-CAfile', 'device-root.crt');
    if (m.serverCert.length > m.serverLeaf!.certPem.length) args.push('-untrusted', 'server-rest.crt');
    if (m.entry.device.connectTo === 'ip') args.push('-verify_ip', m.connectHost);
    else args.push('-verify_hostname', m.connectHost);
    if (m.deviceClock) args.push('-attime', String(Math.floor(m.deviceClock.getTime() / 1000)));
  } else {
    args.push('-CAfile', 'client-ca.crt');
  }
  if (withPolicy && outcome.policy === 'auth-level-2') args.push('-auth_level', '2');
  if (withPolicy && outcome.policy === 'crl-check')
    args.push('-crl_check', '-CRLfile', side === 'server' ? 'server.crl' : 'client.crl');
  args.push(side === 'server' ? 'server-leaf.crt' : 'device.crt');
  return args;
}

async function expectOutcome(m: ScenarioMaterial, outcome: VerifyOutcome, side: 'server' | 'client'): Promise<void> {
  const cwd = join(dir, m.id);
  if (outcome.result === 'unreadable') {
    const file = side === 'server' ? 'device-root.crt' : 'device.crt';
    const r = await openssl(['x509', '-in', file, '-noout'], cwd);
    expect(r.code, `${m.id}: openssl x509 should not load ${file}\n${r.out}`).not.toBe(0);
    return;
  }
  const r = await openssl(verifyArgs(m, outcome, side, true), cwd);
  if (outcome.result === 'ok') {
    expect(r.code, `${m.id} ${side}: ${r.out}`).toBe(0);
    expect(r.out).toMatch(/: OK/);
  } else {
    expect(r.code, `${m.id} ${side}: ${r.out}`).not.toBe(0);
    expect(r.out, `${m.id} ${side}`).toMatch(new RegExp(`error ${outcome.result} at \\d+ depth`));
    if (outcome.policy) {
      // The fault only shows under the stricter policy: a plain verify passes.
      const plain = await openssl(verifyArgs(m, outcome, side, false), cwd);
      expect(plain.code, `${m.id} ${side} plain: ${plain.out}`).toBe(0);
    }
  }
}

const KEY_LABEL: Record<string, RegExp> = {
  pkcs1: /^-----BEGIN RSA PRIVATE KEY-----/,
  pkcs8: /^-----BEGIN PRIVATE KEY-----/,
  sec1: /^-----BEGIN EC PRIVATE KEY-----/,
  'pkcs8-encrypted': /^-----BEGIN ENCRYPTED PRIVATE KEY-----/,
};

describe.skipIf(!opensslPresent)('openssl CLI agrees with every catalogue entry', () => {
  test.concurrent.each(scenarios.map((s) => [s.id, s.title] as const))('%s: %s', async (id) => {
    const m = built.get(id)!;
    const e = m.entry;
    const cwd = join(dir, id);
    const checks: Array<Promise<void>> = [];

    if (e.pki.server) checks.push(expectOutcome(m, e.pki.server, 'server'));
    else expect(m.serverCert, id).toBe('');
    if (e.pki.client) checks.push(expectOutcome(m, e.pki.client, 'client'));
    else expect(m.clientCert, id).toBeUndefined();

    // What was issued for the server, as openssl x509 reads it.
    if (e.server.presents) {
      const p = e.server.presents;
      checks.push(
        openssl(['x509', '-in', 'server-leaf.crt', '-noout', '-text', '-dates'], cwd).then((r) => {
          expect(r.code, r.out).toBe(0);
          if (p.key.type === 'rsa') expect(r.out).toContain(`Public-Key: (${p.key.bits} bit)`);
          else expect(r.out).toContain(`NIST CURVE: ${p.key.curve}`);
          if (p.hash === 'SHA-1') expect(r.out).toMatch(/Signature Algorithm: sha1WithRSAEncryption/);
          const notAfter = new Date(/notAfter=(.*)/.exec(r.out)![1]!);
          const notBefore = new Date(/notBefore=(.*)/.exec(r.out)![1]!);
          if (p.cert === 'expired') expect(notAfter.getTime()).toBeLessThan(Date.now());
          else if (p.cert === 'not-yet-valid') expect(notBefore.getTime()).toBeGreaterThan(Date.now());
          else expect(notBefore.getTime() < Date.now() && Date.now() < notAfter.getTime()).toBe(true);
          if (p.cert === 'large-sans') expect((r.out.match(/DNS:/g) ?? []).length).toBeGreaterThanOrEqual(1000);
          if (p.cert === 'cn-only') expect(r.out).not.toContain('Subject Alternative Name');
          if (p.cert === 'san-only') expect(r.out).not.toMatch(/Subject:.*CN ?=/);
        }),
      );
    }

    // The key the module gets: its encoding, whether it loads, whether it is the certificate's.
    if (m.clientKey !== undefined) {
      const d = e.device;
      const pass = m.clientKeyPassphrase ? ['-passin', `pass:${m.clientKeyPassphrase}`] : [];
      if (d.lineEndings !== 'json-escaped') expect(m.clientKey).toMatch(KEY_LABEL[d.keyEncoding]!);
      checks.push(
        (async () => {
          // One run: -check validates the key, -pubout prints its public half for the match below.
          const loaded = await openssl(['pkey', '-in', 'device.key', '-check', '-pubout', ...pass], cwd);
          if (d.lineEndings === 'json-escaped') {
            expect(loaded.code, `${id}: a JSON-escaped key must not load`).not.toBe(0);
            return;
          }
          expect(loaded.code, loaded.out).toBe(0);
          if (d.clientKey.type === 'rsa') expect(loaded.out).toMatch(/Key is valid/);
          if (m.clientKeyPassphrase) {
            const noPass = await openssl(['pkey', '-in', 'device.key', '-noout', '-passin', 'pass:'], cwd);
            expect(noPass.code, `${id}: an encrypted key must not load without its passphrase`).not.toBe(0);
          }
          if (e.pki.keyMatchesCert === undefined) return;
          const fromCert = await openssl(['x509', '-in', 'device.crt', '-noout', '-pubkey'], cwd);
          expect(fromCert.code).toBe(0);
          const fromKey = /-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----\n/.exec(loaded.out)?.[0];
          expect(fromKey, loaded.out).toBeDefined();
          expect(fromKey === fromCert.out, `${id}: key matches certificate`).toBe(e.pki.keyMatchesCert);
        })(),
      );
    }
    await Promise.all(checks);
  });
});
