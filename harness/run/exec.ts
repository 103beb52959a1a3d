/**
 * Rig commands (power cycle, flash) run before the suites: through `/bin/sh -c`, bounded in
 * time, killed as a process group on timeout and on our own exit (P1: a crashed parent must not
 * leave children behind).
 *
 * A command is done when its shell exits, not when its output pipes close: a script that leaves
 * a background child (`relay-daemon &`) keeps the pipes open for as long as that child lives.
 * After the exit the output is drained for at most `DRAIN_MS`, then the pipes are let go.
 */
import { spawn } from 'node:child_process';
import { RigCommandError } from './errors.ts';
import type { LabCommand } from './lab.ts';

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
 * After the shell exits, how long its last output may take to arrive before the pipes are let
 * go (a background child may hold them open for good). Output written before the exit is
 * already in the pipe, so this only has to cover a loaded machine's event-loop turns.
 */
const DRAIN_MS = 1_000; // 1 s

/**
 * `text` with the password of every `scheme://user:password@host` URL replaced by `***`, for
 * echoing a rig command (console, evidence, errors): `http://admin:pw@pdu/outlet?3=off` →
 * `http://admin:***@pdu/outlet?3=off`. The password runs to the last `@` before the host, so an
 * unescaped `@` in it is hidden too.
 */
export function redactUrlCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:]*):[^\s/?#]*@/gi, '$1:***@');
}

/**
 * Run `cmd` for `step` (`powerCycle`, `flash`). `{device}` and `{uri}` in the command are
 * replaced (shell-quoted). Settles when the shell exits (plus a bounded drain of its output).
 * Rejects with `RigCommandError` (`BXHIL_RIG_COMMAND` on a non-zero exit,
 * `BXHIL_RIG_COMMAND_TIMEOUT` past `timeoutMs`). Messages and the output tail show the
 * command with URL credentials redacted.
 */
export function runRigCommand(
  step: string,
  cmd: LabCommand,
  vars: { device: string; uri: string },
  options: { signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {},
): Promise<RigCommandResult> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const line = cmd.command.replace(/\{device\}/g, quote(vars.device)).replace(/\{uri\}/g, quote(vars.uri));
  const shown = redactUrlCredentials(cmd.command);
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
    let drainTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    }, cmd.timeoutMs);
    const onAbort = () => {
      killGroup('SIGTERM');
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let settled = false;
    const finish = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      if (drainTimer) clearTimeout(drainTimer);
      process.off('exit', onExit);
      options.signal?.removeEventListener('abort', onAbort);
      return true;
    };
    child.on('error', (cause) => {
      if (!finish()) return;
      reject(
        new RigCommandError(
          step,
          { exitCode: undefined, timedOut: false, outputTail: redactUrlCredentials(tail) },
          `${step}: could not start /bin/sh: ${cause.message}`,
          { cause },
        ),
      );
    });
    const settle = (code: number | null, signal: NodeJS.Signals | null) => {
      if (!finish()) return;
      // Past the bound: whatever the shell left behind goes too (SIGTERM was not enough for it).
      if (timedOut) killGroup('SIGKILL');
      // A background child may still hold the pipes: stop reading them so it cannot hold us.
      child.stdout.destroy();
      child.stderr.destroy();
      const durationMs = performance.now() - started;
      const outputTail = redactUrlCredentials(tail);
      if (timedOut) {
        reject(
          new RigCommandError(
            step,
            { exitCode: undefined, timedOut: true, outputTail },
            `${step}: "${shown}" ran past ${cmd.timeoutMs} ms and was killed; raise ${step}.timeoutMs in the lab file or fix the command`,
          ),
        );
      } else if (code !== 0) {
        reject(
          new RigCommandError(
            step,
            { exitCode: code ?? undefined, timedOut: false, outputTail },
            `${step}: "${shown}" ${code === null ? `was killed by ${signal}` : `exited with ${code}`}; its output ends: ${outputTail.trim().split('\n').slice(-3).join(' | ') || '(none)'}`,
          ),
        );
      } else {
        resolve({ exitCode: 0, durationMs, outputTail });
      }
    };
    // The shell's exit decides; 'close' (every pipe closed) only ends the drain early.
    child.once('exit', (code, signal) => {
      if (settled) return;
      clearTimeout(timer);
      drainTimer = setTimeout(() => settle(code, signal), DRAIN_MS);
      child.once('close', () => settle(code, signal));
    });
  });
}
