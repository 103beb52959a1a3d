/**
 * The RFC 2217 client's telnet layer without ser2net: the decoder across chunk boundaries,
 * IAC escaping, and the negotiation answers, against a scripted telnet server on 127.0.0.1:0.
 *
 * Glossary: link = our client; server = a net.Server playing ser2net byte by byte.
 */
import net from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, test } from 'vitest';
import { TelnetDecoder, telnetEscape } from './rfc2217.ts';
import { openLink, type Link } from './index.ts';

const IAC = 255;

describe('TelnetDecoder', () => {
  test('IAC IAC is one 0xFF data byte, even split across chunks', () => {
    const d = new TelnetDecoder();
    const a = d.push(Buffer.from([0x41, IAC]));
    const b = d.push(Buffer.from([IAC, 0x42]));
    expect(Buffer.concat([a.data, b.data])).toEqual(Buffer.from([0x41, 0xff, 0x42]));
    expect([...a.events, ...b.events]).toEqual([]);
  });

  test('negotiations and subnegotiations are stripped from data, wherever the chunks split', () => {
    const stream = Buffer.from([
      0x61,
      IAC,
      251,
      1,
      0x62,
      IAC,
      250,
      44,
      101,
      0,
      0,
      IAC,
      IAC,
      0x80,
      IAC,
      240,
      0x63,
      IAC,
      241,
      0x64,
    ]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new TelnetDecoder();
      const a = d.push(stream.subarray(0, cut));
      const b = d.push(stream.subarray(cut));
      expect(Buffer.concat([a.data, b.data]).toString('latin1'), `cut at ${cut}`).toBe('abcd');
      expect([...a.events, ...b.events], `cut at ${cut}`).toEqual([
        { kind: 'negotiate', verb: 251, option: 1 },
        { kind: 'subnegotiation', option: 44, payload: Buffer.from([101, 0, 0, 0xff, 0x80]) },
      ]);
    }
  });

  test('telnetEscape doubles every 0xFF and nothing else', () => {
    expect(telnetEscape(Buffer.from([1, 0xff, 2, 0xff, 0xff]))).toEqual(
      Buffer.from([1, 0xff, 0xff, 2, 0xff, 0xff, 0xff, 0xff]),
    );
    const plain = Buffer.from('AT\r');
    expect(telnetEscape(plain)).toBe(plain);
  });
});

describe('negotiation with a scripted telnet server', () => {
  let server: net.Server | undefined;
  let link: Link | undefined;
  afterEach(async () => {
    link?.destroy();
    link = undefined;
    if (server) await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
  });

  /** A server that agrees to everything we offer, offers ECHO and TTYPE, and acks COM-PORT. */
  async function fakeSer2net(record: Buffer[]): Promise<number> {
    server = net.createServer((s) => {
      s.on('error', () => undefined);
      // WILL ECHO (1), DO TERMINAL-TYPE (24): both must be refused.
      s.write(Buffer.from([IAC, 251, 1, IAC, 253, 24]));
      const dec = new TelnetDecoder();
      s.on('data', (chunk: Buffer) => {
        record.push(chunk);
        const { events } = dec.push(chunk);
        for (const e of events) {
          if (e.kind === 'negotiate' && e.verb === 251) s.write(Buffer.from([IAC, 253, e.option])); // WILL x -> DO x
          if (e.kind === 'negotiate' && e.verb === 253) s.write(Buffer.from([IAC, 251, e.option])); // DO x -> WILL x
          if (e.kind === 'subnegotiation' && e.option === 44) {
            // Echo the value back as the server's answer (command + 100), escaped.
            const answer = telnetEscape(Buffer.concat([Buffer.from([e.payload[0]! + 100]), e.payload.subarray(1)]));
            s.write(Buffer.concat([Buffer.from([IAC, 250, 44]), answer, Buffer.from([IAC, 240])]));
          }
        }
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return (server.address() as net.AddressInfo).port;
  }

  test('refuses ECHO and TERMINAL-TYPE, sends the URI settings as COM-PORT commands', async () => {
    const record: Buffer[] = [];
    const port = await fakeSer2net(record);
    // 0xFF in the baud rate value (65535 = 0x0000FFFF) exercises IAC escaping inside SB.
    link = await openLink(`rfc2217://127.0.0.1:${port}?baud=65535&databits=7&parity=even&stopbits=2&rtscts=1`);
    const sent = Buffer.concat(record);
    const has = (bytes: number[]): boolean => sent.includes(Buffer.from(bytes));
    expect(has([IAC, 251, 44])).toBe(true); // WILL COM-PORT-OPTION
    expect(has([IAC, 254, 1])).toBe(true); // DONT ECHO
    expect(has([IAC, 252, 24])).toBe(true); // WONT TERMINAL-TYPE
    expect(has([IAC, 250, 44, 1, 0, 0, IAC, IAC, IAC, IAC, IAC, 240])).toBe(true); // SET-BAUDRATE 65535
    expect(has([IAC, 250, 44, 2, 7, IAC, 240])).toBe(true); // SET-DATASIZE 7
    expect(has([IAC, 250, 44, 3, 3, IAC, 240])).toBe(true); // SET-PARITY EVEN
    expect(has([IAC, 250, 44, 4, 2, IAC, 240])).toBe(true); // SET-STOPSIZE 2
    expect(has([IAC, 250, 44, 5, 3, IAC, 240])).toBe(true); // SET-CONTROL hardware flow
    // Our WILL/DO offers were answered in kind: no answer may be re-sent (no negotiation loop).
    const count = (verb: number, option: number): number =>
      sent.filter((b, i) => b === IAC && sent[i + 1] === verb && sent[i + 2] === option).length;
    expect(count(251, 44)).toBe(1); // WILL COM-PORT-OPTION
    expect(count(251, 0)).toBe(1); // WILL BINARY
    expect(count(253, 0)).toBe(1); // DO BINARY
    expect(count(251, 3)).toBe(1); // WILL SGA
    await link.setSignals!({ dtr: true, rts: false });
    const after = Buffer.concat(record);
    expect(after.includes(Buffer.from([IAC, 250, 44, 5, 8, IAC, 240]))).toBe(true); // DTR ON
    expect(after.includes(Buffer.from([IAC, 250, 44, 5, 12, IAC, 240]))).toBe(true); // RTS OFF
    await link.close();
  });
});

describe('telnet escaping properties (fast-check)', () => {
  test('decode(escape(bytes)) is the identity, however the stream is chunked', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.array(fc.nat({ max: 600 }), { maxLength: 8 }),
        (bytes, cuts) => {
          const wire = telnetEscape(Buffer.from(bytes));
          const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
          const d = new TelnetDecoder();
          const out: Buffer[] = [];
          let prev = 0;
          for (const p of [...points, wire.length]) {
            const { data, events } = d.push(wire.subarray(prev, p));
            expect(events).toEqual([]);
            out.push(data);
            prev = p;
          }
          expect(Buffer.concat(out).equals(Buffer.from(bytes))).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});
