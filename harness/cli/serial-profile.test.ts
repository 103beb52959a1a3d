/**
 * A real device runs with its firmware's profile, checked end to end as a user would:
 * `bx-hil sim --profile <p> --pty <path>` serves the virtual module on a pseudo-terminal (socat),
 * `bx-hil run --lab <file>` drives it through the serial path like a bench module, and the
 * outcomes per test id must be exactly those of `bx-hil run --device sim:<p>`: capability skips
 * as skips, the known issue as an expected failure, 0 failed. Also over `tcp://`: a module whose
 * AT+CGMR matches no profile runs against `reference` and says so once; a lab file's `firmware:`
 * or `profile:` that contradicts the module fails preflight with exit 1 and no suite run.
 *
 * And the serial path at realistic timing (`bx-hil sim --timing realistic`): the module paces its
 * line at 115200 baud and takes its time for flash, TLS, CONNACK and boots; the cert-upload and
 * tls-handshake suites must give the same outcomes as on the instant `sim:2.6.3`, with no wait
 * widened to fit (the suites' waits derive from the module's timing), and each test's physical
 * floor is in the results and the report.
 *
 * Cost: the serial runs use the matched profile's upload guard (its 50 ms + 30 ms, not the
 * driver's cautious 1 s), so the two instant profiles take about a minute each side by side;
 * the realistic run takes the module's own time, a few minutes. Every child is spawned in its
 * own process group and killed (group and all) in afterAll.
 *
 * Glossary: sim = a spawned `bx-hil sim`; run = a spawned `bx-hil run`; baseline = the `sim:` run.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { hasTool } from '../processes.ts';
import type { RunResults } from '../report/index.ts';
import { floorSummary } from '../report/index.ts';
import {
  killCliGroups,
  outcomesOf as outcomes,
  runCliRun as run,
  runOverPty,
  startSimCli as startSim,
} from './testing.ts';

const dir = mkdtempSync(join(tmpdir(), 'bx-hil-serial-profile-'));
const SUITES = ['cert-upload', 'mqtt'];

afterAll(async () => {
  await killCliGroups();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasTool('socat'))(
  'a module on a serial port runs with its firmware profile (needs socat; CI installs it)',
  () => {
    // Both profiles side by side: the serial runs mostly wait on guard times.
    test.concurrent.for(['2.6.3', 'legacy'])(
      '%s over a pty gives exactly the outcomes of the same profile as sim:',
      { timeout: 600_000 }, // 10 min: two suites over a pty, side by side with the other profile, on a loaded machine
      async (profile) => {
        // Wi-Fi credentials in the lab file, as a bench has them: the will test drops and rejoins Wi-Fi.
        const [serial, baseline] = await Promise.all([
          runOverPty({ profile, dir, suites: SUITES }),
          run(['--device', `sim:${profile}`, '--suite', ...SUITES, '--out', join(dir, `sim-${profile}`)]),
        ]);
        expect(baseline.code, baseline.stdout + baseline.stderr).toBe(0);
        expect(serial.code, serial.stdout + serial.stderr).toBe(0);
        const got = outcomes(serial.results);
        const want = outcomes(baseline.results);
        expect(Object.keys(want).length).toBeGreaterThan(40);
        expect(got).toEqual(want);
        // The run says which profile, matched by the module's AT+CGMR, and the report names it.
        expect(serial.results!.devices[0]!.profile).toEqual({ name: profile, source: 'shipped', chosenBy: 'cgmr' });
        expect(serial.stdout).toContain(`pty: profile ${profile} (shipped)`);
        expect(Object.values(got)).toContain('skip');
        if (profile === '2.6.3') expect(Object.values(got)).toContain('expected-fail');
        // The same skip reasons as on the simulator.
        const reasons = (r: RunResults | undefined) =>
          Object.fromEntries((r?.tests ?? []).filter((t) => t.skipReason).map((t) => [t.id, t.skipReason]));
        expect(reasons(serial.results)).toEqual(reasons(baseline.results));
      },
    );

    test(
      '2.6.3 at realistic timing over a pty: cert-upload and tls-handshake give the outcomes of sim:2.6.3, each test with its physical floor',
      { timeout: 600_000 }, // 10 min: the module takes its time (line, flash, TLS, boots) on a loaded machine
      async () => {
        const suites = ['cert-upload', 'tls-handshake'];
        const [serial, baseline] = await Promise.all([
          runOverPty({ profile: '2.6.3', dir, name: 'realistic', timing: 'realistic', suites }),
          run(['--device', 'sim:2.6.3', '--suite', ...suites, '--out', join(dir, 'sim-realistic')]),
        ]);
        expect(baseline.code, baseline.stdout + baseline.stderr).toBe(0);
        expect(serial.code, serial.stdout + serial.stderr).toBe(0);
        const want = outcomes(baseline.results);
        const got = outcomes(serial.results);
        expect(Object.keys(want).length).toBeGreaterThan(60);
        // Over a serial port the module is hardware to the suites: a test that needs the virtual
        // module's knobs (its clock) is skipped there, saying so; every other outcome is the same.
        const simOnly = Object.keys(got).filter((id) => got[id] === 'skip' && want[id] !== 'skip');
        for (const id of simOnly)
          expect(serial.results!.tests.find((t) => t.id === id)!.skipReason).toMatch(/needs the virtual module's/);
        expect(simOnly.length).toBeLessThan(5);
        const without = (o: Record<string, string>) =>
          Object.fromEntries(Object.entries(o).filter(([id]) => !simOnly.includes(id)));
        expect(without(got)).toEqual(without(want));
        // Every test that ran carries its floor; the module's latencies make it more than the line alone.
        const ran = serial.results!.tests.filter((t) => t.outcome !== 'skip');
        expect(ran.every((t) => t.floorMs !== undefined && t.actualMs !== undefined)).toBe(true);
        const sum = floorSummary(serial.results!)!;
        expect(sum.floorMs).toBeGreaterThan(10_000);
        expect(ran.some((t) => (t.floorParts?.['tls'] ?? 0) > 0 && (t.floorParts?.['flash'] ?? 0) > 0)).toBe(true);
        // The report says it in words.
        expect(readFileSync(join(dir, 'serial-realistic', 'index.html'), 'utf8')).toMatch(/Physical floor: tests took/);
      },
    );
  },
);

describe('a module nobody characterised, and a bench that names the wrong firmware', () => {
  // Its own firmware string; the file is served by the sim but never shown to the run.
  const nobody = join(dir, 'nobody.json');
  writeFileSync(nobody, JSON.stringify({ extends: '2.6.3', name: 'nobody', identity: { cgmr: '9.9.9-nobody' } }));
  let port: Promise<number> | undefined;
  const server = () => (port ??= startSim(['--profile', nobody, '--listen', 'tcp://127.0.0.1:0']));

  test('AT+CGMR matching no profile runs against reference and says so once, in the output and the report', async () => {
    const p = await server();
    const out = join(dir, 'nobody');
    const r = await run([
      '--device',
      `tcp://127.0.0.1:${p}`,
      '--suite',
      'cert-upload',
      '--test',
      'store with LF line endings',
      '--out',
      out,
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const said = r.stdout.split('\n').filter((l) => l.includes('no profile matches firmware "9.9.9-nobody"'));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain('running against reference');
    expect(r.results!.devices[0]!.profile).toMatchObject({
      name: 'reference',
      source: 'shipped',
      chosenBy: 'fallback',
    });
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toMatch(
      /no profile matches firmware[^<]*running against reference/,
    );
  }, 180_000);

  test.for([
    ['firmware: "2.6.3"', 'firmware-expected', 'update `firmware:` or flash the build you meant'],
    ['profile: "2.6.3"', 'profile-firmware', 'or flash the build you meant'],
  ])(
    'a lab file with %s fails preflight: exit 1, both versions named, no suite run',
    { timeout: 180_000 },
    async ([field, step, fix]) => {
      const p = await server();
      const lab = join(dir, `lab-${step}.yaml`);
      writeFileSync(lab, `devices:\n  - id: nobody\n    uri: tcp://127.0.0.1:${p}\n    ${field}\n`);
      const r = await run(['--lab', lab, '--suite', 'cert-upload', '--out', join(dir, `out-${step}`)]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.results!.tests.map((t) => t.id)).toEqual([`preflight/${step}`]);
      const error = r.results!.tests[0]!.error!;
      expect(error).toContain('"9.9.9-nobody"');
      expect(error).toContain('"2.6.3"');
      expect(error).toContain(fix);
      expect(r.stdout).not.toMatch(/^\s+(PASS|FAIL|SKIP)\s/m);
    },
  );
});
