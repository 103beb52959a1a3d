/**
 * Rigs for testing links against real tools: a socat PTY pair and a ser2net in front of one
 * end. Used by the link tests; usable by any test that needs a serial-like device path.
 *
 * Every child process is killed by its `close()`, and on process exit as well (a crashed
 * Vitest worker skips afterAll: docs/reference/dependencies.md P1).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HarnessError } from '../errors.ts';
import { canConnect, freePort, killOnExit, pollUntil } from '../processes.ts';

// Part of the link's test-helper face (docs/link.md); said once in harness/processes.ts.
export { freePort, hasTool } from '../processes.ts';

function stop(child: ChildProcess, timeoutMs = 2_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export interface PtyPair {
  /** Stable symlinks to the two PTY slaves. */
  a: string;
  b: string;
  dir: string;
  /** Kill socat (both ends hang up) and remove the directory. Idempotent. */
  close(): Promise<void>;
}

/**
 * `socat pty,raw,echo=0,link=<dir>/a pty,raw,echo=0,link=<dir>/b`: two connected PTYs.
 * Resolves when both links exist (bounded by `timeoutMs`, default 5 s).
 */
export async function socatPtyPair(timeoutMs = 5_000): Promise<PtyPair> {
  const dir = mkdtempSync(join(tmpdir(), 'bxhil-pty-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const child = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' });
  killOnExit(child);
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => (closed ??= stop(child).then(() => rmSync(dir, { recursive: true, force: true })));
  try {
    // No event says "the links exist": poll for them (or for socat's exit).
    await pollUntil(() => child.exitCode !== null || (existsSync(a) && existsSync(b)), {
      timeoutMs,
      what: 'socat to create the PTY pair',
    });
    if (child.exitCode !== null) throw new HarnessError('BXHIL_RIG_START', `socat exited with code ${child.exitCode}`);
  } catch (err) {
    await close();
    throw err;
  }
  return { a, b, dir, close };
}

export interface Ser2net {
  port: number;
  /** Kill ser2net and remove its config. Idempotent. */
  close(): Promise<void>;
  /** What ser2net printed (stderr + stdout), for failure messages. */
  output(): string;
}

/**
 * Start `ser2net -n -d -c <file>` with one connection from `accepter` (`telnet(rfc2217),tcp`
 * or `tcp`) on 127.0.0.1:<free port> to `serialdev,<device>,<line>,local`. Retries on a port
 * collision; resolves once it listens (bounded by `timeoutMs`, default 5 s).
 *
 * The readiness probe connects once; `kickolduser` lets the real client take over that slot.
 */
export async function startSer2net(options: {
  device: string;
  accepter?: string;
  line?: string;
  timeoutMs?: number;
}): Promise<Ser2net> {
  const { device, accepter = 'telnet(rfc2217),tcp', line = '115200n81', timeoutMs = 5_000 } = options;
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'bxhil-ser2net-'));
    const config = join(dir, 'ser2net.yaml');
    writeFileSync(
      config,
      [
        'connection: &bxhil',
        `  accepter: ${accepter},127.0.0.1,${port}`,
        `  connector: serialdev,${device},${line},local`,
        '  options:',
        '    kickolduser: true',
        '',
      ].join('\n'),
    );
    const child = spawn('ser2net', ['-n', '-d', '-c', config, '-P', join(dir, 'ser2net.pid')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    killOnExit(child);
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    let closed: Promise<void> | undefined;
    const close = (): Promise<void> =>
      (closed ??= stop(child).then(() => rmSync(dir, { recursive: true, force: true })));
    try {
      await pollUntil(async () => child.exitCode !== null || (await canConnect(port)), {
        timeoutMs,
        what: `ser2net to listen on 127.0.0.1:${port}`,
      });
      if (child.exitCode !== null)
        throw new HarnessError('BXHIL_RIG_START', `ser2net exited (${child.exitCode}): ${out.trim()}`);
      return { port, close, output: () => out };
    } catch (err) {
      lastError = err;
      await close();
    }
  }
  throw lastError;
}
