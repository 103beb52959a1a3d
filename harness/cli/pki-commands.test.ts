/**
 * The pki commands of the CLI: `bx-hil scenarios`, `bx-hil certs`, `bx-hil doctor`. Each command
 * module is registered on its own commander program with an in-memory io (no process exit),
 * plus one run of the real `bin/bx-hil.js` for the exit code and the absence of stack traces.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { scenarios } from '../pki/index.ts';
import { runTool } from '../processes.ts';
import * as certsCmd from './certs.ts';
import * as doctorCmd from './doctor.ts';
import type { CliIo } from './doctor.ts';
import * as scenariosCmd from './scenarios.ts';

const CLI_TIMEOUT_MS = 60_000;

interface Captured {
  out: string;
  err: string;
  code?: number;
}

async function run(mod: { register(p: Command, io: CliIo): void }, args: string[]): Promise<Captured> {
  const cap: Captured = { out: '', err: '' };
  const io: CliIo = {
    out: (t) => void (cap.out += t),
    err: (t) => void (cap.err += t),
    exit: (c) => void (cap.code = c),
  };
  const program = new Command('bx-hil').exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  mod.register(program, io);
  try {
    await program.parseAsync(['node', 'bx-hil', ...args]);
  } catch (err) {
    cap.code = (err as { exitCode?: number }).exitCode ?? 1;
  }
  return cap;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bx-hil-cli-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('bx-hil scenarios', () => {
  test('lists every id with its expected outcome', async () => {
    const r = await run(scenariosCmd, ['scenarios']);
    expect(r.code).toBe(0);
    for (const s of scenarios) expect(r.out).toMatch(new RegExp(`^${s.id}\\s+${s.expected}\\s`, 'm'));
  });

  test('--json prints the entries as a JSON array', async () => {
    const r = await run(scenariosCmd, ['scenarios', '--json']);
    expect(JSON.parse(r.out)).toEqual(JSON.parse(JSON.stringify(scenarios)));
  });

  test('an unknown --category is bad input (exit 2)', async () => {
    const r = await run(scenariosCmd, ['scenarios', '--category', 'nope']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('server-cert');
  });
});

describe('bx-hil certs', () => {
  test('writes the scenario files, keys with mode 0600, and never prints key material', async () => {
    const out = join(dir, 'S23');
    const r = await run(certsCmd, ['certs', '--scenario', 'S23', '--out', out, '--port', '18883']);
    expect(r.code).toBe(0);
    const names = readdirSync(out).sort();
    expect(names).toEqual(
      expect.arrayContaining([
        'README.md',
        'device-root.crt',
        'device.crt',
        'device.key',
        'server.crt',
        'server.key',
        'upload.at',
        'scenario.json',
      ]),
    );
    for (const secret of ['device.key', 'server.key', 'upload.at'])
      expect(statSync(join(out, secret)).mode & 0o777).toBe(0o600);
    expect(statSync(join(out, 'device.crt')).mode & 0o077).not.toBe(0);
    expect(r.out).not.toMatch(/PRIVATE KEY-----|[A-Za-z0-9+/]{64}/);
    expect(readFileSync(join(out, 'upload.at'), 'utf8')).toMatch(/^AT\+KMQTTCFG=1,"localhost",18883,4,/m);
    const readme = readFileSync(join(out, 'README.md'), 'utf8');
    // .bx-hil-certs is the folder's marker (docs/pki.md), not scenario material.
    expect(names).toContain('.bx-hil-certs');
    for (const n of names.filter((n) => n !== 'README.md' && n !== '.bx-hil-certs'))
      expect(readme).toContain(`\`${n}\``);
  });

  test('an unknown scenario or a bad port is bad input (exit 2)', async () => {
    expect((await run(certsCmd, ['certs', '--scenario', 'S99', '--out', join(dir, 'x')])).code).toBe(2);
    expect((await run(certsCmd, ['certs', '--scenario', 'S1', '--out', join(dir, 'x'), '--port', '0'])).code).toBe(2);
    const badHost = await run(certsCmd, ['certs', '--scenario', 'S1', '--out', join(dir, 'x'), '--host', 'not a host']);
    expect(badHost.code).toBe(2);
    expect(badHost.err).toContain('not a host');
  });
});

describe('bx-hil doctor', () => {
  test('human output and --json on generated files; exit 1 on an error finding', async () => {
    const s = join(dir, 'S23');
    const text = await run(doctorCmd, ['doctor', join(s, 'device.crt'), join(s, 'device.key')]);
    expect(text.code).toBe(1);
    expect(text.out).toMatch(/ERROR\s+KEY_CERT_MISMATCH/);
    expect(text.out).toMatch(/exit code 1\.$/m);
    const json = await run(doctorCmd, ['doctor', join(s, 'device.crt'), join(s, 'device.key'), '--json']);
    const parsed = JSON.parse(json.out) as { exitCode: number; findings: Array<{ code: string }> };
    expect(parsed.exitCode).toBe(1);
    expect(parsed.findings.map((f) => f.code)).toContain('KEY_CERT_MISMATCH');
  });

  test('--passphrase-env reads the passphrase from the environment, never from the command line', async () => {
    const out = join(dir, 'D6');
    await run(certsCmd, ['certs', '--scenario', 'D6', '--out', out]);
    const pass = readFileSync(join(out, 'device.key.passphrase'), 'utf8').trim();
    const without = await run(doctorCmd, ['doctor', join(out, 'device.key')]);
    expect(without.code).toBe(2);
    expect(without.err).toContain('--passphrase-env');
    process.env.BXHIL_TEST_PASS = pass;
    try {
      const withPass = await run(doctorCmd, ['doctor', join(out, 'device.key'), '--passphrase-env', 'BXHIL_TEST_PASS']);
      expect(withPass.out).toContain('KEY_ENCRYPTED');
      expect(withPass.out + withPass.err).not.toContain(pass);
    } finally {
      delete process.env.BXHIL_TEST_PASS;
    }
    expect(
      (await run(doctorCmd, ['doctor', join(out, 'device.key'), '--passphrase-env', 'BXHIL_UNSET_VAR'])).code,
    ).toBe(2);
  });

  test('bad options are bad input (exit 2)', async () => {
    const f = join(dir, 'S23', 'device.crt');
    expect((await run(doctorCmd, ['doctor', f, '--clock', 'yesterday'])).code).toBe(2);
    expect((await run(doctorCmd, ['doctor'])).code).toBe(2);
    expect((await run(doctorCmd, ['doctor', f, '--profile', join(dir, 'missing.json')])).code).toBe(2);
  });

  test(
    'the real CLI: bad input gives one line per file on stderr, no stack trace, exit code 2',
    async () => {
      const empty = join(dir, 'empty.pem');
      writeFileSync(empty, '');
      const junk = join(dir, 'junk.bin');
      writeFileSync(junk, Buffer.from([0, 1, 2, 3, 255]));
      const bin = new URL('../../bin/bx-hil.js', import.meta.url).pathname;
      const result = await runTool(process.execPath, [bin, 'doctor', empty, junk, dir], { timeoutMs: CLI_TIMEOUT_MS });
      expect(result.code, result.err).toBe(2);
      const lines = result.err.trim().split('\n');
      expect(lines).toHaveLength(3);
      expect(result.err).not.toMatch(/\n\s+at /);
    },
    CLI_TIMEOUT_MS,
  );
});
