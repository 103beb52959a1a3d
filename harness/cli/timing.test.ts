/**
 * `bx-hil timing` as a user runs it (a child process): the printed block parses back as a lab
 * file's timing block, a module that goes silent ends with exit 1 naming the step within a
 * bound, a lab file's device is picked by --device-id. The bad-input rows are in
 * docs/exit-codes.md (run by exit-codes.test.ts).
 *
 * Glossary: the module is `sim:2.6.3` or, for the silent case, a TCP responder on 127.0.0.1 that
 * answers AT and the identity commands and then nothing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { loadLabFile } from '../run/index.ts';
import { parseTiming } from '../timing.ts';
import { killCliChildren, runCli } from './testing.ts';

afterAll(killCliChildren);

/** stdout without the progress lines (stderr, interleaved by runCli, all start `bx-hil timing:`). */
const stdoutOf = (out: string): string =>
  out
    .split('\n')
    .filter((l) => !l.startsWith('bx-hil timing:') && !l.startsWith('bx-hil: warning'))
    .join('\n');

describe('bx-hil timing', () => {
  let server: Server | undefined;
  const dirs: string[] = [];
  afterEach(() => {
    server?.close();
    server = undefined;
  });
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('prints a timing: block that parseTiming accepts, with a source tag per measured value', async () => {
    const { code, out } = await runCli(['timing', '--device', 'sim:2.6.3', '--samples', '1']);
    expect(code, out).toBe(0);
    const text = stdoutOf(out);
    expect(text).toMatch(/^# bx-hil timing: sim:2\.6\.3 \(BX3105, firmware 2\.6\.3\)$/m);
    expect(text).toMatch(/^# flash: skipped: needs --allow-writes/m);
    // What was not measured is said, with the matched profile's value and its tag.
    expect(text).toMatch(/^#   bootMs: 1500 \[guess\] /m);
    expect(text).not.toMatch(/^#   mqtt\.connackMs:/m);
    const doc = parse(text) as { timing: Record<string, unknown> & { sources: Record<string, string> } };
    const t = parseTiming(doc.timing, 'timing');
    expect(t.mqtt.connackMs).toBeGreaterThanOrEqual(0);
    expect(doc.timing.sources['mqtt.connackMs']).toMatch(/^\[measured \d{4}-\d{2}-\d{2} fw 2\.6\.3\]$/);
    // Left out, not guessed: nothing was measured for boot without --allow-writes.
    expect(doc.timing).not.toHaveProperty('bootMs');
    // Pasted as printed (comments too) under a real device of a lab file, it validates there,
    // over the profile's realistic block.
    const dir = mkdtempSync(join(tmpdir(), 'bx-timing-'));
    dirs.push(dir);
    const lab = join(dir, 'lab.yaml');
    const indented = text.replace(/^(?=.)/gm, '    ');
    writeFileSync(lab, `devices:\n  - id: bench-1\n    uri: tcp://127.0.0.1:1\n    profile: "2.6.3"\n${indented}`);
    const device = (await loadLabFile(lab)).devices[0]!;
    expect(device.timing).toEqual({ block: doc.timing });
  }, 60_000);

  test('--json prints the whole measurement', async () => {
    const { code, out } = await runCli(['timing', '--device', 'sim:2.6.3', '--samples', '1', '--json']);
    expect(code, out).toBe(0);
    const m = JSON.parse(stdoutOf(out)) as { firmware: string; steps: Array<{ name: string }>; block: unknown };
    expect(m.firmware).toBe('2.6.3');
    expect(m.steps.map((s) => s.name)).toEqual(['open', 'line', 'flash', 'boot', 'wifi', 'mqtt', 'tls']);
    expect(() => parseTiming(m.block)).not.toThrow();
  }, 60_000);

  test('a module that stops answering: exit 1 naming the step, within a bound', async () => {
    server = createServer((socket) => {
      let buf = '';
      socket.on('data', (chunk) => {
        buf += chunk.toString('latin1');
        for (let cr = buf.indexOf('\r'); cr >= 0; cr = buf.indexOf('\r')) {
          const cmd = buf.slice(0, cr).trim();
          buf = buf.slice(cr + 1);
          const answers: Record<string, string> = {
            AT: '',
            ATI: 'BX3105\r\n',
            'AT+CGMR': '2.6.3\r\n',
            'AT+FMM': 'BX310x\r\n',
          };
          if (cmd in answers) socket.write(`\r\n${answers[cmd]}\r\nOK\r\n`);
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const started = performance.now();
    const { code, out } = await runCli(['timing', '--device', `tcp://127.0.0.1:${port}`, '--timeout', '300'], 60_000);
    expect(code, out).toBe(1);
    expect(out).toMatch(/stopped at step "line": AT\+KCERTSTORE\?/);
    // What was measured before is still printed, and parses.
    expect(() => parseTiming((parse(stdoutOf(out)) as { timing: unknown }).timing)).not.toThrow();
    expect(performance.now() - started).toBeLessThan(45_000);
  }, 60_000);

  test('--lab with --device-id picks the device; an unknown id is bad input in one line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bx-timing-'));
    dirs.push(dir);
    const lab = join(dir, 'lab.yaml');
    writeFileSync(lab, 'devices:\n  - id: a\n    uri: sim:2.6.3\n  - id: b\n    uri: sim:legacy\n');
    const bad = await runCli(['timing', '--lab', lab, '--device-id', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.out.trim().split('\n')).toHaveLength(1);
    expect(bad.out).toMatch(/--device-id nope: no such device .*\(a, b\)/);
    const several = await runCli(['timing', '--lab', lab]);
    expect(several.code).toBe(2);
    expect(several.out).toMatch(/lists 2 devices: name one with --device-id/);
    const ok = await runCli(['timing', '--lab', lab, '--device-id', 'b', '--samples', '1']);
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toMatch(/^# bx-hil timing: sim:legacy /m);
  }, 90_000);
});
