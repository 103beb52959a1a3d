/**
 * Typographic quotes (“ ” ‘ ’ and their kin), as web pages and word processors render ASCII
 * quotes: a KMQTTCFG line copied from a page carries them, and the module takes them as part of
 * the value (docs/reference/field-report-2.6.3.md).
 */
const DOUBLE = '\u201C\u201D\u201E\u201F\u2033\u00AB\u00BB';
const SINGLE = '\u2018\u2019\u201A\u201B\u2032';

/** Any typographic quote. No `g` flag: `.test()` keeps no `lastIndex` between calls. */
const TYPOGRAPHIC_QUOTE = new RegExp(`[${DOUBLE}${SINGLE}]`);

export function hasTypographicQuotes(text: string): boolean {
  return TYPOGRAPHIC_QUOTE.test(text);
}

/** The text with each typographic quote replaced by its ASCII counterpart. */
export function asciiQuotes(text: string): string {
  return text.replace(new RegExp(`[${DOUBLE}]`, 'g'), '"').replace(new RegExp(`[${SINGLE}]`, 'g'), "'");
}

/** The value without any quotes, ASCII or typographic (a host name as written in KMQTTCFG). */
export function stripQuotes(text: string): string {
  return text.replace(new RegExp(`[${DOUBLE}${SINGLE}"]`, 'g'), '').trim();
}
