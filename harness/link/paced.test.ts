/**
 * The paced link delivers bytes at the line rate (10 bit times per byte by default).
 * Timing bounds are generous (2 cores, several test runs at once): the lower bound is the
 * physics, the upper bound only catches "not paced at all" or "paced far too slowly".
 */
import { describe, expect, test } from 'vitest';
import { lineTimeMs, pacedMemoryLinkPair } from './index.ts';

describe('pacedLink', () => {
  test('lineTimeMs: 11 520 bytes take one second at 115200 8N1', () => {
    expect(lineTimeMs(11_520, 115_200)).toBeCloseTo(1000, 6);
    expect(lineTimeMs(960, 9600, 10)).toBeCloseTo(1000, 6);
  });

  test('rejects a bad baud rate with BXHIL_CONFIG naming the field', () => {
    expect(() => pacedMemoryLinkPair({ baudRate: 0 })).toThrow(
      expect.objectContaining({ code: 'BXHIL_CONFIG', field: 'baudRate' }),
    );
  });

  test('a write takes about its line time and arrives intact at the device', async () => {
    const { link, device } = pacedMemoryLinkPair({ baudRate: 96_000 }); // 9600 bytes/s
    const payload = Buffer.alloc(2400, 0x5a); // 250 ms of line time
    const seen: Buffer[] = [];
    device.on('data', (c: Buffer) => seen.push(c));
    const t0 = performance.now();
    await link.write(payload);
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(lineTimeMs(payload.length, 96_000) - 15);
    expect(took).toBeLessThan(lineTimeMs(payload.length, 96_000) * 4 + 500);
    expect(Buffer.concat(seen).equals(payload)).toBe(true);
    expect(seen.length).toBeGreaterThan(5); // delivered in slices, not in one lump
    await link.close();
  });

  test('reads are paced too, and close() clears every timer', async () => {
    const { link, device } = pacedMemoryLinkPair({ baudRate: 96_000 });
    const got: Buffer[] = [];
    link.on('data', (c) => got.push(c));
    const t0 = performance.now();
    device.write(Buffer.alloc(960, 1)); // 100 ms
    while (Buffer.concat(got).length < 960) await new Promise((r) => setTimeout(r, 5));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(85);
    device.write(Buffer.alloc(9600, 2)); // 1 s of line time still queued when we close
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    expect(before).toBeGreaterThan(0);
    await link.close();
    const n = Buffer.concat(got).length;
    await new Promise((r) => setTimeout(r, 50));
    expect(Buffer.concat(got).length).toBe(n); // nothing after close
  });

  test('updateSettings({ baudRate }) changes the pace', async () => {
    const { link } = pacedMemoryLinkPair({ baudRate: 9600 });
    await link.updateSettings!({ baudRate: 960_000 });
    expect(link.baudRate).toBe(960_000);
    const t0 = performance.now();
    await link.write(Buffer.alloc(960)); // 10 ms at the new rate, 1 s at the old one
    expect(performance.now() - t0).toBeLessThan(500);
    await link.close();
  });

  test('destroy() cancels a paced write in flight', async () => {
    const { link } = pacedMemoryLinkPair({ baudRate: 9600 });
    const w = link.write(Buffer.alloc(9600)); // 10 s
    await new Promise((r) => setTimeout(r, 30));
    link.destroy();
    await expect(w).rejects.toMatchObject({ code: 'BXHIL_LINK_CANCELED', canceled: true });
  });
});
