/**
 * The link conformance suite (docs/STYLE.md §2; serialport's `testSerialPortClass`, MQTT.js's
 * `abstractTest`): written once, run against every implementation by `*.test.ts` files.
 *
 * Glossary:
 * - link: the `Link` under test (what the AT engine would hold).
 * - peer: the far end, playing the module: the other PTY, the TCP server's socket, the device
 *   Duplex of a memory pair, the script's emitData/onWrite.
 *
 * Each test calls `setup()` for a fresh pair and always tears it down, so tests are
 * independent. Each guarantee of types.ts has a test here.
 */
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { afterEach, describe, expect, test } from 'vitest';
import { pollUntil } from '../processes.ts';
import type { Link } from './types.ts';

export interface ContractPeer {
  /** Send bytes to the link, as the module would. */
  write(b: Buffer): Promise<void>;
  /** Receive what the link wrote. */
  onData(cb: (b: Buffer) => void): void;
  /** Make the far end go away (unplug, kill the server, close the socket). */
  close(): Promise<void>;
}

export interface ContractSubject {
  link: Link;
  peer: ContractPeer;
  /** Release whatever setup made besides the link and the peer (processes, servers). */
  teardown?: () => Promise<void>;
  /**
   * Open the same device again (e.g. `openLink(sameUri)`). When given, the suite checks that
   * close() released the device: a serial port left open keeps its lock, so a reopen fails.
   */
  reopen?: () => Promise<Link>;
}

export interface LinkContractOptions {
  /**
   * The loss of the far end shows only on the next write (a PTY whose other side vanished:
   * docs/reference/dependencies.md §2.3). The disconnect test then writes a byte every 50 ms until it fails.
   */
  lossShowsOnWrite?: boolean;
  /** Bound on each wait inside a test. Default 5000 ms. */
  waitMs?: number;
}

/** Resource types that belong to a link (sockets, pipes, timers, fs requests, TTYs, children). */
function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

/**
 * Open file descriptors by target (Linux /proc). Native handles such as serialport's poller do
 * not show in getActiveResourcesInfo(), but a port left open keeps its fd.
 */
