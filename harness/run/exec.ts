/**
 * Rig commands (power cycle, flash) run before the suites: through `/bin/sh -c`, bounded in
 * time, killed as a process group on timeout and on our own exit (P1: a crashed parent must not
 * leave children behind).
 */
import { spawn } from 'node:child_process';
import { RigCommandError } from './errors.ts';
import type { RigCommand } from './rig.ts';

export interface RigCommandResult {
  exitCode: number;
  durationMs: number;
  /** Last lines of combined stdout/stderr (at most `TAIL_CHARS`). */
  outputTail: string;
}

const TAIL_CHARS = 2_000;
/** Grace between SIGTERM and SIGKILL on timeout. */
const KILL_GRACE_MS = 2_000; // 2 s

/**
 * Run `cmd` for `step` (`powerCycle`, `flash`). `{device}` and `{uri}` in the command are
 * replaced (shell-quoted). Rejects with `RigCommandError` (`BXHIL_RIG_COMMAND` on a non-zero
 * exit, `BXHIL_RIG_COMMAND_TIMEOUT` past `timeoutMs`).
 */
export function runRigCommand(
  step: string,
  cmd: RigCommand,
  vars: { device: string; uri: string },
  options: { signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {},
): Promise<RigCommandResult> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const line = cmd.command.replace(/\{device\}/g, quote(vars.device)).replace(/\{uri\}/g, quote(vars.uri));
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', line], {
      detached: true, // own process group, so a timeout kills the whole pipeline
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env, BX_HIL_DEVICE_ID: vars.device, BX_HIL_DEVICE_URI: vars.uri },
    });
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString('utf8')).slice(-TAIL_CHARS);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    const onExit = () => killGroup('SIGKILL');
    process.once('exit', onExit);
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    }, cmd.timeoutMs);
    const onAbort = () => {
      killGroup('SIGTERM');
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = () => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      process.off('exit', onExit);
      options.signal?.removeEventListener('abort', onAbort);
    };
    child.on('error', (cause) => {
      finish();
      reject(
        new RigCommandError(
          step,
          { exitCode: undefined, timedOut: false, outputTail: tail },
          `${step}: could not start /bin/sh: ${cause.message}`,
          {
            cause,
          },
        ),
      );
    });
    child.on('close', (code, signal) => {
      finish();
      const durationMs = performance.now() - started;
      if (timedOut) {
        reject(
          new RigCommandError(
            step,
            { exitCode: undefined, timedOut: true, outputTail: tail },
            `${step}: "${cmd.command}" ran past ${cmd.timeoutMs} ms and was killed; raise ${step}.timeoutMs in the rig file or fix the command`,
          ),
        );
      } else if (code !== 0) {
        reject(
          new RigCommandError(
            step,
            { exitCode: code ?? undefined, timedOut: false, outputTail: tail },
            `${step}: "${cmd.command}" ${code === null ? `was killed by ${signal}` : `exited with ${code}`}; its output ends: ${tail.trim().split('\n').slice(-3).join(' | ') || '(none)'}`,
          ),
        );
      } else {
        resolve({ exitCode: 0, durationMs, outputTail: tail });
      }
    });
  });
}
