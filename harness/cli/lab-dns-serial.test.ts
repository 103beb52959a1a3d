/**
 * The lab-dns suite on a module served as hardware, through the lab's DNS responder, as a user
 * runs it: `bx-hil sim --profile 2.6.3 --dns 127.0.0.1:<port> --pty <path>` serves the virtual
 * module on a pseudo-terminal with its resolver pointed at `<port>` (what the lab's DHCP does for
 * a real module), and `bx-hil run --lab <file> --suite lab-dns` drives it over `serial:` with
 * the lab file's `network.dns.listen` at that port. The suite must start its responder there,
 * test after test on the same port, and every DNS test must pass (not skip) with the outcomes of
 * `bx-hil run --device sim:2.6.3 --suite lab-dns`.
 *
 * And the same module without `network.dns` in its lab file: every test skips, its reason naming
 * `network.dns` as the way to run it.
 *
 * With preflight: since the run includes the lab-dns suite, preflight serves `network.dns.listen`
 * itself for its DNS check (no `bx-hil dns` may hold the address the suite binds).
 *
 * Glossary: sim = a spawned `bx-hil sim`; run = a spawned `bx-hil run`; baseline = the `sim:` run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { freeUdpPort, hasTool } from '../processes.ts';
import { killCliGroups, outcomesOf, runCliRun, startSimCli } from './testing.ts';

const dir = mkdtempSync(join(tmpdir(), 'bx-hil-lab-dns-serial-'));

afterAll(async () => {
  await killCliGroups();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasTool('socat'))('the lab-dns suite over a serial port (needs socat; CI installs it)', () => {
  test(
    'a module whose DHCP names network.dns.listen resolves each scenario name through the suite responder there',
    { timeout: 300_000 }, // 5 min: two runs of one suite side by side on a loaded 2-core machine
    async () => {
      // UDP, not freePort's TCP: the responder binds this port for UDP, test after test.
      const port = await freeUdpPort();
      const pty = join(dir, 'tty-dns');
      await startSimCli(['--profile', '2.6.3', '--dns', `127.0.0.1:${port}`, '--pty', pty]);
      const lab = join(dir, 'lab-dns.yaml');
      // `localhost`: the name-based scenarios need a host name the module dials for the rig
      // (harness/cli/serial-profile.test.ts); the responder tells the module 127.0.0.1 for it.
      writeFileSync(
        lab,
        [
          'hostAddress: localhost',
          'devices:',
          `  - id: pty`,
          `    uri: serial:${pty}?baud=115200`,
          '    timing: instant',
          'network:',
          '  dns:',
          `    listen: 127.0.0.1:${port}`,
          '    names: { lab-host.bx-hil.test: 127.0.0.1 }',
          '',
        ].join('\n'),
      );
      // The same module on a second pty, in a lab file without network.dns.
      const plainPty = join(dir, 'tty-plain');
      await startSimCli(['--profile', '2.6.3', '--pty', plainPty]);
      const plainLab = join(dir, 'lab-plain.yaml');
      writeFileSync(
        plainLab,
        `hostAddress: localhost\ndevices:\n  - id: plain\n    uri: serial:${plainPty}?baud=115200\n    timing: instant\n`,
      );
      const [serial, baseline, plain] = await Promise.all([
        runCliRun(['--lab', lab, '--suite', 'lab-dns', '--out', join(dir, 'serial')]),
        runCliRun(['--device', 'sim:2.6.3', '--suite', 'lab-dns', '--out', join(dir, 'sim')]),
        runCliRun(['--lab', plainLab, '--suite', 'lab-dns', '--out', join(dir, 'plain')]),
      ]);
      expect(baseline.code, baseline.stdout + baseline.stderr).toBe(0);
      expect(serial.code, serial.stdout + serial.stderr).toBe(0);
      // Preflight checked the address by serving it, as the suite will.
      expect(serial.stdout).toMatch(/preflight ok\s+DNS responder answers at 127\.0\.0\.1:\d+/);
      const got = outcomesOf(serial.results);
      const want = outcomesOf(baseline.results);
      expect(Object.keys(want)).toHaveLength(5);
      expect(got).toEqual(want);
      // Passed through DNS over the serial path, not skipped: every DNS test ran.
      expect(Object.values(got).filter((o) => o === 'pass').length).toBeGreaterThanOrEqual(4);
      expect(Object.values(got)).not.toContain('skip');
      // Without network.dns: nothing tested, each skip says how to enable it.
      // A run that tested nothing is not a pass (docs/exit-codes.md).
      expect(plain.code, plain.stdout + plain.stderr).toBe(1);
      expect(plain.stdout + plain.stderr).toContain('no test ran');
      const skipped = plain.results?.tests ?? [];
      expect(skipped.map((t) => t.outcome)).toEqual(Object.values(want).map(() => 'skip'));
      for (const t of skipped) expect(t.skipReason).toContain('network: { dns: { listen');
      console.log(`lab-dns over a pty: ${Math.round(serial.wallMs)} ms; sim: ${Math.round(baseline.wallMs)} ms`);
    },
  );
});
