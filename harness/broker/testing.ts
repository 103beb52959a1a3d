/**
 * Helpers for tests that drive the rig with REAL clients (openssl s_client, mosquitto_pub/sub):
 * tool detection, temp PEM files, bounded child processes that are killed on teardown and on
 * process exit, and a plaintext MQTT CONNECT for raw sockets. Used by the broker and diagnose
 * tests and by the bench; not a test file itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqttPacket from 'mqtt-packet';
import { killOnExit } from '../processes.ts';

export { hasTool } from '../processes.ts';

/** Children started through these helpers, for killAllClients(). */
const children = new Set<ChildProcess>();

/** Kill every child started through these helpers (call from afterAll). */
export function killAllClients(): void {
  for (const c of children) c.kill('SIGKILL');
}

/** A temp directory with files; `remove()` deletes it. Keys are written 0600. */
export function tempFiles(files: Record<string, string>): { dir: string; path(name: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'bx-hil-broker-'));
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), content);
    if (/key/i.test(name)) chmodSync(join(dir, name), 0o600);
  }
  return { dir, path: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The mutual-TLS arguments of `openssl s_client`, with the same `tempFiles` names as `mosquittoTlsArgs`. */
export function opensslMtlsArgs(files: { path(name: string): string }): string[] {
  return ['-CAfile', files.path('ca.pem'), '-cert', files.path('client.pem'), '-key', files.path('client.key')];
}

/**
 * The connection arguments of mosquitto_pub/mosquitto_sub for a mutual-TLS rig, with the
 * `tempFiles` names the broker tests use (`ca.pem`, `client.pem`, `client.key`).
 */
export function mosquittoTlsArgs(port: number, files: { path(name: string): string }): string[] {
  return [
    '-h',
    'localhost',
    '-p',
    String(port),
    '--cafile',
    files.path('ca.pem'),
    '--cert',
    files.path('client.pem'),
    '--key',
    files.path('client.key'),
  ];
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Run a client, write `input` to its stdin (kept open for `holdStdinMs`, then closed) and
 * resolve when it exits or after `timeoutMs` (then it is killed).
 */
export function runClient(
  cmd: string,
  args: string[],
  opts: { input?: Buffer | string; holdStdinMs?: number; timeoutMs?: number } = {},
): Promise<RunResult> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  killOnExit(child);
  children.add(child);
  child.once('exit', () => children.delete(child));
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
  child.stdin?.on('error', () => undefined);
  if (opts.input !== undefined) child.stdin?.write(opts.input);
  const hold = setTimeout(() => child.stdin?.end(), opts.holdStdinMs ?? 0);
  let timedOut = false;
  const kill = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? 10_000);
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(hold);
      clearTimeout(kill);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

/** A plaintext MQTT 3.1.1 CONNECT (for s_client stdin or a raw socket). */
export function connectBytes(clientId: string, keepalive = 30): Buffer {
  return mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    clientId,
    keepalive,
  });
}
