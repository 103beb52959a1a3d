/**
 * External processes: whether a tool is installed, and making sure the children the harness
 * starts (mosquitto, socat, ser2net, bx-hil sim) do not outlive it. A crashed Vitest worker
 * skips afterAll (dependencies.md P1), so every tracked child is also killed when this
 * process exits.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';

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
