/**
 * Evidence bundles: what the fixtures write per test and what the report reads back. The key
 * point: a bundle handed a private key (in a cert list, in events, split over link chunks, in
 * the transcript) never holds it on disk unless `includeSecrets` is set.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { EvidenceEvent } from '../evidence.ts';
import { readEvidenceBundle, writeEvidenceBundle } from './bundle.ts';
import { EVIDENCE_FILES } from './types.ts';

const keyPem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({
  type: 'pkcs8',
  format: 'pem',
}) as string;
const keyLines = keyPem.split('\n').filter((l) => l && !l.startsWith('-----'));
const certPem =
  '-----BEGIN CERTIFICATE-----\nMIIBfake0certificate0body0for0the0test0only0AAAA\n-----END CERTIFICATE-----\n';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'bxhil-bundle-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function ev(
  t: number,
  source: EvidenceEvent['source'],
  kind: string,
  summary: string,
  data?: Record<string, unknown>,
): EvidenceEvent {
  return { t, wall: new Date(1_700_000_000_000 + t).toISOString(), source, kind, scope: 'dev0', summary, data };
}

/** Every byte of every file under dir, as one string. */
async function allText(dir: string): Promise<string> {
  let out = '';
  for (const name of await readdir(dir, { recursive: true })) {
    const p = join(dir, name);
    if ((await stat(p)).isFile()) out += `\n=== ${name}\n${await readFile(p, 'utf8')}`;
  }
  return out;
}

/** A key upload as the link layer sees it: 48-byte tx chunks of the data-mode stream. */
function uploadChunks(): EvidenceEvent[] {
  const stream = `${keyPem}+++`;
  const chunks: EvidenceEvent[] = [ev(1, 'at', 'command', `AT+KPRIVKSTORE=0,${keyPem.length}`)];
  for (let i = 0; i < stream.length; i += 48) {
    const text = stream.slice(i, i + 48);
    chunks.push(ev(2 + i, 'link', 'tx', `tx ${text.length} bytes`, { text, hex: Buffer.from(text).toString('hex') }));
  }
  chunks.push(ev(5000, 'at', 'response', 'OK'));
  return chunks;
}

describe('writeEvidenceBundle', () => {
  test('writes every part it is given, with the file names of EVIDENCE_FILES', async () => {
    const dir = join(root, 'full');
    await writeEvidenceBundle(dir, {
      events: [ev(1, 'at', 'command', 'AT+CGMR'), ev(2, 'tls', 'client-hello', 'ClientHello SNI=localhost')],
      transcriptText: '> AT+CGMR\r\n< 2.6.3\r\n< OK\r\n',
      transcriptJson: { lines: [{ dir: 'tx', text: 'AT+CGMR' }] },
      verdicts: [{ code: 'OK', summary: 'connected' }],
      meta: { device: 'sim-2.6.3', firmware: '2.6.3' },
      certs: [
        { name: 'server', pem: certPem },
        { name: '../../etc/passwd', pem: certPem },
      ],
    });
    const files = (await readdir(dir, { recursive: true })).sort();
    expect(files).toEqual(
      [
        'certs',
        'certs/_.._etc_passwd.pem',
        'certs/server.pem',
        'events.jsonl',
        'meta.json',
        'transcript.json',
        'transcript.txt',
        'verdicts.json',
      ].sort(),
    );
    const lines = (await readFile(join(dir, EVIDENCE_FILES.events), 'utf8')).trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as EvidenceEvent).kind)).toEqual(['command', 'client-hello']);
    expect(JSON.parse(await readFile(join(dir, EVIDENCE_FILES.meta), 'utf8'))).toEqual({
      device: 'sim-2.6.3',
      firmware: '2.6.3',
    });
    expect(await readFile(join(dir, 'certs/server.pem'), 'utf8')).toBe(certPem);
  });

  test('a bundle handed a private key everywhere never contains it', async () => {
    const dir = join(root, 'secret');
    await writeEvidenceBundle(dir, {
      events: [...uploadChunks(), ev(6000, 'driver', 'key', `stored ${keyPem}`, { pem: keyPem, password: 'pw123' })],
      transcriptText: `> AT+KPRIVKSTORE=0,${keyPem.length}\r\n< CONNECT\r\n${keyPem}+++\r\n< OK\r\n> AT+SRWSTACFG="lab","wifi-secret",1\r\n`,
      transcriptJson: { lines: [{ text: keyPem }] },
      verdicts: [{ evidence: [keyPem] }],
      meta: { clientKey: keyPem, passphrase: 'open-sesame' },
      certs: [
        { name: 'client', pem: certPem },
        { name: 'client-key', pem: keyPem },
      ],
    });
    const text = await allText(dir);
    for (const line of keyLines) {
      for (let i = 0; i + 16 <= line.length; i += 16) expect(text).not.toContain(line.slice(i, i + 16));
    }
    expect(text).not.toContain(Buffer.from(keyLines[1]!.slice(0, 24)).toString('hex'));
    expect(text).not.toContain('wifi-secret');
    expect(text).not.toContain('open-sesame');
    expect(text).not.toContain('pw123');
    expect(text).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY/);
    expect(text).toMatch(/\[REDACTED PRIVATE KEY: \d+ bytes, sha256 [0-9a-f]{64}\]/);
    // What is not secret stays readable.
    expect(text).toContain('AT+KPRIVKSTORE=0,');
    expect(text).toContain(certPem.trim());
    expect(await readdir(dir)).not.toContain(EVIDENCE_FILES.keylog);
  });

  test('includeSecrets: true keeps the key, and a key log is written (0600) only when given', async () => {
    const dir = join(root, 'with-secrets');
    await writeEvidenceBundle(
      dir,
      { certs: [{ name: 'client-key', pem: keyPem }], keylog: 'CLIENT_RANDOM 00 11\n' },
      { includeSecrets: true },
    );
    expect(await readFile(join(dir, 'certs/client-key.pem'), 'utf8')).toBe(keyPem);
    expect(await readFile(join(dir, EVIDENCE_FILES.keylog), 'utf8')).toBe('CLIENT_RANDOM 00 11\n');
    expect((await stat(join(dir, EVIDENCE_FILES.keylog))).mode & 0o077).toBe(0);
  });

  test('rejects a certificate name that is empty once made safe, naming the field', async () => {
    await expect(
      writeEvidenceBundle(join(root, 'bad'), {
        certs: [
          { name: 'ok', pem: certPem },
          { name: '..', pem: certPem },
        ],
      }),
    ).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: 'certs[1].name',
    });
  });
});

