/**
 * Output paths of every command that writes, through the real CLI in a child process (exit
 * codes and stack traces are what a user sees): checked at start with exit 2 and one line,
 * never a hang; no write through a planted symbolic link; no write nobody asked for; a reused
 * report folder starts clean. harness/files.test.ts tests the checks themselves.
 *
 * Glossary: CLI = `node bin/bx-hil.js`; marker = the file that makes a folder an earlier
 * output of ours (`.bx-hil-report`, `.bx-hil-certs`).
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { createBasicPki } from '../pki/index.ts';
import { hasTool } from '../processes.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bxhil-files-cli-'));
const children = new Set<ReturnType<typeof spawn>>();
const killChildren = () => {
  for (const c of children) c.kill('SIGKILL');
};
process.once('exit', killChildren);
afterAll(() => {
  killChildren();
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;
const fresh = (name = 'case') => join(dir, `${name}-${++n}`);

interface CliResult {
  code: number;
  out: string;
  err: string;
  /** The `until` line appeared (the child was then stopped): the command went on working. */
  reached: boolean;
  /** Killed at the bound: the command hung. */
  hung: boolean;
}

/**
 * Run the CLI. `until`: stop the child when its output matches (a server that started although
 * it should have refused). `timeoutMs`: generous bound for a loaded 2-core machine; reaching it
 * means the command hung.
 */
function cli(
  args: string[],
  options: { until?: RegExp; input?: string | Buffer; timeoutMs?: number; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'bx-hil.js'), ...args], {
      cwd: options.cwd ?? root,
      env: { ...process.env, NO_COLOR: '1' },
    });
    children.add(child);
    let out = '';
    let err = '';
    let reached = false;
    let hung = false;
    const check = () => {
      if (options.until && !reached && options.until.test(out + err)) {
        reached = true;
        child.kill('SIGKILL');
      }
    };
    child.stdout.on('data', (c: Buffer) => ((out += c.toString()), check()));
    child.stderr.on('data', (c: Buffer) => ((err += c.toString()), check()));
    child.stdin.on('error', () => undefined); // a child that exits before reading its input
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code: code ?? -1, out, err, reached, hung });
    });
  });
}

/** Run a shell command line (arguments as $1...), collecting its output. */
function sh(script: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', script, 'sh', ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1' } });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code: code ?? -1, out, err, reached: false, hung: code === null });
    });
  });
}

/** Refused as bad input: exit 2, one line on stderr naming `what`, no stack trace, no work done. */
function expectRefused(r: CliResult, what: RegExp): void {
  const all = r.out + r.err;
  expect(r.hung, `hung:\n${all}`).toBe(false);
  expect(r.reached, `went on working:\n${all}`).toBe(false);
  expect(r.code, all).toBe(2);
  expect(r.err.trim().split('\n'), all).toHaveLength(1);
  expect(r.err).toMatch(what);
  expect(all).not.toMatch(/\n\s+at /);
}

const BROKER_READY = /waiting for connections/;

describe('secret files', () => {
  test('broker --keylog: an existing 0644 key log is refused naming chmod 600 and left as it was', async () => {
    const d = fresh();
    mkdirSync(d);
    const keylog = join(d, 'keylog.txt');
    writeFileSync(keylog, 'CLIENT_RANDOM earlier\n');
    chmodSync(keylog, 0o644);
    const r = await cli(['broker', '--port', '0', '--out', join(d, 'certs'), '--keylog', keylog], {
      until: BROKER_READY,
    });
    expectRefused(r, /--keylog .*keylog\.txt: .*mode 0644.*chmod 600/);
    expect(statSync(keylog).mode & 0o777).toBe(0o644);
    expect(readFileSync(keylog, 'utf8')).toBe('CLIENT_RANDOM earlier\n');
  }, 90_000);

  test('certs --out: a symbolic link planted in an earlier output is replaced; its target is untouched', async () => {
    const out = fresh();
    expect((await cli(['certs', '--scenario', 'S1', '--out', out])).code).toBe(0);
    const victim = join(dir, `victim-${n}`);
    writeFileSync(victim, 'precious');
    rmSync(join(out, 'device.key'));
    symlinkSync(victim, join(out, 'device.key'));
    const r = await cli(['certs', '--scenario', 'S1', '--out', out]);
    expect(r.code, r.out + r.err).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(lstatSync(join(out, 'device.key')).isFile()).toBe(true);
    expect(statSync(join(out, 'device.key')).mode & 0o777).toBe(0o600);
  }, 90_000);
});

