/**
 * The scripted fake link: ordered expectations matched on accumulated bytes, replies, URCs,
 * data-mode runs ending in `+++`, and assertDone()'s table.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { pollUntil } from '../processes.ts';
import { scriptedLink, type ScriptedLink } from './index.ts';

function collect(s: ScriptedLink): { text(): string } {
  const chunks: Buffer[] = [];
  s.link.on('data', (c) => chunks.push(c));
  return { text: () => Buffer.concat(chunks).toString('latin1') };
}

/** Replies land on later event-loop turns with no "all delivered" event: poll every 2 ms. */
function until(cond: () => boolean, timeoutMs = 2_000): Promise<boolean> {
  return pollUntil(cond, { timeoutMs, intervalMs: 2, what: 'the scripted exchange to settle' });
}

describe('scriptedLink', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  test('a command written in pieces matches and gets its reply', async () => {
    const s = scriptedLink();
    const got = collect(s);
    s.expectWrite('AT+KMQTTCNX=1\r').respond('\r\nOK\r\n');
    await s.link.write('AT+KMQ');
    await s.link.write('TTCNX=1');
    expect(got.text()).toBe('');
    await s.link.write('\r');
    await until(() => got.text() === '\r\nOK\r\n');
    s.assertDone();
    await s.link.close();
  });

  test('two commands in one write match in order; several replies keep their order', async () => {
    const s = scriptedLink();
    const got = collect(s);
    s.expectWrite('AT\r').respond('\r\nOK\r\n');
    s.expectWrite(/AT\+KCERTSTORE=0,\d+\r/)
      .respond('\r\n')
      .respond('CONNECT\r\n', { delayMs: 5 });
    await s.link.write('AT\rAT+KCERTSTORE=0,1234\r');
    await until(() => got.text().endsWith('CONNECT\r\n'));
    expect(got.text()).toBe('\r\nOK\r\n\r\nCONNECT\r\n');
    s.assertDone();
    await s.link.close();
  });

  test('a data-mode upload: a run of bytes in many writes, then +++', async () => {
    const s = scriptedLink();
    const got = collect(s);
    const pem = `-----BEGIN CERTIFICATE-----\n${'A'.repeat(1500)}\n-----END CERTIFICATE-----\n`;
    s.expectWrite('AT+KCERTSTORE=0\r').respond('\r\nCONNECT\r\n');
    const run = s.expectWrite(pem, { label: 'the CA PEM' });
    s.expectWrite('+++').respond('\r\nOK\r\n', { delayMs: 10 });
    await s.link.write('AT+KCERTSTORE=0\r');
    for (let i = 0; i < pem.length; i += 100) await s.link.write(pem.slice(i, i + 100));
    await s.link.write('+++');
    await until(() => got.text().endsWith('OK\r\n'));
    expect(run.received[0]!.toString('latin1')).toBe(pem);
    s.assertDone();
    await s.link.close();
  });

  test('expectBytes takes any n bytes; the data and +++ may share one write', async () => {
    const s = scriptedLink();
    const run = s.expectBytes(5);
    s.expectWrite('+++').respond('\r\nOK\r\n');
    await s.link.write('hel');
    await s.link.write('lo+++');
    await until(() => run.done);
    expect(run.received[0]!.toString()).toBe('hello');
    await until(() => s.pending().length === 0);
    s.assertDone();
    await s.link.close();
  });

  test('a reply can be computed from the matched bytes; times(n) repeats', async () => {
    const s = scriptedLink();
    const got = collect(s);
    s.expectWrite(/AT\+ECHO=\w+\r/)
      .times(2)
      .respond((b) => `+ECHO: ${b.toString().slice(8, -1)}\r\n`);
    await s.link.write('AT+ECHO=ab\rAT+ECHO=cd\r');
    await until(() => got.text().includes('cd'));
    expect(got.text()).toBe('+ECHO: ab\r\n+ECHO: cd\r\n');
    s.assertDone();
    await s.link.close();
  });

  test('thenEmit sends a URC after its delay (fake timers: 0 ms replies need no timer)', async () => {
    vi.useFakeTimers();
    const s = scriptedLink();
    const got = collect(s);
    s.expectWrite('AT+KMQTTCNX=1\r').respond('\r\nOK\r\n').thenEmit('\r\n+KMQTT_IND: 1,1\r\n', { delayMs: 500 });
    await s.link.write('AT+KMQTTCNX=1\r');
    await vi.advanceTimersByTimeAsync(0);
    expect(got.text()).toBe('\r\nOK\r\n');
    expect(() => s.assertDone()).toThrow(expect.objectContaining({ code: 'BXHIL_SCRIPT_PENDING' }));
    await vi.advanceTimersByTimeAsync(499);
    expect(got.text()).toBe('\r\nOK\r\n');
    await vi.advanceTimersByTimeAsync(1);
    expect(got.text()).toBe('\r\nOK\r\n\r\n+KMQTT_IND: 1,1\r\n');
    s.assertDone();
    await s.link.close();
  });

  test('assertDone lists unconsumed expectations and unexpected writes as a table', async () => {
    const s = scriptedLink();
    const got = collect(s);
    s.expectWrite('AT+KMQTTCNX=1\r').respond('\r\nOK\r\n');
    s.expectWrite('AT+KMQTTCLOSE=1\r');
    await s.link.write('AT+WRONG\r');
    await s.link.write('AT+KMQTTCNX=1\r');
    await until(() => got.text() === '\r\nOK\r\n');
    let caught: unknown;
    try {
      s.assertDone();
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'BXHIL_SCRIPT_PENDING' });
    const err = caught as { pending: string[]; unexpected: Buffer[]; message: string };
    expect(err.unexpected.map((b) => b.toString())).toEqual(['AT+WRONG\r']);
    expect(err.pending).toHaveLength(1);
    expect(err.pending[0]).toContain('AT+KMQTTCLOSE=1');
    expect(err.message).toContain('unexpected writes (1)');
    await s.link.close();
  });

  test('a write with no expectation left is unexpected; a RegExp never matched is reported', async () => {
    const s = scriptedLink();
    await s.link.write('AT\r');
    expect(s.unexpected.map((b) => b.toString())).toEqual(['AT\r']);
    const t = scriptedLink();
    t.expectWrite(/AT\+X=\d+\r/);
    await t.link.write('AT+X=a\r');
    expect(t.pending().join('\n')).toContain('waiting for a match');
    expect(() => t.assertDone()).toThrow(expect.objectContaining({ code: 'BXHIL_SCRIPT_PENDING' }));
    await s.link.close();
    await t.link.close();
  });

  test('replies still scheduled when the link closes are reported, and their timers cleared', async () => {
    const s = scriptedLink();
    const got = collect(s);
    s.expectWrite('AT\r').thenEmit('late', { delayMs: 60_000 });
    await s.link.write('AT\r');
    await s.link.close();
    expect(got.text()).toBe('');
    expect(s.pending().join('\n')).toContain('never sent');
    expect(() => s.assertDone()).toThrow(expect.objectContaining({ code: 'BXHIL_SCRIPT_PENDING' }));
  });

  test('modemLines: false makes setSignals fail like a PTY (BXHIL_LINK_UNSUPPORTED)', async () => {
    const s = scriptedLink({ modemLines: false });
    await expect(s.link.setSignals!({ dtr: false })).rejects.toMatchObject({ code: 'BXHIL_LINK_UNSUPPORTED' });
    expect(s.signals).toEqual([]);
    await s.link.close();
  });

  test('records signals and settings; disconnect() ends the link with BXHIL_LINK_DISCONNECTED', async () => {
    const s = scriptedLink();
    await s.link.setSignals!({ dtr: false });
    await s.link.updateSettings!({ baudRate: 9600 });
    expect(s.signals).toEqual([{ dtr: false }]);
    expect(s.settings).toEqual([{ baudRate: 9600 }]);
    const closed = new Promise((r) => s.link.once('close', r));
    const pending = s.link.write('x');
    s.disconnect();
    await expect(pending).rejects.toMatchObject({ code: 'BXHIL_LINK_DISCONNECTED', disconnected: true });
    expect(await closed).toMatchObject({ code: 'BXHIL_LINK_DISCONNECTED' });
    await expect(s.link.write('y')).rejects.toMatchObject({ code: 'BXHIL_LINK_DISCONNECTED' });
  });
});

describe('scriptedLink matching properties (fast-check)', () => {
  test('a script of commands and a data run matches however the bytes are split into writes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.stringMatching(/^AT\+[A-Z]{1,8}=[0-9]{1,3}\r$/), { minLength: 1, maxLength: 5 }),
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        async (commands, run, cuts) => {
          const s = scriptedLink();
          for (const c of commands) s.expectWrite(c).respond('\r\nOK\r\n');
          const data = s.expectWrite(run);
          s.expectWrite('+++').respond('\r\nOK\r\n');
          const all = Buffer.concat([Buffer.from(commands.join(''), 'latin1'), Buffer.from(run), Buffer.from('+++')]);
          const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((a, b) => a - b);
          let prev = 0;
          for (const p of [...points, all.length]) {
            if (p > prev) await s.link.write(all.subarray(prev, p));
            prev = p;
          }
          await until(() => s.pending().length === 0, 1_000);
          expect(s.unexpected).toEqual([]);
          expect(data.received[0]!.equals(Buffer.from(run))).toBe(true);
          s.assertDone();
          await s.link.close();
        },
      ),
      { numRuns: 200 },
    );
  });
});
