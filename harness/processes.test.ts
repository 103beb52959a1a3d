/**
 * The process toolkit: runTool (exit codes, stdin, a tool that exits without reading its input,
 * timeouts, a tool that cannot start), freePort, canConnect and pollUntil (under fake timers).
 *
 * Actors: "the tool" = a short `sh -c` script (or `cat`) run through runTool.
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { canConnect, freePort, pollUntil, runTool, ToolError, WaitTimeoutError } from './processes.ts';

async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string } & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected a rejection');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('runTool', () => {
  test('resolves with the exit code, stdout and stderr; a non-zero exit is a result, not a rejection', async () => {
    const r = await runTool('sh', ['-c', 'echo to-out; echo to-err >&2; exit 3'], { timeoutMs: 30_000 });
    expect(r).toEqual({ code: 3, out: 'to-out\n', err: 'to-err\n' });
  });

  test('a tool ended by a signal reports 128 + the signal number, as a shell does', async () => {
    const r = await runTool('sh', ['-c', 'kill -TERM $$'], { timeoutMs: 30_000 });
    expect(r.code).toBe(128 + 15);
  });

  test('input is written to stdin and stdin closed; without input stdin is empty', async () => {
    expect((await runTool('cat', [], { input: 'héllo\n', timeoutMs: 30_000 })).out).toBe('héllo\n');
    // Without input a reader of stdin sees end-of-file at once instead of waiting for it.
    expect(await runTool('sh', ['-c', 'cat; echo eof'], { timeoutMs: 30_000 })).toEqual({
      code: 0,
      out: 'eof\n',
      err: '',
    });
  });

  test('cwd and env: env adds to this process environment, it does not replace it', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'bxhil-processes-')));
    try {
      const r = await runTool('sh', ['-c', 'pwd; echo "$BXHIL_TEST_VAR:$PATH"'], {
        cwd: dir,
        env: { BXHIL_TEST_VAR: 'set' },
        timeoutMs: 30_000,
      });
      expect(r.out).toBe(`${dir}\nset:${process.env.PATH}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a tool that exits before reading its input: its exit code, and no unhandled EPIPE', async () => {
    // execFile + child.stdin.end(input) raised "Unhandled error: write EPIPE" here:
    // 1 MiB cannot fit the pipe, so the write always meets the closed read end.
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const results = await Promise.all(
        [Buffer.alloc(1 << 20, 0x41), '', 'x'].map((input) =>
          runTool('sh', ['-c', 'exec 0<&-; exit 4'], { input, timeoutMs: 30_000 }),
        ),
      );
      expect(results.map((r) => r.code)).toEqual([4, 4, 4]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
  });

  test('past timeoutMs the tool is killed and the rejection says so, with the output so far', async () => {
    const err = await rejection(runTool('sh', ['-c', 'echo "pid $$"; exec sleep 60'], { timeoutMs: 1_500 }));
    expect(err).toBeInstanceOf(ToolError);
    expect(err.code).toBe('BXHIL_TOOL_TIMEOUT');
    expect(err.message).toContain('did not finish within 1500 ms and was killed');
    const pid = Number(/pid (\d+)/.exec(err.message)?.[1]);
    expect(pid, err.message).toBeGreaterThan(0);
    // The kill is a signal: wait (bounded) until the process is gone and reaped.
    await pollUntil(() => !alive(pid), { timeoutMs: 10_000, what: `pid ${pid} to be gone` });
  });

  test('a tool that does not exist is a rejection naming it', async () => {
    const err = await rejection(runTool('bxhil-no-such-tool', ['x'], { timeoutMs: 30_000 }));
    expect(err.code).toBe('BXHIL_TOOL_START');
    expect(err.message).toContain('bxhil-no-such-tool');
  });
});

describe('freePort and canConnect', () => {
  test('freePort gives a loopback port a server can then bind; canConnect sees it listening, then not', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
    try {
      expect(await canConnect(port)).toBe(true);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(await canConnect(port)).toBe(false);
  });

  test('freePort binds the host it is given', async () => {
    // A host that is not an address of this machine cannot be bound: the error comes through.
    expect((await rejection(freePort('192.0.2.1'))).code).toBe('EADDRNOTAVAIL');
  });
});

describe('pollUntil', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  test('resolves with the first truthy value, checking every intervalMs', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const p = pollUntil(() => (++calls >= 4 ? `after ${calls}` : undefined), {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: 'the fourth check',
    });
    await vi.advanceTimersByTimeAsync(299);
    expect(calls).toBe(3);
    await vi.advanceTimersByTimeAsync(1);
    await expect(p).resolves.toBe('after 4');
  });

  test('past timeoutMs it rejects with an error naming what it waited for, and stops checking', async () => {
    vi.useFakeTimers();
    let calls = 0;
    // Checks at 0, 300, 600 and 900 ms; the deadline falls between two checks.
    const p = pollUntil(() => void calls++, { timeoutMs: 1_000, intervalMs: 300, what: 'the port to accept' });
    const err = rejection(p);
    await vi.advanceTimersByTimeAsync(1_000);
    const e = await err;
    expect(e).toBeInstanceOf(WaitTimeoutError);
    expect(e.code).toBe('BXHIL_WAIT_TIMEOUT');
    expect(e.message).toBe('timed out after 1000 ms waiting for the port to accept');
    expect(calls).toBe(4);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toBe(4);
  });

  test('a check that never settles is still bounded by timeoutMs', async () => {
    vi.useFakeTimers();
    const err = rejection(
      pollUntil(() => new Promise<boolean>(() => undefined), { timeoutMs: 500, what: 'a hung check' }),
    );
    await vi.advanceTimersByTimeAsync(500);
    expect((await err).code).toBe('BXHIL_WAIT_TIMEOUT');
  });

  test('an error thrown by the check ends the wait with that error', async () => {
    const boom = new Error('the tool exited');
    let calls = 0;
    const p = pollUntil(
      async () => {
        if (++calls === 3) throw boom;
        return false;
      },
      { timeoutMs: 30_000, intervalMs: 1, what: 'never' },
    );
    await expect(p).rejects.toBe(boom);
    expect(calls).toBe(3);
  });
});
