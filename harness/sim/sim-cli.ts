/**
 * Test helper (imported only by tests): wait for a spawned `bx-hil sim` to print its one
 * "listening" line. Rejects with the child's stderr when it exits first or stays silent for
 * `startMs`.
 */
import type { ChildProcess } from 'node:child_process';

export function simListening(child: ChildProcess, startMs: number): Promise<{ line: string; port: number }> {
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bx-hil sim did not start in ${startMs} ms: ${err}`)), startMs);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^bx-hil sim: listening on tcp:\/\/127\.0\.0\.1:(\d+).*\n/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ line: m[0].trim(), port: Number(m[1]) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bx-hil sim exited with ${code}: ${err}`));
    });
  });
}
