/**
 * External processes and the waits around them, said once for the whole tree: whether a tool is
 * installed, running a tool to completion (`runTool`), making sure the children the harness starts
 * (mosquitto, socat, ser2net, bx-hil sim) do not outlive it (`killOnExit`), a free loopback port
 * for servers that cannot listen on port 0 and report it (`freePort`), and a bounded poll for
 * conditions that have no event (`pollUntil`).
 *
 * A crashed Vitest worker skips afterAll (docs/reference/dependencies.md P1), so every tracked child is also
 * killed when this process exits.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { constants } from 'node:os';
import { HarnessError } from './errors.ts';

/** A tool could not be started, or did not finish in time (it was killed). */
export class ToolError extends HarnessError {
  /** The command as run: the tool and its arguments. */
  readonly command: string[];

  constructor(
    code: 'BXHIL_TOOL_START' | 'BXHIL_TOOL_TIMEOUT',
    command: string[],
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.command = command;
  }
}

/** `pollUntil` ran out of time; `what` names what was awaited. */
export class WaitTimeoutError extends HarnessError {
  readonly what: string;
  readonly timeoutMs: number;

  constructor(what: string, timeoutMs: number) {
    super('BXHIL_WAIT_TIMEOUT', `timed out after ${timeoutMs} ms waiting for ${what}`);
    this.what = what;
    this.timeoutMs = timeoutMs;
  }
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Track `child` until it exits; SIGKILL it if this process exits first. Returns `child`. */
export function killOnExit<T extends ChildProcess>(child: T): T {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  return child;
}

const toolCache = new Map<string, boolean>();

/** True when `tool` is on PATH (looked up once per process). */
export function hasTool(tool: string): boolean {
  let ok = toolCache.get(tool);
  if (ok === undefined) {
    ok = spawnSync('sh', ['-c', `command -v "$1"`, 'sh', tool], { stdio: 'ignore' }).status === 0;
    toolCache.set(tool, ok);
  }
  return ok;
}

export interface RunToolOptions {
  /** Written to the tool's stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Buffer;
  cwd?: string;
  /** Bound on the whole run; past it the tool is killed and `runTool` rejects (`BXHIL_TOOL_TIMEOUT`). */
  timeoutMs: number;
  /** Added to (not instead of) this process's environment. */
  env?: NodeJS.ProcessEnv;
}

export interface ToolResult {
  /** The exit code; 128 + the signal number when a signal ended the tool (as a shell reports it). */
  code: number;
  /** stdout, UTF-8. */
  out: string;
  /** stderr, UTF-8. */
  err: string;
}

/** How much of a timed-out tool's output its error message quotes. */
const TIMEOUT_TAIL_CHARS = 2_000;

/**
 * Run `cmd args` to completion and resolve with its exit code and output; a non-zero exit is a
 * result, not a rejection. Rejects only when the tool cannot be started (`BXHIL_TOOL_START`) or
 * runs past `timeoutMs` (killed with SIGKILL, `BXHIL_TOOL_TIMEOUT`, the output so far quoted).
 *
 * Hand-written rather than `execFile` because execFile's stdin is a pipe with no error listener:
 * writing to a tool that has already exited (openssl refusing its arguments) raises an unhandled
 * EPIPE. Here stdin is written only when there is input, and a tool that exits without reading
 * it is reported by its exit code.
 */
export function runTool(cmd: string, args: readonly string[], options: RunToolOptions): Promise<ToolResult> {
  const command = [cmd, ...args];
  const shown = command.join(' ');
  return new Promise<ToolResult>((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ? { ...process.env, ...options.env } : process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    killOnExit(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString('utf8');
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      // A grandchild may hold the pipes open after the kill: let them go too.
      child.stdout!.destroy();
      child.stderr!.destroy();
      const soFar = `${text(out)}${text(err)}`.slice(-TIMEOUT_TAIL_CHARS);
      settle(() =>
        reject(
          new ToolError(
            'BXHIL_TOOL_TIMEOUT',
            command,
            `${shown} did not finish within ${options.timeoutMs} ms and was killed; its output so far:\n${soFar}`,
          ),
        ),
      );
    }, options.timeoutMs);
    child.once('error', (cause) =>
      settle(() =>
        reject(new ToolError('BXHIL_TOOL_START', command, `cannot run ${cmd}: ${cause.message}`, { cause })),
      ),
    );
    // Settles once the tool has exited with its output read AND its stdin is closed, so nothing
    // about this run (a late stdin error included) is still pending when the caller goes on.
    const stdinClosed =
      options.input === undefined ? Promise.resolve() : new Promise<void>((r) => child.stdin!.once('close', r));
    child.once(
      'close',
      (code, signal) =>
        void stdinClosed.then(() =>
          settle(() =>
            resolve({
              code: code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0),
              out: text(out),
              err: text(err),
            }),
          ),
        ),
    );
    if (options.input !== undefined) {
      // EPIPE/ECONNRESET here means the tool exited without reading its input: its exit code
      // (resolved above) is what tells the caller, so the stream error itself is not news.
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(options.input);
    }
  });
}

/**
 * A TCP port on `host` that was free a moment ago (bind port 0, read it back, release it), for
 * servers that cannot listen on port 0 and report the port (mosquitto, ser2net). Another process
 * may take it before the server binds: callers that can, retry on a collision.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * A UDP port on `host` (IPv4) that was free a moment ago (bind a `udp4` socket on port 0, read it
 * back, release it), for a UDP server another process must be told of before it starts (a DNS
 * responder the module's resolver is pointed at). Not `freePort`: TCP and UDP ports are separate
 * name spaces, so a port free for TCP may be taken for UDP (systemd-resolved on 53, mDNS on 5353).
 */
export function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, host, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** True when a TCP connection to `host:port` is accepted (the socket is closed at once). */
export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface PollOptions {
  /** Bound on the whole wait; past it `pollUntil` rejects with `WaitTimeoutError` naming `what`. */
  timeoutMs: number;
  /** Pause between checks. Default 10 ms. */
  intervalMs?: number;
  /** What is awaited, for the timeout message: "mosquitto listening on 127.0.0.1:1883". */
  what: string;
}

/**
 * Check `cond` until it returns a truthy value and resolve with that value, bounded by
 * `timeoutMs`. For conditions that have no event to wait for (a port accepting connections, a
 * file appearing); where there is an event, wait for the event instead. An error thrown by
 * `cond` ends the wait with that error. A check still running at the deadline is not waited for.
 */
export function pollUntil<T>(cond: () => T | Promise<T>, options: PollOptions): Promise<NonNullable<T>> {
  const intervalMs = options.intervalMs ?? 10;
  return new Promise<NonNullable<T>>((resolve, reject) => {
    let done = false;
    let pause: NodeJS.Timeout | undefined;
    const deadline = setTimeout(
      () => finish(() => reject(new WaitTimeoutError(options.what, options.timeoutMs))),
      options.timeoutMs,
    );
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      clearTimeout(pause);
      fn();
    };
    const check = async (): Promise<void> => {
      if (done) return;
      let value: T;
      try {
        value = await cond();
      } catch (err) {
        finish(() => reject(err));
        return;
      }
      if (done) return;
      if (value) finish(() => resolve(value as NonNullable<T>));
      else pause = setTimeout(() => void check(), intervalMs);
    };
    void check();
  });
}