describe('a reused run --out', () => {
  test('a non-empty folder that is not an earlier report is refused and left as it was', async () => {
    const out = fresh();
    mkdirSync(out);
    writeFileSync(join(out, 'notes.txt'), 'mine');
    const r = await cli(['run', '--suite', 'cert-upload', '--no-preflight', '--out', out], {
      until: /bx-hil run: sim/,
    });
    expectRefused(r, /--out .*: the folder is not empty and is not an earlier bx-hil report \(no \.bx-hil-report/);
    expect(readdirSync(out)).toEqual(['notes.txt']);
  }, 90_000);

  test("an earlier report's evidence (its keylog.txt included) is cleared; a .heartbeat/ of the user's is kept", async () => {
    const out = fresh();
    mkdirSync(join(out, 'evidence', 'cert-upload', 'old-test'), { recursive: true });
    writeFileSync(join(out, '.bx-hil-report'), 'an earlier bx-hil report\n');
    writeFileSync(join(out, 'evidence', 'cert-upload', 'old-test', 'keylog.txt'), 'CLIENT_RANDOM old run\n');
    writeFileSync(join(out, 'results.json'), '{"stale": true}\n');
    mkdirSync(join(out, '.heartbeat'));
    writeFileSync(join(out, '.heartbeat', 'mine.txt'), 'mine');
    writeFileSync(join(out, 'notes.txt'), 'mine');
    // A filter that selects no test: the run starts Vitest and writes its report, quickly.
    // Its exit code is not the point here (an empty run may be refused as a failure).
    const r = await cli(
      ['run', '--suite', 'cert-upload', '--test', 'no test is named this', '--no-preflight', '--out', out],
      {
        timeoutMs: 150_000,
      },
    );
    expect(r.hung, r.out + r.err).toBe(false);
    expect(r.out + r.err).not.toMatch(/\n\s+at /);
    expect(existsSync(join(out, 'evidence', 'cert-upload', 'old-test'))).toBe(false);
    expect(readFileSync(join(out, 'results.json'), 'utf8')).not.toContain('stale');
    expect(readFileSync(join(out, '.heartbeat', 'mine.txt'), 'utf8')).toBe('mine');
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('mine');
  }, 180_000);
});

describe('output paths checked at start: exit 2, one line, no stack trace, no hang', () => {
  test('--out a regular file, below a dangling symbolic link, a 5 KB name; preflight --tap into a missing folder', async () => {
    const d = fresh();
    mkdirSync(d);
    writeFileSync(join(d, 'file'), '');
    symlinkSync(join(d, 'nowhere'), join(d, 'dangling'));
    const until = /bx-hil run: sim|ok {2}/;
    expectRefused(await cli(['run', '--out', join(d, 'file')], { until }), /--out .*file: it is a file, not a folder/);
    expectRefused(
      await cli(['run', '--out', join(d, 'dangling', 'report')], { until }),
      /dangling is a symbolic link to something that does not exist/,
    );
    expectRefused(await cli(['run', '--out', join(d, 'x'.repeat(5000))], { until }), /the name is too long/);
    expectRefused(
      await cli(['preflight', '--tap', join(d, 'missing', 'preflight.tap')], { until }),
      /--tap .*: the folder .*missing does not exist; create it first/,
    );
  }, 180_000);

  test('--out under /proc: run, broker and certs refuse at once instead of spinning in mkdir', async (ctx) => {
    if (!existsSync('/proc/self')) ctx.skip(true, 'no /proc on this system');
    const out = `/proc/bx-hil-no-such-${process.pid}/report`;
    const timeoutMs = 45_000; // a refusal takes ~2 s; the spin never ends
    for (const args of [
      ['run', '--no-preflight', '--out', out],
      ['broker', '--port', '0', '--out', out],
      ['certs', '--scenario', 'S1', '--out', out],
    ]) {
      expectRefused(
        await cli(args, { timeoutMs, until: /bx-hil run: sim|waiting for connections/ }),
        /--out \/proc\/.*cannot create the folder/,
      );
    }
  }, 180_000);

  test('sim --store in a missing folder is refused before listening, not on the first upload', async () => {
    const store = join(fresh(), 'store.json');
    const r = await cli(['sim', '--listen', 'tcp://127.0.0.1:0', '--store', store], { until: /listening on/ });
    expectRefused(r, /--store .*store\.json: the folder .* does not exist/);
  }, 90_000);

  test('broker --keylog into a missing folder is refused before waiting for connections', async () => {
    const d = fresh();
    const r = await cli(['broker', '--port', '0', '--out', join(d, 'certs'), '--keylog', join(d, 'no', 'k.log')], {
      until: BROKER_READY,
    });
    expectRefused(r, /--keylog .*k\.log: the folder .* does not exist/);
  }, 90_000);
});

describe('no write nobody asked for', () => {
  test("certs --out . in a project folder is refused; the project's README.md is untouched", async () => {
    const project = fresh('project');
    mkdirSync(project);
    writeFileSync(join(project, 'README.md'), '# my project\n');
    const r = await cli(['certs', '--scenario', 'S1', '--out', '.'], { cwd: project });
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.err).toMatch(/--out .*not empty and is not an earlier bx-hil certs output/);
    expect(readFileSync(join(project, 'README.md'), 'utf8')).toBe('# my project\n');
    expect(readdirSync(project)).toEqual(['README.md']);
  }, 90_000);

  test('sim --pty onto an existing file is refused; the file is kept', async (ctx) => {
    if (!hasTool('socat')) ctx.skip(true, 'socat is not installed (apt-get install socat)');
    const d = fresh();
    mkdirSync(d);
    const file = join(d, 'notes.txt');
    writeFileSync(file, 'mine');
    const r = await cli(['sim', '--listen', 'tcp://127.0.0.1:0', '--pty', file], { until: /listening on/ });
    expectRefused(r, /--pty .*notes\.txt: it already exists/);
    expect(lstatSync(file).isFile()).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('mine');
  }, 90_000);
});

describe('doctor input', () => {
  test('a pipe is read to its end, and - reads standard input', async () => {
    const pki = await createBasicPki();
    const pem = join(fresh(), 'ca.pem');
    mkdirSync(join(pem, '..'));
    writeFileSync(pem, pki.ca.certPem);
    const bin = join(root, 'bin', 'bx-hil.js');
    // A shell pipe (Node's own stdin pipes are sockets, which /dev/stdin cannot open).
    const viaPipe = (arg: string) => sh(`cat "$1" | "$2" "$3" doctor "$4"`, [pem, process.execPath, bin, arg]);
    for (const r of [
      await viaPipe('/dev/stdin'),
      await viaPipe('-'),
      await cli(['doctor', '-'], { input: pki.ca.certPem }),
    ]) {
      expect(r.out + r.err).not.toMatch(/empty/);
      expect(r.code, r.out + r.err).toBe(0);
      expect(r.out).toMatch(/certificate/);
      expect(r.out).toContain('bx-hil Test Root CA');
    }
  }, 90_000);
});
