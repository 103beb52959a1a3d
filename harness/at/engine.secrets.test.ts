/**
 * Hostile modules against the AtEngine: a module that echoes a stored key, one whose echo stops
 * inside the Wi-Fi password, and a tcp:// peer that floods 8 KB garbage lines (secrets stay out, memory stays bounded).
 *
 * Glossary: "module" = the fake on the far side of the link (a scripted link, or a net.Server
 * on 127.0.0.1 reached through the real tcp:// link); "engine" = the AtEngine under test;
 * "body lines" = the base64 lines of a PEM key between its BEGIN and END lines.
 */
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { EvidenceBus, EvidenceRecorder } from '../evidence.ts';
import { openLink, scriptedLink } from '../link/index.ts';
import { MIN_KEY_RUN, SecretRegistry } from '../secrets.ts';
import { AtEngine, type AtEngineOptions } from './engine.ts';
import { rejection } from './testing.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keyPem = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
const certLikePem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
const bodyLines = (pem: string): string[] => pem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));

/** Every run of MIN_KEY_RUN characters of the key's body (what must not show anywhere). */
function keyRuns(pem: string): string[] {
  const body = bodyLines(pem).join('');
  const out: string[] = [];
  for (let i = 0; i + MIN_KEY_RUN <= body.length; i += 4) out.push(body.slice(i, i + MIN_KEY_RUN));
  return out;
}

function assertNoKey(text: string, what: string): void {
  for (const line of bodyLines(keyPem)) expect(text.includes(line), `${what} holds a body line`).toBe(false);
  for (const run of keyRuns(keyPem)) expect(text.includes(run), `${what} holds a ${MIN_KEY_RUN}-char run`).toBe(false);
}

function setup(opts: AtEngineOptions = {}) {
  const s = scriptedLink();
  const secrets = new SecretRegistry();
  const bus = new EvidenceBus();
  const rec = new EvidenceRecorder(bus);
  const at = new AtEngine(s.link, { secrets, bus, ...opts });
  cleanups.push(
    () => at.close(),
    () => s.link.close(),
  );
  return { s, at, rec, secrets };
}

describe('a module that echoes a stored key', () => {
  test('the read form echoing the body lines: SECURITY FAILURE, and the key is in no transcript, event, answer or error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bxhil-echo-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'transcript.txt');
    const { s, at, rec } = setup({ transcriptPath: path });
    s.expectWrite(`AT+KPRIVKSTORE=1,${keyPem.length}\r`).respond('\r\nCONNECT\r\n');
    s.expectWrite(keyPem);
    s.expectWrite('+++').respond('\r\nOK\r\n');
    await at.dataMode(`AT+KPRIVKSTORE=1,${keyPem.length}`, keyPem, { secret: true, guardTimeMs: 0 });
    // The firmware bug: the read form lists the key and then echoes it, line by line.
    const echo = bodyLines(keyPem)
      .map((l) => `${l}\r\n`)
      .join('');
    s.expectWrite('AT+KPRIVKSTORE?\r').respond(
      `\r\n+KPRIVKSTORE:\r\nprivate_key,1,${keyPem.length}\r\n${echo}\r\nOK\r\n`,
    );
    const err = await rejection(at.command('AT+KPRIVKSTORE?'));
    expect(err.code).toBe('BXHIL_SECRET_ECHO');
    expect(err.message).toMatch(/^SECURITY FAILURE: the module echoed stored key material/);
    assertNoKey(err.message, 'the error');
    // Each line with a run of the key's secret part is one finding (lines that only carry the
    // public modulus are redacted as well, but a certificate carries them too).
    expect(at.secretEchoes).toBeGreaterThan(bodyLines(keyPem).length / 2);
    const findings = rec.events.filter((e) => e.kind === 'secret-echo');
    expect(findings.length).toBe(at.secretEchoes);
    expect(findings[0]!.summary).toMatch(/^SECURITY FAILURE: the module echoed stored key material/);
    const text = at.transcript.toText();
    assertNoKey(text, 'the transcript');
    assertNoKey(readFileSync(path, 'latin1'), 'transcript.txt');
    assertNoKey(JSON.stringify(rec.events), 'the events');
    assertNoKey(JSON.stringify(at.transcript.toJSON()), 'transcript.json');
    expect(text).toContain('[REDACTED KEY MATERIAL]');
    // The listing line itself is kept: only key material goes.
    expect(text).toContain(`private_key,1,${keyPem.length}`);

    // A PEM rebuilt from the transcript alone is no key.
    const rebuilt = [
      '-----BEGIN RSA PRIVATE KEY-----',
      ...text
        .split('\n')
        .map((l) => /^\[[^\]]+\] < (.*?)<CR><LF>$/.exec(l)?.[1] ?? '')
        .filter((l) => /^[A-Za-z0-9+/=]{16,}$/.test(l)),
      '-----END RSA PRIVATE KEY-----',
      '',
    ].join('\n');
    expect(() => createPrivateKey(rebuilt)).toThrow();
  });

  test('a body line cut in two, or surrounded by other text, is still caught', async () => {
    const { s, at, secrets } = setup();
    secrets.addKey(keyPem);
    const line = bodyLines(keyPem)[10]!;
    s.expectWrite('AT+KPRIVKSTORE?\r').respond(
      `\r\nprivate_key,0,1675 ${line.slice(0, 30)}\r\n${line.slice(30)}xyz\r\n\r\nOK\r\n`,
    );
    const err = await rejection(at.command('AT+KPRIVKSTORE?'));
    expect(err.code).toBe('BXHIL_SECRET_ECHO');
    const text = at.transcript.toText();
    expect(text).not.toContain(line.slice(0, 30));
    expect(text).not.toContain(line.slice(30));
    expect(text).toContain('private_key,0,1675 [REDACTED KEY MATERIAL]');
    expect(text).toContain('[REDACTED KEY MATERIAL]xyz');
  });

  test('the public part (what a certificate carries too) is no echo of the key', async () => {
    const { s, at, secrets } = setup();
    secrets.addKey(keyPem);
    // Only runs that lie wholly inside the public key; a read form showing a certificate's key.
    const pub = bodyLines(certLikePem).slice(1, -1);
    s.expectWrite('AT+KCERTSTORE?\r').respond(`\r\n${pub.map((l) => `${l}\r\n`).join('')}\r\nOK\r\n`);
    await expect(at.command('AT+KCERTSTORE?')).resolves.toMatchObject({ final: 'OK' });
    expect(at.secretEchoes).toBe(0);
  });

  test('key material in a line nobody waits for is still a finding', async () => {
    const { s, at, rec, secrets } = setup();
    secrets.addKey(keyPem);
    const line = bodyLines(keyPem)[5]!;
    s.expectWrite('AT\r').respond('\r\nOK\r\n').thenEmit(`\r\n+KPRIVKSTORE: ${line}\r\n`, { delayMs: 20 });
    await at.command('AT');
    const urc = await at.expect('+KPRIVKSTORE');
    expect(urc.line).not.toContain(line);
    expect(at.secretEchoes).toBe(1);
    expect(rec.events.some((e) => e.kind === 'secret-echo')).toBe(true);
    assertNoKey(JSON.stringify(rec.events), 'the events');
  });
});

