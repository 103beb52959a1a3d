/**
 * Typographic quotes are found on every line and in every run: the test keeps no state between
 * calls (a shared /g regex used with .test() resumes at its lastIndex and misses the next match
 * when it sits earlier in its line).
 */
import { describe, expect, test } from 'vitest';
import { runDoctor } from './index.ts';
import { asciiQuotes, hasTypographicQuotes, stripQuotes } from './quotes.ts';

/** The quote of the first line sits far to the right; the second line's sits near its start. */
const LONG = 'AT+KMQTTCFG=1,"broker.example.com",8883,4,\u201Cdevice-1\u201D';
const SHORT = 'AT+KCERTDELETE=\u201C0\u201D';

describe('typographic quotes', () => {
  test('two consecutive lines that both have them give two findings', async () => {
    const r = await runDoctor([], { at: { name: 'q.at', data: Buffer.from(`${LONG}\r\n${SHORT}\r\n`) } });
    const lines = r.findings.filter((f) => f.code === 'TYPOGRAPHIC_QUOTES').map((f) => f.file);
    expect(lines).toEqual(['q.at:1', 'q.at:2']);
  });

  test('two consecutive runs on inputs that both have them find them both times', async () => {
    for (const text of [LONG, SHORT, SHORT]) {
      const r = await runDoctor([], { at: { name: 'q.at', data: Buffer.from(`${text}\r\n`) } });
      expect(r.findings.map((f) => f.code)).toContain('TYPOGRAPHIC_QUOTES');
    }
  });

  test('hasTypographicQuotes answers the same for the same text, call after call', () => {
    expect([LONG, SHORT, SHORT, LONG, 'AT+KMQTTCNX=1'].map(hasTypographicQuotes)).toEqual([
      true,
      true,
      true,
      true,
      false,
    ]);
  });

  test('asciiQuotes and stripQuotes turn every one of them into ASCII, or remove it', () => {
    expect(asciiQuotes('\u201Ca\u201D \u201Eb\u201F \u00ABc\u00BB \u2018d\u2019 \u201Ae\u201B')).toBe(
      `"a" "b" "c" 'd' 'e'`,
    );
    expect(stripQuotes(' \u201Chost.example\u201D ')).toBe('host.example');
    expect(stripQuotes('"host.example"')).toBe('host.example');
  });
});