describe('readEvidenceBundle', () => {
  test('keeps the head and tail of a long event list and says what it cut', async () => {
    const dir = join(root, 'long');
    const events = Array.from({ length: 50 }, (_, i) => ev(i, i % 2 ? 'at' : 'mqtt', 'x', `event ${i}`));
    await writeEvidenceBundle(dir, { events });
    await writeFile(
      join(dir, EVIDENCE_FILES.events),
      `${await readFile(join(dir, EVIDENCE_FILES.events), 'utf8')}not json\n`,
    );
    const b = await readEvidenceBundle(dir, { maxEvents: 10 });
    expect(b.eventsTotal).toBe(50);
    expect(b.events.map((e) => e.summary)).toEqual([0, 1, 2, 3, 4, 45, 46, 47, 48, 49].map((i) => `event ${i}`));
    expect(b.notes.join(' ')).toMatch(/40 of 50 events omitted/);
    expect(b.notes.join(' ')).toMatch(/1 line\(s\) of events.jsonl/);
  });

  test('cuts a long transcript to the limit (head + tail) and re-redacts a bundle written with secrets', async () => {
    const dir = join(root, 'big-transcript');
    const transcript = `START\n${'x'.repeat(10_000)}\n${keyPem}END\n`;
    await writeEvidenceBundle(
      dir,
      { transcriptText: transcript, events: [ev(1, 'at', 'c', keyPem)] },
      { includeSecrets: true },
    );
    const b = await readEvidenceBundle(dir, { maxTranscriptBytes: 2000 });
    expect(b.transcriptBytes).toBe(Buffer.byteLength(transcript));
    expect(b.transcript!.startsWith('START')).toBe(true);
    expect(b.transcript!.trimEnd().endsWith('END')).toBe(true);
    expect(b.transcript).toMatch(/bytes of transcript omitted/);
    expect(JSON.stringify(b)).not.toContain(keyLines[1]!);
    expect(b.notes.join(' ')).toMatch(/transcript cut to 2000 bytes/);
  });

  test('a missing bundle is an empty one with a note', async () => {
    const b = await readEvidenceBundle(join(root, 'nope'));
    expect(b.events).toEqual([]);
    expect(b.notes).toEqual(['no evidence bundle was written for this test']);
  });
});
