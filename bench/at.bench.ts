/**
 * AT engine benchmarks (`npm run bench -- at`).
 *
 * (a) AT->OK round trips per second through the engine over an in-memory link with an instant
 *     responder, against the same loop on the bare link (write `AT\r`, wait for the
 *     `\r\nOK\r\n` bytes). Goal: engine/bare >= 0.8.
 * (b) The data phase of a 3000-byte upload over a link paced at 115200 baud, as a fraction of
 *     the line rate (line time / measured time of the data writes), guard times excluded.
 *     Goal: >= 0.95.
 */
import type { Duplex } from 'node:stream';
import { AtEngine } from '../harness/at/index.ts';
import { lineTimeMs, memoryLinkPair, pacedMemoryLinkPair, type Link } from '../harness/link/index.ts';

/** Answer every `AT...\r` with `\r\nOK\r\n` (and `CONNECT` / `OK` for uploads), at once. */
function instantResponder(device: Duplex): void {
  let buf = '';
  let inData = false;
  device.on('data', (chunk: Buffer) => {
    buf += chunk.toString('latin1');
    for (;;) {
      if (inData) {
        const end = buf.indexOf('+++');
        if (end < 0) {
          buf = buf.slice(-2);
          return;
        }
        buf = buf.slice(end + 3);
        inData = false;
        device.write('\r\nOK\r\n');
        continue;
      }
      const cr = buf.indexOf('\r');
      if (cr < 0) return;
      const cmd = buf.slice(0, cr);
      buf = buf.slice(cr + 1);
      if (cmd.startsWith('AT+KCERTSTORE=')) {
        inData = true;
        device.write('\r\nCONNECT\r\n');
      } else {
        device.write('\r\nOK\r\n');
      }
    }
  });
}

async function bareLoop(link: Link, n: number): Promise<number> {
  let pending: (() => void) | undefined;
  let acc = '';
  link.on('data', (chunk) => {
    acc += chunk.toString('latin1');
    if (acc.includes('\r\nOK\r\n')) {
      acc = '';
      pending?.();
    }
  });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const got = new Promise<void>((resolve) => (pending = resolve));
    await link.write('AT\r');
    await got;
  }
  return performance.now() - t0;
}

async function engineLoop(at: AtEngine, n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await at.command('AT');
  return performance.now() - t0;
}

async function roundTrips(): Promise<void> {
  // Short interleaved rounds, best of each: the machine is shared, so load comes and goes.
  const n = 3_000;
  const rounds = 7;
  let bestBare = Infinity;
  let bestEngine = Infinity;
  for (let r = 0; r < rounds; r++) {
    {
      const { link, device } = memoryLinkPair();
      instantResponder(device);
      bestBare = Math.min(bestBare, await bareLoop(link, n));
      await link.close();
    }
    {
      const { link, device } = memoryLinkPair();
      instantResponder(device);
      const at = new AtEngine(link);
      bestEngine = Math.min(bestEngine, await engineLoop(at, n));
      await at.close();
      await link.close();
    }
  }
  const bareRate = (n / bestBare) * 1000;
  const engineRate = (n / bestEngine) * 1000;
  console.log(`(a) AT->OK round trips, ${n} per run, best of ${rounds}:`);
  console.log(`    bare link : ${bareRate.toFixed(0)} /s`);
  console.log(`    AtEngine  : ${engineRate.toFixed(0)} /s`);
  console.log(`    ratio engine/bare: ${(engineRate / bareRate).toFixed(3)} (goal >= 0.8)`);
  // Context: on a real module the same round trip crosses a UART. At 115200 baud 8N1,
  // `AT\r` + `\r\nOK\r\n` is 9 bytes = 0.78 ms of line time alone.
  const overheadUs = (1 / engineRate - 1 / bareRate) * 1e6;
  const uartUs = lineTimeMs(9, 115_200) * 1000;
  console.log(
    `    engine cost ${overheadUs.toFixed(2)} us per command = ${((overheadUs / uartUs) * 100).toFixed(2)} % of a 115200-baud AT/OK round trip (${uartUs.toFixed(0)} us)`,
  );
}

async function upload(): Promise<void> {
  const baudRate = 115_200;
  const size = 3_000;
  const data = Buffer.alloc(size, 0x41);
  const { link, device } = pacedMemoryLinkPair({ baudRate });
  instantResponder(device);
  // Time the data writes only (not the command, not +++): from the first data byte handed to
  // the link to the last one through the paced line. Guard times are outside this window.
  let first = 0;
  let last = 0;
  const write = link.write.bind(link);
  link.write = async (chunk: Uint8Array | string): Promise<void> => {
    const isData = typeof chunk !== 'string';
    if (isData && first === 0) first = performance.now();
    await write(chunk);
    if (isData) last = performance.now();
  };
  const at = new AtEngine(link, { defaultTimeoutMs: 10_000 });
  const t0 = performance.now();
  await at.dataMode(`AT+KCERTSTORE=0,${size}`, data, { guardTimeMs: 100 });
  const total = performance.now() - t0;
  await at.close();
  await link.close();
  const measured = last - first;
  const ideal = lineTimeMs(size, baudRate);
  console.log(`(b) ${size}-byte upload at ${baudRate} baud (8N1):`);
  console.log(
    `    line time ${ideal.toFixed(1)} ms, data phase ${measured.toFixed(1)} ms, whole call ${total.toFixed(1)} ms (2 x 100 ms guard)`,
  );
  console.log(`    fraction of line rate: ${(ideal / measured).toFixed(3)} (goal >= 0.95)`);
}

export async function run(): Promise<void> {
  await roundTrips();
  await upload();
}
