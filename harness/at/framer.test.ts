/**
 * Boundary tests of the AT framers (docs/STYLE.md §3): chunks that split CRLF, a URC, the CONNECT
 * prompt; responses split at every byte boundary; all 256 byte values; counted inline data.
 */
import { describe, expect, test } from 'vitest';
import { AtFramer, DelimiterFramer, LineFramer, finalKindOf, type Frame } from './framer.ts';

function feed(framer: DelimiterFramer, chunks: (string | Buffer)[]): Frame[] {
  const out: Frame[] = [];
  for (const c of chunks) out.push(...framer.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c));
  out.push(...framer.flush());
  return out;
}

const texts = (frames: Frame[]): string[] => frames.map((f) => f.text).filter((t) => t !== '');
const rawOf = (frames: Frame[]): Buffer => Buffer.concat(frames.map((f) => f.raw));

const RESPONSE =
  'AT+KMQTTCFG=0,"h",1883,4,"id"\r\r\n+KMQTTCFG: 1\r\n\r\n+KMQTT_IND: 1,1\r\n\r\nOK\r\n\r\nCONNECT\r\n\r\n+CME ERROR: 910\r\nREADY\r\n';
const RESPONSE_LINES = [
  'AT+KMQTTCFG=0,"h",1883,4,"id"',
  '+KMQTTCFG: 1',
  '+KMQTT_IND: 1,1',
  'OK',
  'CONNECT',
  '+CME ERROR: 910',
  'READY',
];

describe('LineFramer', () => {
  test('CRLF, bare CR and bare LF all end a line; empty lines come out empty', () => {
    const frames = feed(new LineFramer(), ['a\r\nb\rc\nd\r\n']);
    expect(frames.map((f) => f.text)).toEqual(['a', 'b', 'c', 'd']);
  });

  test('a response split at every single byte boundary gives the same lines and loses no byte', () => {
    const whole = Buffer.from(RESPONSE, 'latin1');
    for (let i = 0; i <= whole.length; i++) {
      const frames = feed(new AtFramer(), [whole.subarray(0, i), whole.subarray(i)]);
      expect(texts(frames), `split at ${i}`).toEqual(RESPONSE_LINES);
      expect(rawOf(frames).equals(whole), `raw at ${i}`).toBe(true);
    }
  });

  test('one byte per chunk gives the same lines', () => {
    const chunks = [...Buffer.from(RESPONSE, 'latin1')].map((b) => Buffer.from([b]));
    const frames = feed(new AtFramer(), chunks);
    expect(texts(frames)).toEqual(RESPONSE_LINES);
    expect(rawOf(frames).toString('latin1')).toBe(RESPONSE);
  });

  test('a CRLF split across chunks: the CR ends the line at once and the LF is swallowed, not an extra line', () => {
    const f = new LineFramer();
    expect(f.push(Buffer.from('OK\r')).map((x) => x.text)).toEqual(['OK']);
    const next = f.push(Buffer.from('\nREADY\r\n'));
    expect(next.map((x) => x.text)).toEqual(['READY']);
    expect(next[0]!.raw.toString('latin1')).toBe('\nREADY\r\n');
  });

  test('a URC split in the middle is held back until its line end', () => {
    const f = new AtFramer();
    expect(texts(f.push(Buffer.from('\r\n+KMQTT_')))).toEqual([]);
    expect(f.pending).toBe(7);
    expect(texts(f.push(Buffer.from('IND: 1,1\r\n')))).toEqual(['+KMQTT_IND: 1,1']);
  });

  test('the CONNECT prompt split across chunks, then data-mode echo of +++ split too', () => {
    const frames = feed(new AtFramer(), ['\r\nCON', 'NECT\r', '\n', '+', '++', '\r\nOK\r\n']);
    expect(texts(frames)).toEqual(['CONNECT', '+++', 'OK']);
  });

  test('all 256 byte values survive (latin1 in, same bytes out)', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 0x0a && b !== 0x0d));
    const frames = feed(new LineFramer(), [
      Buffer.from('+X: '),
      all.subarray(0, 100),
      all.subarray(100),
      Buffer.from('\r\n'),
    ]);
    expect(frames).toHaveLength(1);
    expect(Buffer.from(frames[0]!.text, 'latin1').equals(Buffer.concat([Buffer.from('+X: '), all]))).toBe(true);
  });

  test('flush hands out the unterminated tail once', () => {
    const f = new LineFramer();
    expect(f.push(Buffer.from('OK\r\npart'))).toHaveLength(1);
    expect(f.flush()).toEqual([{ text: 'part', raw: Buffer.from('part'), terminated: false }]);
    expect(f.flush()).toEqual([]);
  });

  test('a run longer than maxFrameBytes is cut into an unterminated frame', () => {
    const f = new LineFramer({ maxFrameBytes: 8 });
    const out = f.push(Buffer.from('0123456789'));
    expect(out).toEqual([{ text: '0123456789', raw: Buffer.from('0123456789'), terminated: false }]);
    expect(f.pending).toBe(0);
  });

  test('constructor checks throw TypeError naming the option', () => {
    expect(() => new LineFramer({ maxFrameBytes: 0 })).toThrow(/"maxFrameBytes"/);
    expect(() => new DelimiterFramer({ delimiter: '' })).toThrow(/"delimiter"/);
    expect(() => new DelimiterFramer({} as never)).toThrow(TypeError);
    expect(() => new AtFramer({ countedPrefixes: ['x' as never] })).toThrow(/"countedPrefixes"/);
  });
});

