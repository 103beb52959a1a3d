/**
 * Test helper (imported only by tests and bench/): the real CLI (`node bin/bx-hil.js`) in a
 * child process, as a user runs it; a virtual module on a pseudo-terminal driven like a bench
 * module (`runOverPty`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killOnExit } from '../processes.ts';
import type { RunResults } from '../report/index.ts';
import { simListening } from '../sim/testing.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const children = new Set<ChildProcess>();

/** Kill every CLI child still running (a test file's afterAll); killOnExit covers a crashed worker. */
export function killCliChildren(): void {
  for (const c of children) c.kill('SIGKILL');
}

/**
 * Run `cmd args` to its end, killed after `timeoutMs`; stdout and stderr together. Not runTool:
 * this keeps them interleaved in the order the user sees them.
 */
export function runChild(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? root,
      env: { ...process.env, NO_COLOR: '1', ...opts.env },
    });
    children.add(killOnExit(child));
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 150_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code: code ?? -1, out });
    });
  });
}

/** Run the CLI (`node bin/bx-hil.js`) to its end from the repository, killed after `timeoutMs`. */
export function runCli(args: string[], timeoutMs = 150_000): Promise<{ code: number; out: string }> {
  return runChild(process.execPath, [join(root, 'bin', 'bx-hil.js'), ...args], { timeoutMs });
}

const groups = new Set<ChildProcess>();

/**
 * The CLI in a child of its own process group (detached), so a `bx-hil run` is killed with its
 * Vitest workers; stdout and stderr are piped. `killCliGroups()` ends every one still running.
 */
export function spawnCliGroup(args: string[]): ChildProcess {
  const child = killOnExit(
    spawn(process.execPath, [join(root, 'bin', 'bx-hil.js'), ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, NO_COLOR: '1' },
    }),
  );
  groups.add(child);
  child.on('exit', () => groups.delete(child));
  return child;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // the group is gone already
  }
}

/** SIGTERM every CLI group still running, SIGKILL what is left after 5 s; resolves when all have exited. */
export async function killCliGroups(): Promise<void> {
  await Promise.all(
    [...groups].map(
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
}

/** tsx loads every command before `bx-hil sim` says it listens: slow on a busy 2-core machine. */
export const SIM_START_MS = 60_000;

/** Start `bx-hil sim <args>` and wait for its one "listening" line; resolves with its TCP port. */
export function startSimCli(args: string[], startMs = SIM_START_MS): Promise<number> {
  return simListening(spawnCliGroup(['sim', ...args]), startMs).then((s) => s.port);
}

/** What a `bx-hil run` child left: exit code, output, the results.json it wrote, and its wall time. */
export interface RunOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
  results?: RunResults;
  wallMs: number;
}

/** Run `bx-hil run <args>` (which must name `--out`) to its end. */
export function runCliRun(args: string[]): Promise<RunOutcome> {
  const out = args[args.indexOf('--out') + 1]!;
  const t0 = performance.now();
  const child = spawnCliGroup(['run', ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      const wallMs = performance.now() - t0;
      let results: RunResults | undefined;
      try {
        results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as RunResults;
      } catch {
        results = undefined;
      }
      resolve({ code, stdout, stderr, wallMs, ...(results ? { results } : {}) });
    });
  });
}

/**
 * A virtual module on a pseudo-terminal driven like a bench module: `bx-hil sim --profile
 * <profile> [--timing <timing>] --pty <dir>/tty-<name>`, a lab file naming it
 * `serial:<pty>?baud=115200` with the same `timing:` (default instant), Wi-Fi credentials, as a
 * bench has them, and the host reached by name, `localhost`, as a module reaches a broker by its
 * DNS name; and `bx-hil run --lab` on it.
 */
export async function runOverPty(o: {
  profile: string;
  dir: string;
  name?: string;
  timing?: string;
  /** `--suite` names; default every suite. */
  suites?: string[];
}): Promise<RunOutcome> {
  const name = o.name ?? o.profile;
  const pty = join(o.dir, `tty-${name}`);
  await startSimCli(['--profile', o.profile, ...(o.timing ? ['--timing', o.timing] : []), '--pty', pty]);
  const lab = join(o.dir, `lab-${name}.yaml`);
  writeFileSync(
    lab,
    `devices:\n  - id: pty\n    uri: serial:${pty}?baud=115200\n    hostAddress: localhost\n    timing: ${o.timing ?? 'instant'}\n    wifi: { ssid: lab, password: "pw" }\n`,
  );
  return runCliRun([
    '--lab',
    lab,
    ...(o.suites ? ['--suite', ...o.suites] : []),
    '--out',
    join(o.dir, `serial-${name}`),
  ]);
}

/** Test id → outcome of a run's results. */
export function outcomesOf(r: RunResults | undefined): Record<string, string> {
  return Object.fromEntries((r?.tests ?? []).map((t) => [t.id, t.outcome]));
}
