/**
 * rfc2217:// against a REAL ser2net (Debian ser2net 4.x).
 *
 * Glossary: link = our telnet/RFC 2217 client; ser2net = the server, its `connector` on PTY
 * `b`; peer = a SerialPort on PTY `a` playing the module; socat = the wire between a and b.
 */
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SerialPort } from 'serialport';
import { linkContract } from './link.contract.ts';
import { openLink, type Link } from './index.ts';
import { hasTool, socatPtyPair, startSer2net, type PtyPair, type Ser2net } from './testing.ts';

const tools = hasTool('socat') && hasTool('ser2net');

function openPort(path: string): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path, baudRate: 115_200, autoOpen: false });
    port.open((err) => (err ? reject(err) : resolve(port)));
  });
}

function closePort(port: SerialPort): Promise<void> {
  return port.isOpen ? new Promise((r) => port.close(() => r())) : Promise.resolve();
}

interface Setup {
  pty: PtyPair;
  ser2net: Ser2net;
  close(): Promise<void>;
}

async function setup(): Promise<Setup> {
  const pty = await socatPtyPair();
  try {
    const ser2net = await startSer2net({ device: pty.b });
    return {
      pty,
      ser2net,
      close: async () => {
        await ser2net.close();
        await pty.close();
      },
    };
  } catch (err) {
    await pty.close();
    throw err;
  }
}

/** The speed stty reports for a tty, e.g. 9600. */
function sttySpeed(path: string): number {
  const out = execFileSync('stty', ['-F', path, 'speed'], { encoding: 'utf8', timeout: 5_000 });
  return Number(out.trim());
}

if (tools) {
  linkContract('rfc2217:// through ser2net to a socat PTY pair', async () => {
    const r = await setup();
    try {
      const link = await openLink(`rfc2217://127.0.0.1:${r.ser2net.port}?baud=115200`);
      const peerPort = await openPort(r.pty.a);
      peerPort.on('error', () => undefined);
      return {
        link,
        peer: {
          write: (b) =>
            new Promise<void>((resolve, reject) => peerPort.write(b, (err) => (err ? reject(err) : resolve()))),
          onData: (cb) => peerPort.on('data', cb),
          // The server going away: kill ser2net (the TCP connection ends).
          close: async () => {
            await closePort(peerPort);
            await r.ser2net.close();
          },
        },
        teardown: () => r.close(),
      };
    } catch (err) {
      await r.close();
      throw err;
    }
  });

  describe('rfc2217:// line control through ser2net', () => {
    let r: Setup;
    let link: Link | undefined;
    beforeAll(async () => {
      r = await setup();
    });
    afterAll(async () => {
      link?.destroy();
      await r?.close();
    });

    test('the URI baud rate and a later updateSettings reach the serial device (stty)', async () => {
      link = await openLink(`rfc2217://127.0.0.1:${r.ser2net.port}?baud=9600&controlTimeoutMs=500`);
      expect(sttySpeed(r.pty.b)).toBe(9600);
      await link.updateSettings!({ baudRate: 57_600 });
      expect(sttySpeed(r.pty.b)).toBe(57_600);
      expect((link as unknown as { settings: { baudRate: number } }).settings.baudRate).toBe(57_600);
    });

    test('DTR on a PTY-backed port is refused with BXHIL_LINK_UNSUPPORTED, bounded', async () => {
      link ??= await openLink(`rfc2217://127.0.0.1:${r.ser2net.port}?controlTimeoutMs=500`);
      const t0 = Date.now();
      await expect(link.setSignals!({ dtr: false })).rejects.toMatchObject({
        code: 'BXHIL_LINK_UNSUPPORTED',
        operation: 'setSignals',
      });
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(link.isOpen).toBe(true); // a refused control does not break the data path
      await link.close();
      link = undefined;
    });
  });
} else {
  describe('link contract: rfc2217://', () => {
    test.skip('socat or ser2net is not installed: apt-get install socat ser2net to run the RFC 2217 contract', () => {});
  });
}

describe('rfc2217:// open failures', () => {
  test('a server that accepts but never speaks telnet: one BXHIL_LINK_OPEN within the bound, nothing left', async () => {
    const server = net.createServer((s) => s.on('error', () => undefined).resume());
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const { port } = server.address() as net.AddressInfo;
    const before = process.getActiveResourcesInfo().length;
    const t0 = Date.now();
    const err = await openLink(`rfc2217://127.0.0.1:${port}?negotiationTimeoutMs=300`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'BXHIL_LINK_OPEN', reason: 'ETIMEDOUT' });
    expect((err as Error).message).toMatch(/tcp:\/\//); // names the fix: raw TCP wants tcp://
    expect(Date.now() - t0).toBeLessThan(3_000);
    await new Promise<void>((res) => server.close(() => res()));
    await new Promise((res) => setTimeout(res, 50));
    expect(process.getActiveResourcesInfo().length).toBeLessThanOrEqual(before);
  });

  test('a telnet server that refuses COM-PORT-OPTION: BXHIL_LINK_OPEN reason NEGOTIATION', async () => {
    const server = net.createServer((s) => {
      s.on('error', () => undefined).resume();
      // DONT COM-PORT-OPTION, WONT/DONT the rest.
      s.write(Buffer.from([255, 254, 44, 255, 252, 0, 255, 254, 0, 255, 252, 3, 255, 254, 3]));
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const { port } = server.address() as net.AddressInfo;
    await expect(openLink(`rfc2217://127.0.0.1:${port}?negotiationTimeoutMs=2000`)).rejects.toMatchObject({
      code: 'BXHIL_LINK_OPEN',
      reason: 'NEGOTIATION',
    });
    await new Promise<void>((res) => server.close(() => res()));
  });
});
