/**
 * Link figures: one-way throughput and small-command round trip per transport, against the
 * in-memory pair as the baseline measured in the same process; and the paced link's accuracy
 * (measured time / line time) for a 3000-byte upload at 115200 baud (the KCERTSTORE maximum).
 *
 * Transports needing tools (socat, ser2net) are skipped with a note when the tool is absent.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { SerialPort } from 'serialport';
import { lineTimeMs, memoryLinkPair, openLink, pacedMemoryLinkPair, type Link } from '../harness/link/index.ts';
import { hasTool, socatPtyPair, startSer2net } from '../harness/link/testing.ts';

interface Peer {
  onData(cb: (b: Buffer) => void): void;
  write(b: Buffer): void;
}

interface Rig {
  name: string;
  link: Link;
  peer: Peer;
  close(): Promise<void>;
}

const BULK_BYTES = 256 * 1024;
const ROUND_TRIPS = 200;

function duplexPeer(d: Duplex): Peer {
  return { onData: (cb) => d.on('data', cb), write: (b) => void d.write(b) };
}

async function memoryRig(): Promise<Rig> {
  const { link, device } = memoryLinkPair();
  return { name: 'memory pair (baseline)', link, peer: duplexPeer(device), close: () => link.close() };
}

async function tcpRig(): Promise<Rig> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const link = await openLink(`tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  const socket = await accepted;
  return {
    name: 'tcp:// loopback',
    link,
    peer: duplexPeer(socket),
    close: async () => {
      await link.close();
      socket.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function openPort(path: string): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate: 115_200, autoOpen: false });
  await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
  return port;
}

async function serialRig(): Promise<Rig> {
  const pty = await socatPtyPair();
  const link = await openLink(`serial:${pty.a}`);
  const port = await openPort(pty.b);
  return {
    name: 'serial: socat PTY pair',
    link,
    peer: { onData: (cb) => port.on('data', cb), write: (b) => void port.write(b) },
    close: async () => {
      await link.close();
      await new Promise<void>((r) => port.close(() => r()));
      await pty.close();
    },
  };
}

async function rfc2217Rig(): Promise<Rig> {
  const pty = await socatPtyPair();
  const ser2net = await startSer2net({ device: pty.b });
  const link = await openLink(`rfc2217://127.0.0.1:${ser2net.port}`);
  const port = await openPort(pty.a);
  return {
    name: 'rfc2217:// via ser2net',
    link,
    peer: { onData: (cb) => port.on('data', cb), write: (b) => void port.write(b) },
    close: async () => {
      await link.close();
      await new Promise<void>((r) => port.close(() => r()));
      await ser2net.close();
      await pty.close();
    },
  };
}

async function bulk(rig: Rig): Promise<number> {
  let got = 0;
  const done = new Promise<void>((resolve) =>
    rig.peer.onData((b) => {
      got += b.length;
      if (got >= BULK_BYTES) resolve();
    }),
  );
  const chunk = Buffer.alloc(4096, 0x55);
  const t0 = performance.now();
  for (let sent = 0; sent < BULK_BYTES; sent += chunk.length) await rig.link.write(chunk);
  await done;
  return BULK_BYTES / 1024 / 1024 / ((performance.now() - t0) / 1000);
}

async function roundTrip(rig: Rig): Promise<number> {
  // The peer answers every CR with OK, like a module at its simplest.
  rig.peer.onData((b) => {
    for (const byte of b) if (byte === 0x0d) rig.peer.write(Buffer.from('\r\nOK\r\n'));
  });
  const times: number[] = [];
  let pending: (() => void) | undefined;
  let buf = '';
  rig.link.on('data', (b) => {
    buf += b.toString('latin1');
    if (buf.includes('OK\r\n')) {
      buf = '';
      pending?.();
    }
  });
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      pending = resolve;
      void rig.link.write('AT\r');
    });
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export async function run(): Promise<void> {
  const makers: Array<[() => Promise<Rig>, string | undefined]> = [
    [memoryRig, undefined],
    [tcpRig, undefined],
    [serialRig, hasTool('socat') ? undefined : 'socat missing'],
    [rfc2217Rig, hasTool('socat') && hasTool('ser2net') ? undefined : 'socat or ser2net missing'],
  ];
  let baseMBps = 0;
  let baseRtMs = 0;
  for (const [make, skip] of makers) {
    if (skip) {
      console.log(`${make.name}: skipped (${skip})`);
      continue;
    }
    const a = await make();
    const mbps = await bulk(a);
    await a.close();
    const b = await make();
    const rt = await roundTrip(b);
    await b.close();
    if (baseMBps === 0) {
      baseMBps = mbps;
      baseRtMs = rt;
    }
    console.log(
      `${a.name.padEnd(26)} bulk ${mbps.toFixed(1).padStart(7)} MB/s (${(mbps / baseMBps).toFixed(2)}x baseline)   ` +
        `AT round trip median ${rt.toFixed(3)} ms (${(rt / baseRtMs).toFixed(1)}x baseline)`,
    );
  }

  const { link, device } = pacedMemoryLinkPair({ baudRate: 115_200 });
  device.resume();
  const upload = Buffer.alloc(3000, 0x41);
  const t0 = performance.now();
  for (let off = 0; off < upload.length; off += 256) await link.write(upload.subarray(off, off + 256));
  const took = performance.now() - t0;
  const ideal = lineTimeMs(upload.length, 115_200);
  console.log(
    `paced 115200 8N1: 3000-byte upload in 256-byte writes took ${took.toFixed(1)} ms, line time ${ideal.toFixed(1)} ms (ratio ${(took / ideal).toFixed(3)})`,
  );
  await link.close();
}