function fds(): Map<string, number> {
  const counts = new Map<string, number>();
  if (!existsSync('/proc/self/fd')) return counts;
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the directory handle of readdir itself, already closed
    }
    const key = `fd ${target.replace(/\d+/g, 'N')}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

function snapshot(): Map<string, number> {
  return new Map([...resources(), ...fds()]);
}

function leaked(before: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [type, n] of snapshot()) {
    const was = before.get(type) ?? 0;
    if (n > was) out.push(`${type}: ${was} -> ${n}`);
  }
  return out;
}

// Bytes arrive in chunks with no "all of it" event: the tests poll the running total (pollUntil).

/** 0x00..0xFF four times, plus the sequences telnet and terminals like to mangle. */
export function allByteValues(): Buffer {
  const ramp = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const tricky = Buffer.from([
    0x0d, 0x00, 0x0d, 0x0a, 0xff, 0xff, 0xff, 0x11, 0x13, 0x03, 0x1a, 0x04, 0x7f, 0x0a, 0x0d,
  ]);
  return Buffer.concat([ramp, tricky, Buffer.from(ramp).reverse(), tricky, ramp, ramp]);
}

export function linkContract(
  name: string,
  setup: () => Promise<ContractSubject>,
  options: LinkContractOptions = {},
): void {
  const waitMs = options.waitMs ?? 5_000;

  describe(`link contract: ${name}`, () => {
    const teardowns: Array<() => Promise<void>> = [];

    async function open(): Promise<{
      link: Link;
      peer: ContractPeer;
      received: Buffer[];
      reopen?: () => Promise<Link>;
    }> {
      const s = await setup();
      teardowns.push(async () => {
        s.link.destroy();
        await s.peer.close().catch(() => undefined);
        await s.teardown?.();
      });
      const received: Buffer[] = [];
      s.peer.onData((b) => received.push(b));
      return { link: s.link, peer: s.peer, received, ...(s.reopen ? { reopen: s.reopen } : {}) };
    }

    afterEach(async () => {
      for (const t of teardowns.splice(0).reverse()) await t();
    });

    test('is open when the factory resolves', async () => {
      const { link } = await open();
      expect(link.isOpen).toBe(true);
      expect(typeof link.uri).toBe('string');
    });

    test('bytes cross both ways, in order', async () => {
      const { link, peer, received } = await open();
      const fromLink: string[] = [];
      const got: Buffer[] = [];
      link.on('data', (b) => got.push(b));
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 50; i++) {
        fromLink.push(`AT+N=${i}\r`);
        writes.push(link.write(`AT+N=${i}\r`));
      }
      await Promise.all(writes);
      const expectedOut = fromLink.join('');
      await pollUntil(() => Buffer.concat(received).length >= expectedOut.length, {
        timeoutMs: waitMs,
        intervalMs: 5,
        what: 'the peer to receive every write',
      });
      expect(Buffer.concat(received).toString('latin1')).toBe(expectedOut);

      let expectedIn = '';
      for (let i = 0; i < 50; i++) {
        const line = `\r\n+URC: ${i}\r\n`;
        expectedIn += line;
        await peer.write(Buffer.from(line, 'latin1'));
      }
      await pollUntil(() => Buffer.concat(got).length >= expectedIn.length, {
        timeoutMs: waitMs,
        intervalMs: 5,
        what: 'the link to receive every peer write',
      });
      expect(Buffer.concat(got).toString('latin1')).toBe(expectedIn);
    });

    test('all 256 byte values cross intact in both directions', async () => {
      const { link, peer, received } = await open();
      const bytes = allByteValues();
      await link.write(bytes);
      await pollUntil(() => Buffer.concat(received).length >= bytes.length, {
        timeoutMs: waitMs,
        intervalMs: 5,
        what: 'the peer to receive all byte values',
      });
      expect(Buffer.concat(received).equals(bytes)).toBe(true);

      const got: Buffer[] = [];
      link.on('data', (b) => got.push(b));
      await peer.write(bytes);
      await pollUntil(() => Buffer.concat(got).length >= bytes.length, {
        timeoutMs: waitMs,
        intervalMs: 5,
        what: 'the link to receive all byte values',
      });
      expect(Buffer.concat(got).equals(bytes)).toBe(true);
    });

    test('close() drains pending writes, then closes; it is idempotent', async () => {
      const { link, received } = await open();
      const big = Buffer.alloc(32 * 1024, 0x41);
      const w = link.write(big);
      const closes: unknown[] = [];
      link.on('close', (e) => closes.push(e));
      const first = link.close();
      expect(link.close()).toBe(first);
      expect(link.isOpen).toBe(false);
      await first;
      await expect(w).resolves.toBeUndefined();
      await pollUntil(() => Buffer.concat(received).length >= big.length, {
        timeoutMs: waitMs,
        intervalMs: 5,
        what: 'the drained bytes at the peer',
      });
      expect(Buffer.concat(received).equals(big)).toBe(true);
      expect(closes).toEqual([undefined]);
      expect(link.close()).toBe(first);
    });

    test('close() releases the device: it can be opened again', async (ctx) => {
      const { link, reopen } = await open();
      if (!reopen) {
        ctx.skip('this implementation has no exclusive device to reopen');
        return;
      }
      await link.close();
      const again = await reopen();
      expect(again.isOpen).toBe(true);
      await again.close();
    });

    test('writes after close() reject with BXHIL_LINK_CLOSED', async () => {
      const { link } = await open();
      await link.close();
      await expect(link.write('AT\r')).rejects.toMatchObject({ code: 'BXHIL_LINK_CLOSED' });
    });

    test('no data event after close() resolves', async () => {
      const { link, peer } = await open();
      const got: Buffer[] = [];
      link.on('data', (b) => got.push(b));
      await link.close();
      await peer.write(Buffer.from('late\r\n')).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 50));
      expect(got).toEqual([]);
    });

    test('destroy() rejects pending writes with canceled and closes at once; idempotent', async () => {
      const { link } = await open();
      const closes: unknown[] = [];
      link.on('close', (e) => closes.push(e));
      const w = link.write(Buffer.alloc(64 * 1024, 0x42));
      link.destroy();
      expect(link.isOpen).toBe(false);
      await expect(w).rejects.toMatchObject({ code: 'BXHIL_LINK_CANCELED', canceled: true, disconnected: false });
      link.destroy();
      await link.close();
      expect(closes).toEqual([undefined]);
      await expect(link.write('x')).rejects.toMatchObject({ code: 'BXHIL_LINK_CLOSED' });
    });

    test('the far end going away closes the link with BXHIL_LINK_DISCONNECTED, once', async () => {
      const { link, peer } = await open();
      const closes: Array<{ code?: string; disconnected?: boolean } | undefined> = [];
      link.on('close', (e) => closes.push(e));
      await peer.close();
      let lastWrite: Promise<void> | undefined;
      // A link that only learns of the loss on a write (lossShowsOnWrite) gets one every 50 ms.
      await pollUntil(
        () => {
          if (closes.length > 0) return true;
          if (options.lossShowsOnWrite) {
            lastWrite = link.write('AT\r');
            lastWrite.catch(() => undefined);
          }
          return false;
        },
        { timeoutMs: waitMs, intervalMs: 50, what: "the link's close event after the far end went away" },
      );
      expect(closes).toHaveLength(1);
      expect(closes[0]).toMatchObject({ code: 'BXHIL_LINK_DISCONNECTED', disconnected: true, canceled: false });
      if (lastWrite) await expect(lastWrite).rejects.toMatchObject({ code: 'BXHIL_LINK_DISCONNECTED' });
      expect(link.isOpen).toBe(false);
      await expect(link.write('AT\r')).rejects.toMatchObject({ code: 'BXHIL_LINK_DISCONNECTED' });
      await link.close();
      link.destroy();
      expect(closes).toHaveLength(1);
    });

    test('leaves no handle, timer or file descriptor behind after close', async () => {
      const before = snapshot();
      const { link, peer } = await open();
      const got: Buffer[] = [];
      link.on('data', (b) => got.push(b));
      await link.write('AT\r');
      await peer.write(Buffer.from('\r\nOK\r\n'));
      await pollUntil(() => Buffer.concat(got).length >= 6, { timeoutMs: waitMs, intervalMs: 5, what: 'a reply' });
      await link.close();
      for (const t of teardowns.splice(0).reverse()) await t();
      // Handles go away on later event-loop turns, with no event to wait for. Not pollUntil: its
      // deadline timer would be active during the check and count as a leaked Timeout.
      let left: string[] = [];
      const end = Date.now() + waitMs;
      do {
        await new Promise((r) => setTimeout(r, 20));
        left = leaked(before);
      } while (left.length > 0 && Date.now() < end);
      expect(left).toEqual([]);
    });
  });
}
