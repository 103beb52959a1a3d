/**
 * `--capture`: a packet capture (tshark) of a broker rig's port for one test, written into its
 * evidence bundle.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasTool, killOnExit } from '../processes.ts';

export interface Capture {
  stop(): Promise<void>;
}

/** Bound on tshark starting to capture, ms. */
const CAPTURE_START_MS = 10_000; // 10 s

/**
 * `--capture`: a packet capture of the rig's port for the test, written into its evidence
 * bundle (`capture.pcapng`, or `capture-<n>.pcapng` for a test's later rigs). Needs tshark and
 * the right to capture on `lo`; without them the test goes on and the bundle says why.
 */
export async function startCapture(port: number, dir: string, n: number): Promise<Capture> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, n === 1 ? 'capture.pcapng' : `capture-${n}.pcapng`);
  if (!hasTool('tshark')) {
    writeFileSync(
      join(dir, 'capture-missing.txt'),
      'tshark is not installed: apt-get install tshark to capture packets\n',
    );
    return { stop: async () => {} };
  }
  const child = killOnExit(
    spawn('tshark', ['-i', 'lo', '-f', `tcp port ${port}`, '-w', file, '-q'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  let err = '';
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, CAPTURE_START_MS);
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
      if (/Capturing on/.test(err)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          if (!/Capturing on/.test(err))
            writeFileSync(join(dir, 'capture-missing.txt'), `tshark could not capture: ${err.trim()}\n`);
          return resolve();
        }
        const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill('SIGINT');
      }),
  };
}
