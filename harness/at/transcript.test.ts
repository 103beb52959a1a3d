/**
 * The transcript: escaping, tail, bounded memory (by entries and by bytes, in memory and on
 * disk), secrets.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { SecretRegistry } from '../secrets.ts';
import { DEFAULT_TRANSCRIPT_MAX_BYTES, Transcript, escapeBytes } from './transcript.ts';

const dir = mkdtempSync(join(tmpdir(), 'bxhil-transcript-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An 8 KB line of printable garbage (a hostile peer's flood), numbered so the newest can be found. */
const garbageLine = (i: number): string => `${String(i).padStart(8, '0')}${'Zq7#'.repeat(2046)}\r\n`;

describe('Transcript', () => {
  test('escapes non-printables, CR, LF and <', () => {
    expect(escapeBytes('a\r\n<\x00\xff~')).toBe('a<CR><LF><x3C><x00><xFF>~');
  });

  test('text lines carry monotonic offsets and a direction', () => {
    let now = 100;
    const t = new Transcript({ now: () => now });
    now = 112.3456;
    t.tx('AT\r');
    now = 120;
    t.rx([Buffer.from('\r\n'), Buffer.from('OK\r\n')]);
    expect(t.toText()).toBe('[    +12.346 ms] > AT<CR>\n[    +20.000 ms] < <CR><LF>OK<CR><LF>\n');
    const [a, b] = t.toJSON().entries;
    expect(a!.t).toBeCloseTo(12.3456, 6);
    expect(a).toMatchObject({ dir: 'tx', text: 'AT\r' });
    expect(b).toEqual({ t: 20, dir: 'rx', text: '\r\nOK\r\n' });
  });

  test('tail is bounded and ends with the newest bytes', () => {
    const t = new Transcript();
    for (let i = 0; i < 50; i++) t.rx(`line ${i}\r\n`);
    const tail = t.tail(200);
    expect(tail.length).toBeLessThanOrEqual(201);
    expect(tail.endsWith('line 49<CR><LF>')).toBe(true);
  });

  test('memory is bounded: the oldest entries are dropped and counted', () => {
    const t = new Transcript({ maxEntries: 100 });
    for (let i = 0; i < 1000; i++) t.rx(`${i}`);
    expect(t.entries().length).toBeLessThanOrEqual(100);
    expect(t.entries().at(-1)?.text).toBe('999');
    expect(t.toJSON().dropped + t.entries().length).toBe(1000);
    expect(t.toText()).toMatch(/^\[\.\.\. \d+ earlier entries \(\d+ bytes\) dropped: /);
  });

  test('memory is bounded by bytes: a flood of 8 KB lines keeps a rolling window under maxBytes, with a marker', () => {
    const maxBytes = 1024 * 1024; // 1 MiB
    const t = new Transcript({ maxBytes });
    const lines = 2_000; // 16 MB offered
    for (let i = 0; i < lines; i++) {
      t.rx(Buffer.from(garbageLine(i), 'latin1'));
      expect(t.bytes).toBeLessThanOrEqual(maxBytes);
    }
    const kept = t.entries();
    expect(kept.at(-1)?.text?.startsWith(String(lines - 1).padStart(8, '0'))).toBe(true);
    expect(t.dropped + kept.length).toBe(lines);
    expect(t.dropped).toBeGreaterThan(lines / 2);
    const text = t.toText();
    expect(text).toMatch(
      /^\[\.\.\. \d+ earlier entries \(\d+ bytes\) dropped: the transcript keeps the last 1048576 bytes/,
    );
    expect(text.length).toBeLessThan(2 * maxBytes);
  });

  test('the default byte cap is 8 MiB', () => {
    expect(DEFAULT_TRANSCRIPT_MAX_BYTES).toBe(8 * 1024 * 1024);
    const t = new Transcript();
    for (let i = 0; i < 1_500; i++) t.rx(garbageLine(i)); // 12 MB offered
    expect(t.bytes).toBeLessThanOrEqual(DEFAULT_TRANSCRIPT_MAX_BYTES);
    expect(t.dropped).toBeGreaterThan(0);
  });

  test('the file is a rolling window too: bounded, starting with the marker, ending with the newest line', () => {
    const maxBytes = 256 * 1024; // 256 KiB
    const path = join(dir, 'flood.txt');
    const t = new Transcript({ maxBytes, path });
    for (let i = 0; i < 1_000; i++) {
      t.rx(garbageLine(i)); // 8 MB offered
      expect(statSync(path).size).toBeLessThanOrEqual(2 * maxBytes + 9_000);
    }
    const text = readFileSync(path, 'latin1');
    expect(text).toMatch(/^\[\.\.\. \d+ earlier entries \(\d+ bytes\) dropped: /);
    expect(text).toContain('00000999Zq7#');
  });

  test('maxBytes must be a positive number', () => {
    expect(() => new Transcript({ maxBytes: 0 })).toThrow(/"maxBytes"/);
  });

  test('secrets: a secret write keeps only length and sha256; registered strings are redacted even in earlier entries', () => {
    const t = new Transcript({ secrets: new SecretRegistry() });
    t.tx('AT+SRWSTACFG="lab","hunter2"\r');
    const marker = t.txSecret(Buffer.from('-----BEGIN PRIVATE KEY-----'));
    expect(marker).toMatch(/^<<secret: 27 bytes, sha256=[0-9a-f]{64}>>$/);
    t.addSecret('hunter2');
    expect(t.toText()).not.toContain('hunter2');
    expect(t.toText()).toContain('"lab","<<redacted>>"');
    expect(t.toText()).not.toContain('PRIVATE');
    expect(JSON.stringify(t.toJSON())).not.toContain('hunter2');
  });

  test("a registered password's first characters at the end of an unterminated rx entry are redacted", () => {
    const secrets = new SecretRegistry();
    const t = new Transcript({ secrets });
    t.addSecret('hunter2pass');
    t.rx('echo stopped at hunt'); // no line end: cut off inside the password
    t.rx('a hunt for bugs\r\n'); // a terminated line: "hunt" is just a word here
    const text = t.toText();
    expect(text).toContain('echo stopped at <<redacted>>');
    expect(text).toContain('a hunt for bugs');
  });
});
