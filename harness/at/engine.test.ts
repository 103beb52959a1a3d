/**
 * AtEngine against a scripted link (harness/link/scripted.ts) and in-memory pairs.
 *
 * Glossary: "module" = whatever plays the BX310x on the far side of the link (a script here);
 * "engine" = the AtEngine under test.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { EvidenceBus, EvidenceRecorder } from '../evidence.ts';
import { lineTimeMs, memoryLinkPair, pacedMemoryLinkPair, scriptedLink, type ScriptedLink } from '../link/index.ts';
import { AtEngine, type AtEngineOptions } from './engine.ts';
import type { AtError, CmeError } from './errors.ts';
import { rejection } from './testing.ts';
import type { Urc } from './urc.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(opts: AtEngineOptions = {}): { s: ScriptedLink; at: AtEngine } {
  const s = scriptedLink();
  const at = new AtEngine(s.link, opts);
  cleanups.push(
    () => at.close(),
    () => s.link.close(),
  );
  return { s, at };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('commands and final results', () => {
  test('OK with information lines, echo off', async () => {
    const { s, at } = setup();
    s.expectWrite('AT+KMQTTCFG=0,"h",1883,4,"id"\r').respond('\r\n+KMQTTCFG: 1\r\n\r\nOK\r\n');
    const r = await at.command('AT+KMQTTCFG=0,"h",1883,4,"id"');
    expect(r).toEqual({ command: 'AT+KMQTTCFG=0,"h",1883,4,"id"', lines: ['+KMQTTCFG: 1'], final: 'OK' });
    expect(at.echo).toBe(false);
    s.assertDone();
  });

  test('echo on: the echoed command line is dropped, not taken as a response', async () => {
    const { s, at } = setup();
    s.expectWrite('ATI\r').respond('ATI\r\r\nBX3105\r\n\r\nOK\r\n');
    s.expectWrite('AT+CGMR\r').respond('AT+CGMR\r\r\n2.6.3\r\n\r\nOK\r\n');
    expect((await at.command('ATI')).lines).toEqual(['BX3105']);
    expect(at.echo).toBe(true);
    expect((await at.command('AT+CGMR')).lines).toEqual(['2.6.3']);
  });

  test('plain ERROR rejects AtCommandError (BXHIL_AT_ERROR) with the command', async () => {
    const { s, at } = setup();
    s.expectWrite('AT+KMQTTPUB=?\r').respond('\r\nERROR\r\n');
    const err = await rejection(at.command('AT+KMQTTPUB=?'));
    expect(err.code).toBe('BXHIL_AT_ERROR');
    expect((err as unknown as { command: string }).command).toBe('AT+KMQTTPUB=?');
  });

  test('+CME ERROR rejects CmeError with the code, its meaning and the command', async () => {
    const { s, at } = setup();
    s.expectWrite('AT+KMQTTCLOSE=2\r').respond('\r\n+CME ERROR: 910\r\n');
    const err = (await rejection(at.command('AT+KMQTTCLOSE=2'))) as CmeError;
    expect(err.code).toBe('BXHIL_CME');
    expect(err.cmeCode).toBe(910);
    expect(err.meaning).toBe('bad session ID');
    expect(err.command).toBe('AT+KMQTTCLOSE=2');
  });

  test('verbose +CME ERROR: <text> is a final result too (CmeError, cmeCode -1, the text as meaning)', async () => {
    const { s, at } = setup();
    s.expectWrite('AT+X\r').respond('\r\n+CME ERROR: invalid index\r\n');
    const err = (await rejection(at.command('AT+X', { timeoutMs: 1000 }))) as CmeError;
    expect(err.code).toBe('BXHIL_CME');
    expect(err.cmeCode).toBe(-1);
    expect(err.meaning).toBe('invalid index');
  });

  test('a command with CR in it is refused before sending', async () => {
    const { s, at } = setup();
    const err = await rejection(at.command('AT\rAT'));
    expect(err.code).toBe('BXHIL_CONFIG');
    expect(s.writes).toHaveLength(0);
  });
});

describe('echo edge cases', () => {
  test('an answer line that merely ends like the command is not taken as echo (echo off)', async () => {
    const { s, at } = setup();
    s.expectWrite('AT+X\r').respond('\r\nVALUE AT+X\r\nOK\r\n');
    expect((await at.command('AT+X')).lines).toEqual(['VALUE AT+X']);
  });

  test('an echo behind line noise is still recognised (and the noise marks a resync)', async () => {
    const { s, at } = setup();
    s.expectWrite('ATI\r').respond('\x00\xffATI\r\r\nBX3105\r\nOK\r\n');
    expect((await at.command('ATI')).lines).toEqual(['BX3105']);
    expect(at.echo).toBe(true);
    expect(at.needsResync).toBe(true);
  });
});

describe('unexpected CONNECT', () => {
  test('CONNECT to command() rejects AtProtocolError; the next command escapes with guarded +++ and resyncs', async () => {
    const { s, at } = setup({ escapeGuardMs: 10 });
    s.expectWrite('AT+KCERTSTORE=0\r').respond('\r\nCONNECT\r\n');
    s.expectWrite('+++').respond('\r\nOK\r\n');
    s.expectWrite('AT\r').respond('\r\nOK\r\n');
    s.expectWrite('ATI\r').respond('\r\nBX3105\r\nOK\r\n');
    const err = await rejection(at.command('AT+KCERTSTORE=0'));
    expect(err.code).toBe('BXHIL_AT_PROTOCOL');
    expect(at.inDataMode).toBe(true);
    expect((await at.command('ATI')).lines).toEqual(['BX3105']);
    expect(at.inDataMode).toBe(false);
    s.assertDone();
  });

  test('a CONNECT arriving after its command timed out: the next command escapes data mode before AT', async () => {
    const { s, at } = setup({ escapeGuardMs: 5 });
    s.expectWrite('AT+KCERTSTORE=0,3\r');
    s.expectWrite('+++').respond('\r\nOK\r\n');
    s.expectWrite('AT\r').respond('\r\nOK\r\n');
    s.expectWrite('ATI\r').respond('\r\nBX3105\r\nOK\r\n');
    const err = await rejection(at.dataMode('AT+KCERTSTORE=0,3', 'abc', { guardTimeMs: 1, timeoutMs: 30 }));
    expect(err.code).toBe('BXHIL_AT_TIMEOUT');
    s.emitData('\r\nCONNECT\r\n');
    expect(at.inDataMode).toBe(true);
    expect((await at.command('ATI')).lines).toEqual(['BX3105']);
    s.assertDone();
  });

  test('OK where CONNECT was due rejects AtProtocolError without sending data', async () => {
    const { s, at } = setup();
    s.expectWrite('AT+KCERTSTORE=0,3\r').respond('\r\nOK\r\n');
    expect((await rejection(at.dataMode('AT+KCERTSTORE=0,3', 'abc', { guardTimeMs: 0 }))).code).toBe(
      'BXHIL_AT_PROTOCOL',
    );
    expect(s.written().toString('latin1')).toBe('AT+KCERTSTORE=0,3\r');
  });
});

describe('URCs', () => {
  test('URCs inside a response go to subscribers and never into the lines', async () => {
    const { s, at } = setup();
    const seen: Urc[] = [];
    at.onUrc((u) => seen.push(u));
    s.expectWrite('AT+KCERTSTORE?\r').respond(
      '\r\n+KCERTSTORE\r\n+KMQTT_IND: 1,4\r\nroot_cert,0,5\r\n+KMQTT_DATA: 1,"a/b","x,y"\r\nABCDE\r\n\r\nOK\r\n',
    );
    const r = await at.command('AT+KCERTSTORE?');
    expect(r.lines).toEqual(['+KCERTSTORE', 'root_cert,0,5', 'ABCDE']);
    expect(seen.map((u) => [u.name, u.params])).toEqual([
      ['+KMQTT_IND', [1, 4]],
      ['+KMQTT_DATA', [1, 'a/b', 'x,y']],
    ]);
  });

  test("an information line carrying the in-flight command's prefix belongs to it; the same prefix idle is delivered as a URC", async () => {
    const { s, at } = setup();
    const seen: string[] = [];
    at.onUrc((u) => seen.push(u.line));
    s.expectWrite('AT+SRWSTASTATUS?\r').respond('\r\n+SRWSTASTATUS: 1,"ssid"\r\nOK\r\n');
    expect((await at.command('AT+SRWSTASTATUS?')).lines).toEqual(['+SRWSTASTATUS: 1,"ssid"']);
    s.emitData('\r\n+SRWSTASTATUS: 0,8\r\n');
    expect(seen).toEqual(['+SRWSTASTATUS: 0,8']);
  });

  test('legacy +KMQTTSUB: "t","m" is a URC even while AT+KMQTTSUB is in flight', async () => {
    const { s, at } = setup();
    const seen: Urc[] = [];
    at.onUrc((u) => seen.push(u));
    s.expectWrite('AT+KMQTTSUB=1,"t",0\r').respond('\r\n+KMQTTSUB: "t","retained"\r\nOK\r\n');
    expect((await at.command('AT+KMQTTSUB=1,"t",0')).lines).toEqual([]);
    expect(seen.map((u) => u.params)).toEqual([['t', 'retained']]);
  });

  test('expect waits for the NEXT matching URC; with since it also sees earlier ones', async () => {
    const { s, at } = setup();
    const mark = at.marker();
    s.emitData('\r\n+KMQTT_IND: 1,1\r\n');
    const fromMark = await at.expect(/^\+KMQTT_IND: 1,1/, { since: mark, timeoutMs: 1000 });
    expect(fromMark.params).toEqual([1, 1]);
    const next = at.expect('+KMQTT_IND: 1,', { timeoutMs: 1000 });
    s.emitData('\r\n+KMQTT_IND: 1,4\r\n');
    expect((await next).params).toEqual([1, 4]);
  });

  test('expect timeout names the pattern, the time waited and the transcript tail', async () => {
    const { s, at } = setup();
    s.emitData('\r\n+KMQTT_IND: 1,0\r\n');
    const err = await rejection(at.expect(/\+KMQTT_IND: 1,1/, { timeoutMs: 50 }));
    expect(err.code).toBe('BXHIL_AT_TIMEOUT');
    const t = err as unknown as { command: string; waitedMs: number; transcriptTail: string };
    expect(t.command).toContain('KMQTT_IND: 1,1');
    expect(t.waitedMs).toBeGreaterThanOrEqual(45);
    expect(t.transcriptTail).toContain('+KMQTT_IND: 1,0');
  });

  test('urcs() iterates URCs and ends on close', async () => {
    const { s, at } = setup();
    const it = at.urcs();
    s.emitData('\r\nREADY\r\n\r\n+KTCP_NOTIF: 1,4\r\n');
    expect((await it.next()).value?.name).toBe('READY');
    expect((await it.next()).value?.params).toEqual([1, 4]);
    const pending = it.next();
    await at.close();
    expect((await pending).done).toBe(true);
  });
});

describe('chunking', () => {
  test('a response split at every byte boundary is parsed the same', async () => {
    const response = 'AT+KMQTTCFG?\r\r\n+KMQTTCFG: 1,"b",1883,4,"c",60,1,0,,,0,0,,\r\n+KMQTT_IND: 1,1\r\n\r\nOK\r\n';
    for (let i = 1; i < response.length; i++) {
      const { s, at } = setup();
      const urcs: string[] = [];
      at.onUrc((u) => urcs.push(u.line));
      s.expectWrite('AT+KMQTTCFG?\r');
      const p = at.command('AT+KMQTTCFG?');
      await tick();
      s.emitData(response.slice(0, i));
      s.emitData(response.slice(i));
      const r = await p;
      expect(r.lines, `split at ${i}`).toEqual(['+KMQTTCFG: 1,"b",1883,4,"c",60,1,0,,,0,0,,']);
      expect(urcs, `split at ${i}`).toEqual(['+KMQTT_IND: 1,1']);
      await at.close();
    }
  });

  test('all 256 byte values in an information line come through unchanged', async () => {
    const { link, device } = memoryLinkPair();
    const at = new AtEngine(link);
    cleanups.push(
      () => at.close(),
      () => link.close(),
    );
    const payload = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 10 && b !== 13));
    device.on('data', () => device.write(Buffer.concat([Buffer.from('\r\n+X: '), payload, Buffer.from('\r\nOK\r\n')])));
    const r = await at.command('AT+X');
    expect(Buffer.from(r.lines[0]!, 'latin1').equals(Buffer.concat([Buffer.from('+X: '), payload]))).toBe(true);
  });
});

describe('one command in flight', () => {
  test('concurrent callers are serialised: the next command is written only after the previous final result', async () => {
    const { s, at } = setup();
    const order: string[] = [];
    s.onWrite((c) => order.push(`w:${c.toString('latin1').trim()}`));
    s.expectWrite('AT+A\r').respond('\r\nOK\r\n', { delayMs: 20 });
    s.expectWrite('AT+B\r').respond('\r\n+B: 2\r\nOK\r\n', { delayMs: 5 });
    s.expectWrite('AT+C\r').respond('\r\nERROR\r\n');
    const a = at.command('AT+A').then((r) => (order.push('a'), r));
    const b = at.command('AT+B').then((r) => (order.push('b'), r));
    const c = rejection(at.command('AT+C')).then((e) => (order.push('c'), e));
    await Promise.all([a, b, c]);
    expect(order).toEqual(['w:AT+A', 'a', 'w:AT+B', 'b', 'w:AT+C', 'c']);
    expect((await b).lines).toEqual(['+B: 2']);
    expect((await c).code).toBe('BXHIL_AT_ERROR');
  });
});

describe('timeouts, resets, resync', () => {
  test('timeout (fake timers): AtTimeoutError with command, waitedMs, tail; no timer left', async () => {
    vi.useFakeTimers();
    const { s, at } = setup({ now: () => Date.now() });
    s.expectWrite('AT+KMQTTCNX=1\r').respond('\r\n+KMQ');
    const p = rejection(at.command('AT+KMQTTCNX=1', { timeoutMs: 5000 }));
    await vi.advanceTimersByTimeAsync(4999);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    const err = (await p) as unknown as { code: string; command: string; waitedMs: number; transcriptTail: string };
    expect(err.code).toBe('BXHIL_AT_TIMEOUT');
    expect(err.command).toBe('AT+KMQTTCNX=1');
    expect(err.waitedMs).toBe(5000);
    expect(err.transcriptTail).toContain('> AT+KMQTTCNX=1<CR>');
    expect(err.transcriptTail).toContain('+KMQ');
    expect(vi.getTimerCount()).toBe(0);
    expect(at.needsResync).toBe(true);
  });

  test('a short timeout after a long one still fires on time (shared deadline timer re-arms earlier)', async () => {
    const { s, at } = setup();
    s.expectWrite('AT+A\r').respond('\r\nOK\r\n');
    s.expectWrite('AT+B\r');
    await at.command('AT+A', { timeoutMs: 60_000 });
    const t0 = Date.now();
    const err = await rejection(at.command('AT+B', { timeoutMs: 40 }));
    expect(err.code).toBe('BXHIL_AT_TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  test('a long timeout after a short one is not cut short (fake timers)', async () => {
    vi.useFakeTimers();
    const { s, at } = setup({ now: () => Date.now() });
    s.expectWrite('AT+A\r').respond('\r\nOK\r\n');
    s.expectWrite('AT+B\r');
    await at.command('AT+A', { timeoutMs: 100 });
    let settled = false;
    const p = rejection(at.command('AT+B', { timeoutMs: 1000 })).finally(() => (settled = true));
    await vi.advanceTimersByTimeAsync(500); // past A's old deadline
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(500);
    expect((await p).code).toBe('BXHIL_AT_TIMEOUT');
  });

  test('a timeout names the transcript file when one is written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bxhil-at-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'dev0.at.txt');
    const { s, at } = setup({ transcriptPath: path });
    s.expectWrite('AT+KMQTTCNX=1\r');
    const err = (await rejection(at.command('AT+KMQTTCNX=1', { timeoutMs: 30 }))) as AtError & {
      transcriptPath?: string;
    };
    expect(err.transcriptPath).toBe(path);
    expect(err.message).toContain(path);
    expect(readFileSync(path, 'utf8')).toContain('> AT+KMQTTCNX=1<CR>');
  });

  test('after a timeout the next command first resynchronises with AT until OK', async () => {
    const { s, at } = setup({ resyncTimeoutMs: 100 });
    s.expectWrite('AT+SLOW\r');
    s.expectWrite('AT\r'); // first resync attempt unanswered
    s.expectWrite('AT\r').respond('\r\nOK\r\n');
    s.expectWrite('AT+FMM\r').respond('\r\nBX310x\r\nOK\r\n');
    expect((await rejection(at.command('AT+SLOW', { timeoutMs: 50 }))).code).toBe('BXHIL_AT_TIMEOUT');
    expect((await at.command('AT+FMM')).lines).toEqual(['BX310x']);
    s.assertDone();
  });

  test('garbage while idle makes the next command resync first', async () => {
    const { s, at } = setup();
    s.emitData('\x00\xff#garbage!\r\n');
    expect(at.needsResync).toBe(true);
    s.expectWrite('AT\r').respond('\r\nOK\r\n');
    s.expectWrite('ATI\r').respond('\r\nBX3105\r\nOK\r\n');
    expect((await at.command('ATI')).lines).toEqual(['BX3105']);
    s.assertDone();
  });

  test('a module that never answers: ONE AtResyncError after bounded attempts (AT, AT, guarded +++, AT)', async () => {
    const { s, at } = setup({ resyncAttempts: 2, resyncTimeoutMs: 30, escapeGuardMs: 5 });
    s.emitData('garbage\r\n');
    s.expectWrite('AT\r').times(2);
    s.expectWrite('+++');
    s.expectWrite('AT\r');
    const err = await rejection(at.command('ATI'));
    expect(err.code).toBe('BXHIL_AT_RESYNC');
    expect((err as unknown as { attempts: number }).attempts).toBe(3);
    s.assertDone();
  });

  test('a module stuck in data mode (a previous run died mid-upload) is recovered by the guarded +++', async () => {
    const { s, at } = setup({ resyncAttempts: 1, resyncTimeoutMs: 30, escapeGuardMs: 5 });
    s.emitData('garbage\r\n');
    s.expectWrite('AT\r'); // taken as data by the module: no answer
    s.expectWrite('+++').respond('\r\nOK\r\n');
    s.expectWrite('AT\r').respond('\r\nOK\r\n');
    s.expectWrite('ATI\r').respond('\r\nBX3105\r\nOK\r\n');
    expect((await at.command('ATI')).lines).toEqual(['BX3105']);
    s.assertDone();
  });

  test('resyncEscape: false gives up after the AT attempts alone', async () => {
    const { s, at } = setup({ resyncAttempts: 1, resyncTimeoutMs: 30, resyncEscape: false });
    s.emitData('garbage\r\n');
    s.expectWrite('AT\r');
    expect((await rejection(at.command('ATI'))).code).toBe('BXHIL_AT_RESYNC');
    s.assertDone();
  });

  test('READY in the middle of a command fails it at once with ModuleResetError', async () => {
    const { s, at } = setup();
    s.expectWrite('AT+KMQTTCNX=1\r').respond('\r\nREADY\r\n');
    const started = Date.now();
    const err = await rejection(at.command('AT+KMQTTCNX=1', { timeoutMs: 5000 }));
    expect(err.code).toBe('BXHIL_AT_RESET');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('with expectReset, READY completes AT+RST and can be awaited with since', async () => {
    const { s, at } = setup();
    s.expectWrite('AT+RST\r').respond('\r\nOK\r\n').thenEmit('\r\nREADY\r\n', { delayMs: 10 });
    const mark = at.marker();
    await at.command('AT+RST', { expectReset: true });
    const ready = await at.expect('READY', { since: mark, timeoutMs: 1000 });
    expect(ready.name).toBe('READY');
  });

  test('the link going away mid-command rejects with the link error', async () => {
    const { s, at } = setup();
    s.expectWrite('ATI\r');
    const p = rejection(at.command('ATI'));
    await tick();
    s.disconnect();
    const err = await p;
    expect(err.code).toBe('BXHIL_LINK_DISCONNECTED');
    expect((await rejection(at.command('ATI'))).code).toBe('BXHIL_LINK_DISCONNECTED');
  });
});

describe('data mode', () => {
  test('CONNECT, data, guard time, +++ without CR, guard time, OK (fake timers)', async () => {
    vi.useFakeTimers();
    const { s, at } = setup({ now: () => Date.now() });
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    s.expectWrite(`AT+KCERTSTORE=0,${pem.length}\r`).respond('\r\nCONNECT\r\n');
    const data = s.expectWrite(pem);
    const end = s.expectWrite('+++').respond('\r\nOK\r\n');
    s.expectWrite('AT+KCERTSTORE?\r').respond('\r\n+KCERTSTORE\r\nOK\r\n');
    const p = at.dataMode(`AT+KCERTSTORE=0,${pem.length}`, pem, { guardTimeMs: 1500 });
    await vi.advanceTimersByTimeAsync(1499);
    expect(data.done).toBe(true);
    expect(end.done).toBe(false); // the guard time is kept before +++
    await vi.advanceTimersByTimeAsync(1);
    expect(end.done).toBe(true);
    expect((await p).final).toBe('OK');
    // The next command waits out the guard time after +++ too.
    const t0 = Date.now();
    const next = at.command('AT+KCERTSTORE?');
    await vi.advanceTimersByTimeAsync(1500);
    await next;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
    expect(s.written().toString('latin1')).toBe(`AT+KCERTSTORE=0,${pem.length}\r${pem}+++AT+KCERTSTORE?\r`);
    s.assertDone();
  });

  test('ERROR after +++ names the upload, not the quoting, as the cause', async () => {
    const { s, at } = setup();
    s.expectWrite('AT+KCERTSTORE=0,3\r').respond('\r\nCONNECT\r\n');
    s.expectWrite('abc');
    s.expectWrite('+++').respond('\r\nERROR\r\n');
    const err = await rejection(at.dataMode('AT+KCERTSTORE=0,3', 'abc', { guardTimeMs: 1 }));
    expect(err.code).toBe('BXHIL_AT_ERROR');
    expect(err.message).toMatch(/line endings/);
  });

  test('over a link paced at 115200 baud: every byte arrives and the data phase takes the line time', async () => {
    const { link, device } = pacedMemoryLinkPair({ baudRate: 115_200 });
    const at = new AtEngine(link);
    cleanups.push(
      () => at.close(),
      () => link.close(),
    );
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 256));
    let got = Buffer.alloc(0);
    let command = '';
    device.on('data', (chunk: Buffer) => {
      if (!command.endsWith('\r')) {
        // The command line (it may arrive in slices); nothing else comes before CONNECT.
        command += chunk.toString('latin1');
        if (command.endsWith('\r')) device.write('\r\nCONNECT\r\n');
        return;
      }
      got = Buffer.concat([got, chunk]);
      if (got.subarray(-3).toString('latin1') === '+++') device.write('\r\nOK\r\n');
    });
    const t0 = performance.now();
    await at.dataMode('AT+KCERTSTORE=0,1000', data, { guardTimeMs: 20 });
    const elapsed = performance.now() - t0;
    expect(got.subarray(0, -3).equals(data)).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(lineTimeMs(1000, 115_200) * 0.9);
  });

  test('paced chunks and a custom end pattern', async () => {
    const { s, at } = setup();
    s.expectWrite('AT+KCERTSTORE=0,10\r').respond('CONNECT\r\n');
    s.expectWrite('0123456789');
    s.expectWrite('--EOF--Pattern--').respond('OK\r\n');
    const writes: string[] = [];
    s.onWrite((c) => writes.push(c.toString('latin1')));
    await at.dataMode('AT+KCERTSTORE=0,10', '0123456789', {
      chunkSize: 4,
      chunkDelayMs: 5,
      guardTimeMs: 10,
      endPattern: '--EOF--Pattern--',
    });
    expect(writes).toEqual(['AT+KCERTSTORE=0,10\r', '0123', '4567', '89', '--EOF--Pattern--']);
  });

  test('a CME error instead of CONNECT rejects and sends no data', async () => {
    const { s, at } = setup();
    s.expectWrite('AT+KCERTSTORE=1\r').respond('\r\n+CME ERROR: 917\r\n');
    const err = (await rejection(at.dataMode('AT+KCERTSTORE=1', 'x', { guardTimeMs: 0 }))) as CmeError;
    expect(err.cmeCode).toBe(917);
    expect(s.written().toString('latin1')).toBe('AT+KCERTSTORE=1\r');
  });

  test('a secret upload reaches neither the transcript nor the bus: only length and sha256', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bxhil-at-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const bus = new EvidenceBus();
    const rec = new EvidenceRecorder(bus);
    const path = join(dir, 'transcript.txt');
    const { s, at } = setup({ bus, transcriptPath: path });
    const key = '-----BEGIN RSA PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END RSA PRIVATE KEY-----\n';
    s.expectWrite(`AT+KPRIVKSTORE=0,${key.length}\r`).respond('\r\nCONNECT\r\n');
    s.expectWrite(key);
    s.expectWrite('+++').respond('\r\nOK\r\n');
    await at.dataMode(`AT+KPRIVKSTORE=0,${key.length}`, key, { secret: true, guardTimeMs: 5 });
    const text = at.transcript.toText();
    expect(text).toMatch(new RegExp(`<<secret: ${key.length} bytes, sha256=[0-9a-f]{64}>>`));
    expect(text).not.toContain('SECRETKEYMATERIAL');
    expect(readFileSync(path, 'utf8')).toBe(text);
    expect(JSON.stringify(rec.events)).not.toContain('SECRETKEYMATERIAL');
    expect(JSON.stringify(at.transcript.toJSON())).not.toContain('SECRETKEYMATERIAL');
    expect(rec.events.find((e) => e.kind === 'data')?.summary).toContain('<<secret:');
  });

  test('registered secrets (passwords) are redacted both ways and in errors', async () => {
    const bus = new EvidenceBus();
    const rec = new EvidenceRecorder(bus);
    const { s, at } = setup({ bus });
    at.addSecret('hunter2');
    s.expectWrite('AT+KMQTTCFG=0,"h",1,4,"c",60,1,0,,,0,0,"u","hunter2"\r').respond('\r\n+CME ERROR: 916\r\n');
    const err = (await rejection(at.command('AT+KMQTTCFG=0,"h",1,4,"c",60,1,0,,,0,0,"u","hunter2"'))) as CmeError;
    expect(err.command).toContain('<<redacted>>');
    expect(err.message).not.toContain('hunter2');
    expect(at.transcript.toText()).not.toContain('hunter2');
    expect(JSON.stringify(rec.events)).not.toContain('hunter2');
  });
});

describe('evidence and transcript', () => {
  test('command, line, final and urc events with source at; transcript text format', async () => {
    const bus = new EvidenceBus();
    const rec = new EvidenceRecorder(bus);
    const { s, at } = setup({ bus, scope: 'dev0' });
    s.expectWrite('AT+KMQTTCNX=1\r').respond('\r\nOK\r\n').thenEmit('\r\n+KMQTT_IND: 1,0\r\n');
    const mark = at.marker();
    await at.command('AT+KMQTTCNX=1');
    await at.expect('+KMQTT_IND: 1,', { since: mark, timeoutMs: 1000 });
    expect(rec.events.map((e) => [e.source, e.kind, e.summary])).toEqual([
      ['at', 'command', 'AT+KMQTTCNX=1'],
      ['at', 'final', 'OK'],
      ['at', 'urc', '+KMQTT_IND: 1,0'],
    ]);
    expect(rec.events.every((e) => e.scope === 'dev0')).toBe(true);
    expect(rec.events[2]!.data).toEqual({ name: '+KMQTT_IND', params: [1, 0] });
    const lines = at.transcript.toText().split('\n');
    expect(lines[0]).toMatch(/^\[ +\+\d+\.\d{3} ms\] > AT\+KMQTTCNX=1<CR>$/);
    expect(lines[1]).toMatch(/^\[ +\+\d+\.\d{3} ms\] < <CR><LF>OK<CR><LF>$/);
  });
});

describe('close', () => {
  test('close rejects queued commands, clears timers and is idempotent; no handle left', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const { s, at } = setup();
    s.expectWrite('AT+WAIT\r');
    const inFlight = rejection(at.command('AT+WAIT', { timeoutMs: 60_000 }));
    const queued = rejection(at.command('AT+NEXT'));
    const expecting = rejection(at.expect('+NEVER', { timeoutMs: 60_000 }));
    await tick();
    await at.close();
    await at.close();
    expect((await inFlight).code).toBe('BXHIL_AT_CLOSED');
    expect((await queued).code).toBe('BXHIL_AT_CLOSED');
    expect((await expecting).code).toBe('BXHIL_AT_CLOSED');
    expect(s.link.listenerCount('data')).toBe(0);
    await s.link.close();
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(before);
  });
});
