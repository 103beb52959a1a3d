/**
 * Test helper (imported only by tests): the real CLI (`node bin/bx-hil.js`) in a child process,
 * as a user runs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killOnExit } from '../processes.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const children = new Set<ChildProcess>();

/** Kill every CLI child still running (a test file's afterAll); killOnExit covers a crashed worker. */
export function killCliChildren(): void {
  for (const c of children) c.kill('SIGKILL');
}

/**
 * Run the CLI to its end, killed after `timeoutMs`. Not runTool: this keeps stdout and stderr
 * interleaved in the order the user sees them.
 */
export function runCli(args: string[], timeoutMs = 150_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'bx-hil.js'), ...args], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1' },
    });
    children.add(killOnExit(child));
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code: code ?? -1, out });
    });
  });
}
