/**
 * The virtual module under a timing (docs/sim.md §Timing): the line paces its output and notices
 * a host that overruns it, each latency is spent where the module would spend it, every delay
 * dies with the module, and `instant` stays instant.
 *
 * Glossary: module = the VirtualModule under test; host = a RawClient on its serial side (raw
 * bytes, no shared parser), unpaced on a duplexPair or paced through `pacedMemoryLinkPair`.
 * Wall-clock checks assert elapsed >= the modelled time, with an upper bound that leaves room
 * for a loaded 2-core machine.
 */
import { duplexPair } from 'node:stream';
import { afterEach, describe, expect, test } from 'vitest';
import { EvidenceBus, type EvidenceEvent } from '../evidence.ts';
import { pacedMemoryLinkPair } from '../link/index.ts';
import { INSTANT_TIMING, parseTiming, timingLineMs, type Timing } from '../timing.ts';
import { createVirtualModule, type VirtualModule, type VirtualModuleOptions } from './index.ts';
import { RawClient } from './raw-client.ts';

const modules: VirtualModule[] = [];
afterEach(async () => {
  await Promise.all(modules.splice(0).map((m) => m.close()));
});

/** A timing with only the given values (the rest instant). */
function only(partial: Record<string, unknown>): Timing {
  return parseTiming({ name: 'test', ...partial });
}

function open(timing: Timing, extra: Partial<VirtualModuleOptions> = {}): { vm: VirtualModule; at: RawClient } {
  const vm = createVirtualModule({ profile: '2.6.3', timing, ...extra });
  modules.push(vm);
  const [host, device] = duplexPair();
  vm.attach(device);
  return { vm, at: new RawClient(host) };
}

const elapsedSince = (t0: number) => performance.now() - t0;

describe('the line', () => {
  test('output crosses at the baud rate: N bytes at 115200 take at least N*10/115200 s', async () => {
    const { vm, at } = open(only({ line: { baudRate: 115_200, bitsPerByte: 10 } }));
    vm.stores.root = Buffer.from(`-----BEGIN CERTIFICATE-----\n${'A'.repeat(2900)}\n-----END CERTIFICATE-----\n`);
    const t0 = performance.now();
    const got = await at.cmd('AT+KCERTSTORE?');
    const elapsed = elapsedSince(t0);
    const modelled = timingLineMs(vm.timing, got.length); // echo + listing + OK, about 3 KB
    expect(got.length).toBeGreaterThan(2900);
    expect(elapsed).toBeGreaterThanOrEqual(modelled - 1); // the last slice is due at the end
    expect(elapsed).toBeLessThan(modelled * 3 + 1_000);
  });

  test('instant output is written at once', async () => {
    const { vm, at } = open(INSTANT_TIMING);
    vm.stores.root = Buffer.from('x'.repeat(2900));
    const t0 = performance.now();
    await at.cmd('AT+KCERTSTORE?');
    expect(elapsedSince(t0)).toBeLessThan(timingLineMs(only({ line: { baudRate: 115_200 } }), 2900));
    expect(vm.timing).toBe(INSTANT_TIMING);
  });

  test('a host writing a big block unpaced is noticed (counted, one evidence event), its bytes kept', async () => {
    const bus = new EvidenceBus();
    const events: EvidenceEvent[] = [];
    bus.subscribe((e) => void (e.kind === 'overrun' && events.push(e)));
    const { vm, at } = open(only({ line: { baudRate: 115_200 } }), { bus });
    at.send(`AT${' '.repeat(4000)}\r`); // 4 KB in one write: 350 ms of line time at once
    // Kept, not dropped: the line reaches the parser, which finds it too long (ERROR).
    expect(await at.until(/\r\nERROR\r\n/, 5_000)).toContain('ERROR');
    expect(vm.rxOverruns).toBe(1);
    expect(events).toHaveLength(1);
    expect(events[0]!.summary).toMatch(/faster than 115200 baud/);
  });

  test('a host paced at the line rate is not flagged, nor is any host of an instant module', async () => {
    const vm = createVirtualModule({ profile: '2.6.3', timing: only({ line: { baudRate: 115_200 } }) });
    modules.push(vm);
    const { link, device } = pacedMemoryLinkPair({ baudRate: 115_200, paceReads: false });
    vm.attach(device);
    let got = '';
    link.on('data', (d) => (got += d.toString('latin1')));
    await link.write(Buffer.from(`AT${' '.repeat(4000)}\r`));
    await expect.poll(() => got, { timeout: 5_000 }).toContain('ERROR');
    expect(vm.rxOverruns).toBe(0);
    await link.close();

    const { vm: fast, at } = open(INSTANT_TIMING);
    at.send(`AT${' '.repeat(4000)}\r`);
    await at.until(/\r\nERROR\r\n/);
    expect(fast.rxOverruns).toBe(0);
  });
});

describe('boot', () => {
  test('AT+RST: OK, then READY after timing.bootMs', async () => {
    const { at } = open(only({ bootMs: 400 }));
    await at.cmd('AT+RST');
    const t0 = performance.now();
    await at.until('\r\nREADY\r\n', 5_000);
    const elapsed = elapsedSince(t0);
    expect(elapsed).toBeGreaterThanOrEqual(399);
    expect(elapsed).toBeLessThan(3_000);
  });

  test('instant: the profile framing.bootMs still applies', async () => {
    const { vm, at } = open(INSTANT_TIMING);
    await at.cmd('AT&F');
    const t0 = performance.now();
    await at.until('\r\nREADY\r\n');
    expect(elapsedSince(t0)).toBeGreaterThanOrEqual(vm.profile.framing.bootMs - 1);
  });
});
