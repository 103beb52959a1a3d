/**
 * The sim's TCP front (ser2net raw mode) with a client that comes and goes: a client that closes
 * and reconnects at once is served every time; a truly concurrent second client is refused
 * with the busy line. Only loopback, port 0.
 */
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { createVirtualModule } from './index.ts';
import { RawClient } from './raw-client.ts';
import { BUSY_LINE, serveModule, type SimServer } from './server.ts';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const r of open.splice(0).reverse()) await r.close();
});

async function serve(): Promise<SimServer> {
  const module = createVirtualModule({ profile: '2.6.3' });
  open.push(module);
  const server = await serveModule(module);
  open.push(server);
  return server;
}

function dial(port: number): Promise<{ sock: Socket; at: RawClient }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => {
      sock.off('error', reject);
      resolve({ sock, at: new RawClient(sock) });
    });
    sock.once('error', reject);
  });
}

/** `AT` and what answered it: `OK` (served) or the busy line. */
async function probe(at: RawClient): Promise<'served' | 'busy'> {
  at.send('AT\r');
  const got = await at.until(/\r\nOK\r\n|bx-hil sim: busy: [^\r]*\r\n/, 10_000);
  return got.includes('busy') ? 'busy' : 'served';
}

/**
 * 50 cycles of: connect, `AT`, read `OK` or the busy line, close at once (half with a graceful
 * end, half with destroy) and connect again. Prints the outcomes as JSON. Each answer is bounded
 * (10 s) so a silent sim ends the child instead of hanging the test.
 */
const RECONNECTING_CLIENT = `
import { connect } from 'node:net';
const port = Number(process.argv[1]);
const outcomes = [];
for (let i = 0; i < 50; i++) {
  outcomes.push(await new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write('AT\\r'));
    const timer = setTimeout(() => { s.destroy(); resolve('silent'); }, 10000);
    let buf = '';
    s.on('error', (e) => { clearTimeout(timer); resolve('error ' + e.code); });
    s.on('data', (d) => {
      buf += d;
      const m = /\\r\\nOK\\r\\n|bx-hil sim: busy/.exec(buf);
      if (!m) return;
      clearTimeout(timer);
      if (i % 2 === 0) s.end(); else s.destroy();
      resolve(m[0].includes('busy') ? 'busy' : 'served');
    });
  }));
}
process.stdout.write(JSON.stringify(outcomes));
`;

describe('sim TCP server: one client at a time', () => {
  test('a client in another process that closes and reconnects at once is served, 50 times in a row', async () => {
    const server = await serve();
    // The client runs in its own process, as a terminal or a harness on the bench does: its FIN
    // and its next connection then reach the sim in either order within one event-loop turn.
    const child = spawn(process.execPath, ['--input-type=module', '-e', RECONNECTING_CLIENT, String(server.port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('close', r));
    expect(err).toBe('');
    expect(code).toBe(0);
    const outcomes = JSON.parse(out) as string[];
    expect(outcomes).toHaveLength(50);
    expect(outcomes.filter((o) => o !== 'served')).toEqual([]);
  });

  test('a second client while the first is still connected gets the busy line; the first keeps working', async () => {
    const server = await serve();
    const first = await dial(server.port);
    expect(await probe(first.at)).toBe('served');
    const second = await dial(server.port);
    expect(await second.at.until(BUSY_LINE, 10_000)).toBe(BUSY_LINE);
    await new Promise<void>((r) => (second.sock.readableEnded ? r() : second.sock.once('end', () => r())));
    expect(await probe(first.at)).toBe('served');
    expect(server.hasClient).toBe(true);
    first.sock.destroy();
  });
});
