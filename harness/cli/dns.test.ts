/**
 * `bx-hil dns` as a bench user runs it: a child process answering on 127.0.0.1, one ready line,
 * one escaped line per query, exit 130 on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dnsPacket from 'dns-packet';
import { expect, test } from 'vitest';

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
