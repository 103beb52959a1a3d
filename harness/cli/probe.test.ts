/**
 * `bx-hil probe` as a user runs it (glossary: "module" = the virtual BX310x the command probes;
 * "draft" = the profile it writes). The draft must load where profiles load: `sim:<file>` and
 * `bx-hil sim --profile <file>`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { EvidenceBus } from '../evidence.ts';
import { killOnExit } from '../processes.ts';
import { createVirtualModule, loadProfile, serveModule } from '../sim/index.ts';
import { simListening } from '../sim/testing.ts';
import { openTarget } from '../targets.ts';
import { probeCommand } from './probe.ts';
import { killCliChildren, runCli } from './testing.ts';

const dir = mkdtempSync(join(tmpdir(), 'bx-hil-probe-cli-'));
afterAll(() => {
  killCliChildren();
  rmSync(dir, { recursive: true, force: true });
});

/** Run `probeCommand` in this process with stdout and stderr captured. */
async function inProcess(o: Parameters<typeof probeCommand>[0]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o1 = vi.spyOn(process.stdout, 'write').mockImplementation((c) => ((out += String(c)), true));
  const o2 = vi.spyOn(process.stderr, 'write').mockImplementation((c) => ((err += String(c)), true));
  try {
    return { code: await probeCommand(o), out, err };
  } finally {
    o1.mockRestore();
    o2.mockRestore();
  }
}

describe('bx-hil probe', () => {
  test('probes sim:legacy against base 2.6.3: the differences in words, the figures, a draft that loads', async () => {
    const out = join(dir, 'legacy.json');
    const r = await runCli(['probe', '--device', 'sim:legacy', '--base', '2.6.3', '--out', out]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('differs: AT+KPRIVKSTORE? answers a list where 2.6.3 says +CME ERROR: 918');
    expect(r.out).toContain(
      'differs: an incoming message arrives as +KMQTTSUB: "<topic>",... where 2.6.3 says +KMQTT_DATA: <id>,...',
    );
    expect(r.out).toMatch(/\d+ exchanges, \d+ wire bytes .*: \d+\.\d\d s at 115200 baud/);
    const draft = loadProfile(out);
    expect(draft.keys.readForm).toBe('list');
    expect(draft.sources['keys.readForm']).toMatch(/^\[probe \d{4}-\d\d-\d\d fw 1\.3\.0\] /);
    expect(draft.sources['mqtt.payloadBytes']).toBe(loadProfile('2.6.3').sources['mqtt.payloadBytes']);
    const evidence = JSON.parse(readFileSync(join(dir, 'legacy.evidence.json'), 'utf8'));
    const decided = evidence.learned['keys.readForm'].exchanges[0];
    expect(evidence.exchanges[decided].sent).toBe('AT+KPRIVKSTORE?<CR>');

    // The draft loads as a sim: device and answers as the module did.
    const link = await openTarget(`sim:${out}`);
    try {
      let got = '';
      link.on('data', (d: Buffer) => (got += d.toString('latin1')));
      const answered = new Promise<void>((resolve) => link.on('data', () => got.includes('OK') && resolve()));
      await link.write('AT+CGMR\r');
      await answered;
      expect(got).toContain('1.3.0');
    } finally {
      await link.close();
    }

    // And with `bx-hil sim --profile`.
    const child = killOnExit(
      spawn(process.execPath, [
        fileURLToPath(new URL('../../bin/bx-hil.js', import.meta.url)),
        'sim',
        '--profile',
        out,
        '--listen',
        'tcp://127.0.0.1:0',
      ]),
    );
    try {
      const { line } = await simListening(child, 30_000);
      expect(line).toContain('(profile probe-1.3.0)');
    } finally {
      child.kill();
    }
  }, 120_000);

  test('--json gives the differences as data', async () => {
    const r = await inProcess({ device: 'sim:reference', base: '2.6.3', out: join(dir, 'ref.json'), json: true });
    expect(r.code, r.err).toBe(0);
    const data = JSON.parse(r.out);
    const fields = data.differences.map((d: { field: string }) => d.field);
    expect(fields).toEqual(
      expect.arrayContaining(['keys.readForm', 'tls.maxVersion', 'clock.settable', 'framing.lineBytes']),
    );
    expect(data.differences.find((d: { field: string }) => d.field === 'framing.lineBytes')).toMatchObject({
      probed: 2048,
      base: 1024,
    });
    expect(data.wire.exchanges).toBeGreaterThan(50);
  }, 60_000);

  test('bad input is refused in one ConfigError naming the flag, before anything is opened', async () => {
    const out = join(dir, 'bad.json');
    await expect(probeCommand({ device: 'sim:2.6.3', out, base: 'nope' })).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: '--base',
    });
    await expect(probeCommand({ device: 'sim:2.6.3', out: join(dir, 'no', 'such', 'p.json') })).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: '--out',
    });
    await expect(probeCommand({ device: 'sim:2.6.3?bogus=1', out })).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: '--device',
    });
    await expect(probeCommand({ device: 'sim:2.6.3', out, slots: 'key:0', allowWrites: true })).rejects.toMatchObject({
      field: '--slots',
    });
    await expect(probeCommand({ device: 'sim:2.6.3', out, slots: 'local:1' })).rejects.toMatchObject({
      field: '--slots',
    });
    expect(existsSync(out)).toBe(false);
  });

  test('a module that goes silent mid-probe: exit 1, the step named, the partial draft written', async () => {
    const bus = new EvidenceBus();
    const module = createVirtualModule({ profile: '2.6.3', bus });
    // The module stops answering at the first AT+KMQTTCFG (the params step).
    bus.subscribe((e) => {
      if (e.source === 'sim' && e.kind === 'command' && e.summary.startsWith('AT+KMQTTCFG'))
        module.setFaults({ dropRate: 1, direction: 'tx' });
    });
    const server = await serveModule(module, { port: 0 });
    const out = join(dir, 'silent.json');
    try {
      const r = await inProcess({ device: server.url, out });
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/stopped at step params: step params: no answer to AT\+KMQTTCFG=/);
      const draft = loadProfile(out);
      expect(draft.sources['framing.lineBytes']).toMatch(/^\[probe /);
      expect(draft.sources['keys.readForm']).not.toMatch(/^\[probe /);
      const evidence = JSON.parse(readFileSync(join(dir, 'silent.evidence.json'), 'utf8'));
      expect(evidence.failedStep).toBe('params');
    } finally {
      await server.close();
      await module.close();
    }
  }, 60_000);
});