describe('DelimiterFramer', () => {
  test('a multi-byte delimiter crossing a chunk boundary', () => {
    const f = new DelimiterFramer({ delimiter: '--EOF--' });
    expect(f.push(Buffer.from('abc--E'))).toEqual([]);
    expect(f.push(Buffer.from('OF--def')).map((x) => x.text)).toEqual(['abc']);
    expect(f.flush().map((x) => x.text)).toEqual(['def']);
  });
});

describe('AtFramer counted inline data', () => {
  test('+KTCP_DATA with CR/LF inside its counted bytes stays one frame at every split', () => {
    const s = '\r\n+KTCP_DATA: 1,6,ab\r\ncd\r\n\r\nOK\r\n';
    const whole = Buffer.from(s, 'latin1');
    for (let i = 0; i <= whole.length; i++) {
      const frames = feed(new AtFramer(), [whole.subarray(0, i), whole.subarray(i)]);
      expect(texts(frames), `split at ${i}`).toEqual(['+KTCP_DATA: 1,6,ab\r\ncd', 'OK']);
    }
  });

  test('a plain LineFramer would split the same bytes (the variant is what keeps them)', () => {
    expect(texts(feed(new LineFramer(), ['+KTCP_DATA: 1,6,ab\r\ncd\r\n']))).toEqual(['+KTCP_DATA: 1,6,ab', 'cd']);
  });
});

describe('finalKindOf', () => {
  test('classifies final results and CONNECT, nothing else', () => {
    expect(finalKindOf('OK')).toEqual({ kind: 'OK' });
    expect(finalKindOf('ERROR')).toEqual({ kind: 'ERROR' });
    expect(finalKindOf('CONNECT')).toEqual({ kind: 'CONNECT' });
    expect(finalKindOf('+CME ERROR: 917')).toEqual({ kind: 'CME', cmeCode: 917 });
    expect(finalKindOf('+CME ERROR: invalid index')).toEqual({ kind: 'CME', cmeCode: -1, cmeText: 'invalid index' });
    expect(finalKindOf('+KMQTTCFG: 1')).toBeUndefined();
    expect(finalKindOf('OK ')).toBeUndefined();
    expect(finalKindOf('READY')).toBeUndefined();
  });
});
