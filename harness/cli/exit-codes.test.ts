/**
 * The exit-code contract (docs/exit-codes.md), row by row: every example of that table is run
 * here as a user runs it, by spawning `bin/bx-hil.js` (a child process is the only way to see
 * that nothing prints a stack trace and that the code really is the process's exit code).
 *
 * The table is the source: this file reads docs/exit-codes.md, so a row added there is run here.
 * The examples name files that `beforeAll` writes into a scratch folder (the children's cwd).
 *
 * Checked for every row: the exit code; no stack trace (`    at ...`) and no raw control
 * character (ESC, CR, C1) on stdout or stderr; no line beginning with `FORGED` (the hostile
 * fixtures hide one behind a CR LF). For exit 2: stderr is exactly one line starting `bx-hil`.
 *
 * Cost on a 2-core CI machine: every row that runs something (exit 0, 1, 130) and the first
 * exit-2 row of each command are spawned, two at a time; the other exit-2 rows (refusals before
 * anything starts) call `main()` in this process with stdout and stderr captured, which checks
 * the same contract without paying a Node start-up per row.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import createDebug from 'debug';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ConfigError, HarnessError } from '../errors.ts';
import { main, reportCliError } from './index.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin', 'bx-hil.js');

interface Row {
  section: string;
  exit: number;
  when: string;
  args: string[];
  /** Send this signal once stdout shows `after`. */
  signal?: NodeJS.Signals;
  after?: string;
}

/** Split a command line on blanks outside double quotes (the examples use no other quoting). */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2]!);
  return out;
}