describe('the Wi-Fi password in a timeout tail', () => {
  test.each([
    ['inside the password', 'AT+SRWSTACFG="lab","hunter2p'],
    ['after two characters of it', 'AT+SRWSTACFG="lab","hu'],
  ])('an echo that stops %s never shows it', async (_what, partialEcho) => {
    const { s, at, rec } = setup({ defaultTimeoutMs: 30, resyncAttempts: 1, resyncTimeoutMs: 5, resyncEscape: false });
    at.addSecret('hunter2pass');
    s.expectWrite('AT+SRWSTACFG="lab","hunter2pass",1\r').respond(partialEcho);
    const err = await rejection(at.command('AT+SRWSTACFG="lab","hunter2pass",1'));
    expect(err.code).toBe('BXHIL_AT_TIMEOUT');
    const tail = (err as unknown as { transcriptTail: string }).transcriptTail;
    expect(tail).toContain('AT+SRWSTACFG="lab","<<redacted>>"');
    for (const text of [err.message, JSON.stringify(rec.events), at.transcript.toText()]) {
      expect(text).not.toContain('hunter');
      expect(text).not.toMatch(/"lab","hu/);
    }
    // Closing flushes the cut-off echo into the transcript: redacted there too.
    await at.close();
    expect(at.transcript.toText()).not.toMatch(/"lab","hu/);
  });

  test('a registered password cut off anywhere (not only in AT+SRWSTACFG) loses its 4+ character prefix', async () => {
    const { s, at } = setup({ defaultTimeoutMs: 30 });
    at.addSecret('hunter2pass');
    s.expectWrite('AT+KMQTTCFG?\r').respond('\r\n+X: user=bob pw hunte');
    const err = await rejection(at.command('AT+KMQTTCFG?'));
    expect(err.message).not.toContain('hunte');
    expect(err.message).toContain('pw <<redacted>>');
  });
});

describe('a tcp:// peer that floods 8 KB garbage lines', () => {
  test('the transcript stays under its byte cap; the newest bytes and a drop marker are kept', async () => {
    const lines = 3_000; // 24 MB: three times the default cap
    const line = Buffer.from(`${'#garbage'.repeat(1024)}\r\n`, 'latin1'); // 8 KB
    let peer: Socket | undefined;
    const server = createServer((sock) => {
      peer = sock;
      sock.on('error', () => undefined);
      let sent = 0;
      const pump = (): void => {
        while (sent < lines) {
          sent++;
          if (!sock.write(line)) return void sock.once('drain', pump);
        }
        sock.write('\r\n+FLOODEND: 1\r\n');
      };
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    cleanups.push(() => peer?.destroy());
    const link = await openLink(`tcp://127.0.0.1:${(server.address() as AddressInfo).port}`);
    cleanups.push(() => link.close());
    const at = new AtEngine(link, { secrets: new SecretRegistry() });
    cleanups.push(() => at.close());
    let maxBytes = 0;
    const timer = setInterval(() => (maxBytes = Math.max(maxBytes, at.transcript.bytes)), 5);
    cleanups.push(() => clearInterval(timer));
    await at.expect('+FLOODEND', { timeoutMs: 60_000 });
    clearInterval(timer);
    maxBytes = Math.max(maxBytes, at.transcript.bytes);
    const cap = 8 * 1024 * 1024; // the default, 8 MiB
    expect(maxBytes).toBeLessThanOrEqual(cap);
    expect(at.transcript.dropped).toBeGreaterThan(lines / 2);
    expect(at.transcript.toText()).toMatch(/^\[\.\.\. \d+ earlier entries \(\d+ bytes\) dropped: /);
    expect(at.transcript.tail(300)).toContain('+FLOODEND: 1');
  }, 90_000);
});
