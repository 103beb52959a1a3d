/**
 * URC registry and AT parameter parsing.
 */
import { describe, expect, test } from 'vitest';
import { UrcRegistry, commandPrefix, defaultUrcRegistry, linePrefix, parseParams } from './urc.ts';

describe('parseParams', () => {
  test('numbers, quoted strings, unquoted strings and empty fields', () => {
    expect(parseParams('1,"broker",1883,4,"test_id",60,1,0,,,0,0,,')).toEqual([
      1,
      'broker',
      1883,
      4,
      'test_id',
      60,
      1,
      0,
      '',
      '',
      0,
      0,
      '',
      '',
    ]);
    expect(parseParams('0,euler,,-1')).toEqual([0, 'euler', '', -1]);
    expect(parseParams('')).toEqual([]);
  });

  test('commas inside quotes do not split; a stray quote inside a quoted field does not derail it', () => {
    expect(parseParams('1,"a/b","x,y"')).toEqual([1, 'a/b', 'x,y']);
    expect(parseParams('1,"t","say "hi" now"')).toEqual([1, 't', 'say "hi" now']);
    expect(parseParams('1,"t","{"a":1,"b":2}"')).toEqual([1, 't', '{"a":1,"b":2}']);
  });

  test('an unterminated quote takes the rest of the line', () => {
    expect(parseParams('1,"open')).toEqual([1, 'open']);
  });

  test('very long digit runs stay strings (no precision loss)', () => {
    expect(parseParams('12345678901234567890')).toEqual(['12345678901234567890']);
  });
});

describe('prefixes', () => {
  test('linePrefix and commandPrefix', () => {
    expect(linePrefix('+KMQTT_IND: 1,4')).toBe('+KMQTT_IND');
    expect(linePrefix('READY')).toBe('READY');
    expect(commandPrefix('AT+KMQTTCFG=1,"h"')).toBe('+KMQTTCFG');
    expect(commandPrefix('at+kcertstore?')).toBe('+KCERTSTORE');
    expect(commandPrefix('ATI')).toBeUndefined();
    expect(commandPrefix('AT&F')).toBeUndefined();
  });
});

describe('UrcRegistry', () => {
  const reg = defaultUrcRegistry();

  test('matches registered URCs, bare words exactly', () => {
    expect(reg.match('+KMQTT_IND: 1,1')?.name).toBe('+KMQTT_IND');
    expect(reg.match('READY')?.name).toBe('READY');
    expect(reg.match('READY NOW')).toBeUndefined();
    expect(reg.match('+KMQTT_INDX: 1')).toBeUndefined();
    expect(reg.match('+KMQTTCFG: 1')).toBeUndefined();
  });

  test("the in-flight command's own prefix wins, except alwaysUrc (legacy +KMQTTSUB)", () => {
    expect(reg.match('+SRWSTASTATUS: 1,"x"', '+SRWSTASTATUS')).toBeUndefined();
    expect(reg.match('+SRWSTASTATUS: 1,"x"', '+KMQTTCNX')?.name).toBe('+SRWSTASTATUS');
    expect(reg.match('+KMQTTSUB: "t","m"', '+KMQTTSUB')?.name).toBe('+KMQTTSUB');
    expect(reg.match('+KMQTTSUB: 1', undefined)).toBeUndefined(); // not the quoted-topic form
  });

  test('parse gives name, params, line, seq and t', () => {
    const def = reg.match('+KMQTT_DATA: 1,"a","b"')!;
    expect(reg.parse(def, '+KMQTT_DATA: 1,"a","b"', 7, 12.5)).toEqual({
      name: '+KMQTT_DATA',
      params: [1, 'a', 'b'],
      line: '+KMQTT_DATA: 1,"a","b"',
      seq: 7,
      t: 12.5,
    });
    expect(reg.parse(reg.match('READY')!, 'READY', 1, 0).params).toEqual([]);
  });

  test('a custom registry and its checks', () => {
    const r = new UrcRegistry().register({ name: '+FOO' });
    expect(r.has('+FOO')).toBe(true);
    expect(r.names()).toEqual(['+FOO']);
    expect(() => r.register({ name: '' })).toThrow(TypeError);
  });
});
