/**
 * The transcript: escaping, tail, bounded memory, secrets.
 */
import { describe, expect, test } from 'vitest';
import { Transcript, escapeBytes } from './transcript.ts';

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
    expect(t.toText()).toMatch(/^\[\.\.\. \d+ earlier entries dropped \.\.\.\]/);
  });

  test('secrets: a secret write keeps only length and sha256; registered strings are redacted even in earlier entries', () => {
    const t = new Transcript();
    t.tx('AT+SRWSTACFG="lab","hunter2"\r');
    const marker = t.txSecret(Buffer.from('-----BEGIN PRIVATE KEY-----'));
    expect(marker).toMatch(/^<<secret: 27 bytes, sha256=[0-9a-f]{64}>>$/);
    t.addSecret('hunter2');
    expect(t.toText()).not.toContain('hunter2');
    expect(t.toText()).toContain('"lab","<<redacted>>"');
    expect(t.toText()).not.toContain('PRIVATE');
    expect(JSON.stringify(t.toJSON())).not.toContain('hunter2');
  });
});
