/**
 * `bx-hil probe` as a user runs it (glossary: "module" = the virtual BX310x the command probes;
 * "draft" = the profile it writes). The draft must load where profiles load: `sim:<file>` and
 * `bx-hil sim --profile <file>`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { EvidenceBus } from '../evidence.ts';
import { killOnExit } from '../processes.ts';
import { timingSame, valueAt } from '../probe/index.ts';
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

  test('the timing block: measured from a realistic module whose boot was slowed, within tolerance, the boot in the diff', async () => {
    // 2.6.3's realistic block with one value changed on purpose: the probe must find it.
    const module = join(dir, 'slow-boot.json');
    writeFileSync(
      module,
      JSON.stringify({
        extends: '2.6.3',
        name: 'slow-boot',
        timing: { bootMs: 4000, sources: { bootMs: '[test] 1500 -> 4000 on purpose' } },
      }),
    );
    const model = loadProfile(module).timing;
    const base = loadProfile('2.6.3');
    const out = join(dir, 'slow.json');
    const r = await inProcess({
      device: `sim:${module}?timing=realistic`,
      base: '2.6.3',
      out,
      allowWrites: true,
      samples: '1',
      json: true,
    });
    expect(r.code, r.err).toBe(0);
    const data = JSON.parse(r.out);
    const measured: Array<{ field: string; value: number }> = data.timing.measured;
    expect(measured.map((v) => v.field)).toEqual(
      expect.arrayContaining(['line.baudRate', 'bootMs', 'flash.perItemMs', 'mqtt.connackMs', 'tls.keyExchangeMs']),
    );
    // The changed value, and only it, is a timing difference: everything else is within the
    // tolerance of the model (which is also 2.6.3's block).
    const timingDiffs = data.differences.filter((d: { field: string }) => d.field.startsWith('timing.'));
    expect(timingDiffs.map((d: { field: string }) => d.field)).toEqual(['timing.bootMs']);
    expect(timingDiffs[0].base).toBe(1500);
    expect(timingDiffs[0].words).toMatch(
      /^a boot \(AT\+RST: OK -> READY\) takes [\d.]+ ms where 2\.6\.3 says 1500 ms$/,
    );
    // The draft: measured values within tolerance of the model, tagged by the probe; the rest
    // (Wi-Fi: no credentials) as in the base, with the base's tag.
    const draft = loadProfile(out);
    for (const { field, value } of measured) {
      const want = valueAt(model, field) as number;
      expect(valueAt(draft.timing, field)).toBe(value);
      expect(timingSame(field, value, want), `${field}: drafted ${value}, modelled ${want}`).toBe(true);
      expect(draft.timing.sources[field]).toMatch(/^\[probe \d{4}-\d\d-\d\d fw 2\.6\.3\] \S/);
    }
    expect(draft.timing.wifi.joinMs).toBe(base.timing.wifi.joinMs);
    expect(draft.timing.sources['wifi.joinMs']).toBe(base.timing.sources['wifi.joinMs']);
    // The evidence file holds the measurement's figures.
    const evidence = JSON.parse(readFileSync(join(dir, 'slow.evidence.json'), 'utf8'));
    expect(evidence.timing.values.find((v: { field: string }) => v.field === 'bootMs')).toMatchObject({
      base: 1500,
      same: false,
    });
    expect(evidence.timing.measurement.steps.find((s: { name: string }) => s.name === 'boot').detail).toMatch(
      /^AT\+RST: OK -> READY [\d.]+ ms$/,
    );

    // --no-timing: nothing measured, the draft keeps the base's timing block.
    const skipped = await inProcess({
      device: 'sim:2.6.3',
      base: '2.6.3',
      out: join(dir, 'untimed.json'),
      timing: false,
    });
    expect(skipped.code, skipped.err).toBe(0);
    expect(skipped.out).not.toMatch(/timing/);
    expect(loadProfile(join(dir, 'untimed.json')).timing).toEqual(base.timing);
  }, 120_000);

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
    await expect(probeCommand({ device: 'sim:2.6.3', out, samples: '0' })).rejects.toMatchObject({
      field: '--samples',
    });
    expect(existsSync(out)).toBe(false);
  });

  test('a module that goes silent during the timing measurement: exit 1, the timing step named, the draft written', async () => {
    const bus = new EvidenceBus();
    const module = createVirtualModule({ profile: '2.6.3', bus });
    // Without --allow-writes and a host address the probe's steps never read AT+KCERTSTORE?;
    // the timing measurement's line step reads it first.
    bus.subscribe((e) => {
      if (e.source === 'sim' && e.kind === 'command' && e.summary.startsWith('AT+KCERTSTORE'))
        module.setFaults({ dropRate: 1, direction: 'tx' });
    });
    const server = await serveModule(module, { port: 0 });
    const out = join(dir, 'timing-silent.json');
    try {
      const r = await inProcess({ device: server.url, out, samples: '1' });
      expect(r.code, r.out + r.err).toBe(1);
      expect(r.err).toMatch(/timing stopped at step line: .*AT\+KCERTSTORE\?/);
      expect(r.err).not.toMatch(/stopped at step (identity|framing|params|read-forms|mqtt)/);
      const draft = loadProfile(out);
      expect(draft.sources['keys.readForm']).toMatch(/^\[probe /);
      // Nothing was measured: the base's timing, with its tags.
      expect(draft.timing).toEqual(loadProfile('2.6.3').timing);
      const evidence = JSON.parse(readFileSync(join(dir, 'timing-silent.evidence.json'), 'utf8'));
      expect(evidence.failedStep).toBeUndefined();
      expect(evidence.timing.measurement.failed.name).toBe('line');
    } finally {
      await server.close();
      await module.close();
    }
  }, 60_000);

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