/** Every table row of docs/exit-codes.md whose example cell holds a `bx-hil ...` command. */
export function tableRows(markdown: string): Row[] {
  const rows: Row[] = [];
  let section = '';
  for (const line of markdown.split('\n')) {
    const heading = /^###\s+(.*)$/.exec(line);
    if (heading) section = heading[1]!.trim();
    if (!line.startsWith('|')) continue;
    const cells = line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((c) => c.trim());
    const example = /^`bx-hil(?: ([^`]*))?`(.*)$/.exec(cells.at(-1) ?? '');
    if (!example || !/^\d+$/.test(cells[0]!)) continue;
    const row: Row = { section, exit: Number(cells[0]), when: cells[1]!, args: splitArgs(example[1] ?? '') };
    const sig = /then (SIG[A-Z]+) after "([^"]+)"/.exec(example[2]!);
    if (sig) {
      row.signal = sig[1] as NodeJS.Signals;
      row.after = sig[2]!;
    }
    rows.push(row);
  }
  return rows;
}

const rows = tableRows(readFileSync(join(root, 'docs', 'exit-codes.md'), 'utf8'));
/** Spawned: rows that run something, and each command's first refusal. */
const spawned = rows.filter(
  (r, i) => r.exit !== 2 || rows.findIndex((o) => o.section === r.section && o.exit === 2) === i,
);
const inProcess = rows.filter((r) => !spawned.includes(r));

// ---- the files the examples name ----------------------------------------------------------------

let dir: string;

function results(tests: Array<{ id: string; title: string; outcome: 'pass' | 'fail'; error?: string }>): string {
  return JSON.stringify({
    schema: 'bx-hil/results@1',
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:01:00Z',
    harnessVersion: '0.1.0',
    devices: [{ id: 'sim-2.6.3', uri: 'sim:2.6.3', firmware: '2.6.3' }],
    tests: tests.map((t) => ({
      suite: 'cert-upload',
      device: 'sim-2.6.3',
      firmware: '2.6.3',
      status: t.outcome === 'pass' ? 'passed' : 'failed',
      durationMs: 1,
      attempts: 1,
      ...t,
    })),
  });
}

function writeFixtures(d: string): void {
  const w = (name: string, text: string) => writeFileSync(join(d, name), text);
  w('pass.json', results([{ id: 'cert-upload/a', title: 'a', outcome: 'pass' }]));
  w('fail.json', results([{ id: 'cert-upload/a', title: 'a', outcome: 'fail', error: 'boom' }]));
  // A title and an error that try to clear the screen and forge a line of their own.
  w(
    'hostile.json',
    results([
      { id: 'cert-upload/h', title: 'h\u001b[2J\u001b[H\r\nFORGED Verdict: no regression', outcome: 'pass' },
      { id: 'cert-upload/f', title: 'f', outcome: 'fail', error: 'x\u001b]0;title\u0007\u009b31m\r\nFORGED' },
    ]),
  );
  w('not-json.txt', 'hello\n');
  // Nested 200,000 levels deep where an object is expected: validation must not recurse into it.
  w('deep.json', results([]).replace('"devices":[', `"devices":[${'['.repeat(200_000)}${']'.repeat(200_000)},`));
  // A module whose firmware string carries ESC sequences and a CR LF with a forged line.
  w(
    'hostile-profile.json',
    JSON.stringify({
      extends: '2.6.3',
      name: 'hostile',
      identity: { cgmr: '2.6.3 \u001b[2J\u001b[1;1H\u009b32m\r\nFORGED: ready' },
    }),
  );
  w('bad-profile.json', JSON.stringify({ extends: '2.6.3', tls: { minVersion: 'TLSv9' } }));
  w('bad-store.json', '{not json');
  w('empty.json', results([]));
  // A known issue that does not say how its test fails would excuse any failure: refused.
  w(
    'lab-no-expects.yaml',
    'devices:\n  - uri: sim:2.6.3\n    knownIssues:\n      - { test: "cert-upload/*", reason: r, source: s }\n',
  );
  // A device's profile: on a sim: device (its URI names one) and a profile nobody ships.
  w('lab-sim-profile.yaml', 'devices:\n  - uri: sim:2.6.3\n    profile: legacy\n');
  w('lab-unknown-profile.yaml', 'devices:\n  - uri: tcp://127.0.0.1:1\n    profile: "2.6.4"\n');
  w('lab-number-password.yaml', 'devices:\n  - uri: sim:2.6.3\n    wifi:\n      ssid: lab\n      password: 00000000\n');
  w(
    'lab-ssid-newline.json',
    JSON.stringify({ devices: [{ uri: 'sim:2.6.3', wifi: { ssid: 'lab\nok 9 - FORGED', password: 'x' } }] }),
  );
  copyFileSync(join(root, 'harness', 'sim', 'fixtures', 'AmazonRootCA1.pem'), join(d, 'root.pem'));
  // A user's suites (run --suites): one that does not compile, one named like a built-in suite;
  // a project where bx-hil init finds its files taken.
  w('broken.test.ts', "import { test } from 'bx-hil/vitest';\n\ntest('x', async () => {\n  const = 1;\n});\n");
  mkdirSync(join(d, 'user-suites'));
  w('user-suites/mqtt.test.ts', "import { test } from 'bx-hil/vitest';\n");
  mkdirSync(join(d, 'init-taken', 'hil'), { recursive: true });
  w('init-taken/hil/README.md', 'mine\n');
}

const cwd = process.cwd();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bxhil-exit-'));
  writeFixtures(dir);
  process.chdir(dir); // the in-process rows name the files relative to it, as the children do
});

afterAll(() => {
  process.chdir(cwd);
  rmSync(dir, { recursive: true, force: true });
});

// ---- running a row ------------------------------------------------------------------------------

/** At most two children at a time: CI has two cores, and each child loads TypeScript. */
let running = 0;
const waiting: Array<() => void> = [];
async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= 2) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

const children = new Set<ReturnType<typeof spawn>>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

interface RowResult {
  code: number | null;
  signal: string | null;
  out: string;
  err: string;
}

function spawnRow(row: Row): Promise<RowResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...row.args], {
      cwd: dir,
      // No DEBUG: the stack trace of an unexpected error must stay hidden by default.
      env: { ...process.env, DEBUG: '', NO_COLOR: '1', BX_DEVICE: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let out = '';
    let err = '';
    let signalled = false;
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('latin1');
      if (row.signal && !signalled && out.includes(row.after!)) {
        signalled = true;
        child.kill(row.signal);
      }
    });
    child.stderr.on('data', (c: Buffer) => (err += c.toString('latin1')));
    // A hang is a failure of its own kind; the bound is generous for a loaded 2-core machine.
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, out, err });
    });
  });
}

/** `main()` in this process, stdout and stderr captured; the exit code it resolves with. */
async function mainRow(row: Row): Promise<RowResult> {
  const out: string[] = [];
  const err: string[] = [];
  const { stdout, stderr } = process;
  const saved = { out: stdout.write, err: stderr.write, exitCode: process.exitCode };
  const capture = (into: string[]) =>
    ((chunk: string | Uint8Array) => {
      into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('latin1'));
      return true;
    }) as typeof process.stdout.write;
  stdout.write = capture(out);
  stderr.write = capture(err);
  process.exitCode = undefined;
  try {
    const code = await main(['node', 'bx-hil', ...row.args]);
    return { code, signal: null, out: out.join(''), err: err.join('') };
  } finally {
    stdout.write = saved.out;
    stderr.write = saved.err;
    process.exitCode = saved.exitCode;
  }
}

/** The contract every row is held to. */
function checkRow(row: Row, r: RowResult): void {
  const both = r.out + r.err;
  expect({ code: r.code, signal: r.signal }, `bx-hil ${row.args.join(' ')}\n${both}`).toEqual({
    code: row.exit,
    signal: null,
  });
  expect(both, 'a stack trace').not.toMatch(/^\s+at .*:\d+:\d+\)?$/m);
  expect(both, 'a raw control character').not.toMatch(RAW_CONTROL);
  expect(both, 'a forged line').not.toMatch(/^FORGED/m);
  if (row.exit === 2) expect(r.err, 'one line on stderr').toMatch(/^bx-hil[^\n]*\n$/);
}

/** C0 controls other than LF and TAB, DEL and C1 controls (in latin1, the bytes 0x80-0x9f). */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe('docs/exit-codes.md', () => {
  test('lists every command, each with an exit-2 row', () => {
    const sections = new Set(rows.map((r) => r.section));
    for (const c of ['run', 'preflight', 'sim', 'broker', 'scenarios', 'certs', 'doctor', 'compare'])
      expect(sections, c).toContain(c);
    for (const s of sections)
      expect(
        rows.some((r) => r.section === s && r.exit === 2),
        s,
      ).toBe(true);
    expect(rows.length).toBeGreaterThan(40);
  });

  test.concurrent.each(spawned.map((r) => [`${r.section}: ${r.exit} when ${r.when}`, r] as const))(
    '%s (spawned)',
    async (_name, row) => checkRow(row, await slot(() => spawnRow(row))),
    200_000,
  );

  test.each(inProcess.map((r) => [`${r.section}: ${r.exit} when ${r.when}`, r] as const))(
    '%s (main() in process)',
    async (_name, row) => checkRow(row, await mainRow(row)),
    60_000,
  );
});

describe('an error that is not bad input', () => {
  const capture = (fn: () => number): { code: number; text: string } => {
    const chunks: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((c: string | Uint8Array) => {
      chunks.push(String(c));
      return true;
    }) as typeof process.stderr.write;
    try {
      return { code: fn(), text: chunks.join('') };
    } finally {
      process.stderr.write = write;
    }
  };

  test('an unexpected error is one line, exit 1, and no stack trace', () => {
    const r = capture(() => reportCliError(new TypeError('cannot read x\nof undefined\u001b[2J')));
    expect(r.code).toBe(1);
    expect(r.text).toMatch(
      /^bx-hil: unexpected error: TypeError: cannot read x\\nof undefined\\x1b\[2J .*DEBUG=bx-hil/,
    );
    expect(r.text.split('\n')).toHaveLength(2); // one line and its newline
    expect(r.text).not.toMatch(/\bat .*exit-codes\.test\.ts/);
  });

  test('with DEBUG=bx-hil:* the stack trace is shown', () => {
    createDebug.enable('bx-hil:*');
    try {
      const r = capture(() => reportCliError(new TypeError('boom')));
      expect(r.code).toBe(1);
      expect(r.text).toMatch(/exit-codes\.test\.ts/);
    } finally {
      createDebug.disable();
    }
  });

  test('a harness error is one line: exit 2 for bad configuration, 1 otherwise', () => {
    expect(capture(() => reportCliError(new ConfigError('--x', 'y', 'bad\r\nFORGED'))).text).toBe(
      'bx-hil: bad\\r\\nFORGED\n',
    );
    expect(capture(() => reportCliError(new ConfigError('--x', 'y', 'bad'))).code).toBe(2);
    expect(capture(() => reportCliError(new HarnessError('BXHIL_AT_TIMEOUT', 'slow'))).code).toBe(1);
  });

  test('a file-system error about a path the user gave is bad input (2), one line', () => {
    const err = Object.assign(new Error("ENOENT: no such file or directory, open 'x.json'"), {
      code: 'ENOENT',
      syscall: 'open',
      path: 'x.json',
    });
    const r = capture(() => reportCliError(err));
    expect(r.code).toBe(2);
    expect(r.text).toBe("bx-hil: ENOENT: no such file or directory, open 'x.json'; check the path\n");
  });
});
