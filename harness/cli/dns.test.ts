/**
 * `bx-hil dns` as a bench user runs it: a child process answering on 127.0.0.1, one ready line,
 * one escaped line per query, exit 130 on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dnsPacket from 'dns-packet';
import { expect, test } from 'vitest';
import { main } from './index.ts';

const bin = join(fileURLToPath(new URL('../../', import.meta.url)), 'bin', 'bx-hil.js');

/** One raw query (dns-packet: a name with control characters, which a stub resolver refuses to send). */
async function query(port: number, name: string) {
  const sock = createSocket('udp4');
  try {
    const reply = once(sock, 'message') as Promise<[Buffer]>;
    sock.send(dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name }] }), port, '127.0.0.1');
    return dnsPacket.decode((await reply)[0]) as ReturnType<typeof dnsPacket.decode> & { rcode: string };
  } finally {
    sock.close();
  }
}

test('answers its names, logs each query with control characters escaped, exits 130 on SIGINT', async () => {
  const child = spawn(process.execPath, [bin, 'dns', '--listen', '127.0.0.1:0', '--name', 'Broker.Lab=10.0.0.5'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  /** Resolves once stdout (all of it so far) matches: checked on every chunk, never by time. */
  const waitFor = (re: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const m = re.exec(out);
        if (!m) return;
        child.stdout.off('data', check);
        child.off('exit', onExit);
        resolve(m);
      };
      const onExit = () => reject(new Error(`bx-hil dns exited early: ${out}${err}`));
      child.stdout.on('data', check);
      child.once('exit', onExit);
      check();
    });
  try {
    const ready = await waitFor(/^bx-hil dns: listening on udp:\/\/127\.0\.0\.1:(\d+) \(1 name, others NXDOMAIN\)\n/);
    const port = Number(ready[1]);
    const ok = await query(port, 'broker.lab');
    expect(ok.answers).toMatchObject([{ type: 'A', data: '10.0.0.5' }]);
    await waitFor(/ A broker\.lab from 127\.0\.0\.1:\d+: 10\.0\.0\.5\n/);
    expect((await query(port, 'evil\x1b[2J\r\nFORGED.lab')).rcode).toBe('NXDOMAIN');
    await waitFor(/FORGED\.lab from .*\n/);
    expect(out).toContain('evil\\x1b[2J\\r\\nFORGED.lab');
    expect(out).not.toMatch(/\x1b|\r|^FORGED/m);
  } finally {
    child.kill('SIGINT');
  }
  const [code] = (await once(child, 'exit')) as [number | null];
  expect(code).toBe(130);
  expect(err).toBe('');
});

test('--lab takes the names from the lab file; --listen overrides its address', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bxhil-dns-'));
  try {
    const file = join(dir, 'lab.yaml');
    writeFileSync(
      file,
      'devices: [sim:2.6.3]\nnetwork:\n  dns:\n    listen: 192.0.2.1:53\n    names:\n      lab.broker.test: 10.1.1.1\n',
    );
    const child = spawn(process.execPath, [bin, 'dns', '--lab', file, '--listen', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const ready = await new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const m = /listening on udp:\/\/127\.0\.0\.1:(\d+) \(1 name, others NXDOMAIN\)/.exec(out);
        if (m) resolve(m);
      };
      child.stdout.on('data', check);
      child.once('exit', () => reject(new Error(`exited early: ${out}`)));
    });
    try {
      expect((await query(Number(ready[1]), 'lab.broker.test')).answers).toMatchObject([{ data: '10.1.1.1' }]);
    } finally {
      child.kill('SIGTERM');
    }
    expect(((await once(child, 'exit')) as [number | null])[0]).toBe(0);

    // A lab file without network.dns is bad input naming --lab.
    const bare = join(dir, 'bare.yaml');
    writeFileSync(bare, 'devices: [sim:2.6.3]\n');
    const err: string[] = [];
    const saved = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
    let code: number;
    try {
      code = await main(['node', 'bx-hil', 'dns', '--lab', bare]);
    } finally {
      process.stderr.write = saved;
    }
    expect(code).toBe(2);
    expect(err.join('')).toMatch(/^bx-hil: --lab .*no network\.dns/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
