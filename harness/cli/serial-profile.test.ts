/**
 * A real device runs with its firmware's profile, checked end to end as a user would:
 * `bx-hil sim --profile <p> --pty <path>` serves the virtual module on a pseudo-terminal (socat),
 * `bx-hil run --lab <file>` drives it through the serial path like a bench module, and the
 * outcomes per test id must be exactly those of `bx-hil run --device sim:<p>`: capability skips
 * as skips, the known issue as an expected failure, 0 failed. Also over `tcp://`: a module whose
 * AT+CGMR matches no profile runs against `reference` and says so once; a lab file's `firmware:`
 * or `profile:` that contradicts the module fails preflight with exit 1 and no suite run.
 *
 * Cost: the serial runs use the hardware upload guard (1 s each side of `+++`), so the two suites
 * take about 4 min per profile but little CPU; the two profiles run side by side. Every child is
 * spawned in its own process group and killed (group and all) in afterAll.
 *
 * Glossary: sim = a spawned `bx-hil sim`; run = a spawned `bx-hil run`; baseline = the `sim:` run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { hasTool, killOnExit } from '../processes.ts';
import type { RunResults } from '../report/index.ts';
import { simListening } from '../sim/testing.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin/bx-hil.js');
const dir = mkdtempSync(join(tmpdir(), 'bx-hil-serial-profile-'));
const START_MS = 60_000; // tsx loads every command: slow on a busy 2-core machine
const SUITES = ['cert-upload', 'mqtt'];

const children = new Set<ChildProcess>();

function spawnGroup(args: string[]): ChildProcess {
  // detached: its own process group, so a `bx-hil run` is killed with its Vitest workers.
  const child = killOnExit(
    spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true }),
  );
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // the group is gone already
  }
}

afterAll(async () => {
  await Promise.all(
    [...children].map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const t = setTimeout(() => killGroup(c, 'SIGKILL'), 5_000);
          c.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          killGroup(c, 'SIGTERM');
        }),
    ),
  );
  rmSync(dir, { recursive: true, force: true });
});

/** Start `bx-hil sim` and wait for its one "listening" line; returns its TCP port. */
function startSim(args: string[]): Promise<number> {
  return simListening(spawnGroup(['sim', ...args]), START_MS).then((s) => s.port);
}

/** Run `bx-hil run` to its end: exit code, output and the results it wrote. */
function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; results?: RunResults }> {
  const out = args[args.indexOf('--out') + 1]!;
  const child = spawnGroup(['run', ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      let results: RunResults | undefined;
      try {
        results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as RunResults;
      } catch {
        results = undefined;
      }
      resolve({ code, stdout, stderr, ...(results ? { results } : {}) });
    });
  });
}

const outcomes = (r: RunResults | undefined): Record<string, string> =>
  Object.fromEntries((r?.tests ?? []).map((t) => [t.id, t.outcome]));

describe.skipIf(!hasTool('socat'))(
  'a module on a serial port runs with its firmware profile (needs socat; CI installs it)',
  () => {
    // Both profiles side by side: the serial runs mostly wait on guard times.
    test.concurrent.for(['2.6.3', 'legacy'])(
      '%s over a pty gives exactly the outcomes of the same profile as sim:',
      { timeout: 900_000 }, // 15 min: two suites with the hardware guard times, on a loaded machine
      async (profile) => {
        const pty = join(dir, `tty-${profile}`);
        await startSim(['--profile', profile, '--pty', pty]);
        // Wi-Fi credentials, as a bench has them: the will test drops and rejoins Wi-Fi.
        const lab = join(dir, `lab-${profile}.yaml`);
        writeFileSync(lab, `devices:\n  - id: pty\n    uri: serial:${pty}\n    wifi: { ssid: lab, password: "pw" }\n`);
        const [serial, baseline] = await Promise.all([
          run(['--lab', lab, '--suite', ...SUITES, '--out', join(dir, `serial-${profile}`)]),
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
