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
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { duplexPair } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { createBasicPki } from '../pki/index.ts';
import { EvidenceBus, type EvidenceEvent } from '../evidence.ts';
import { pacedMemoryLinkPair } from '../link/index.ts';
import { INSTANT_TIMING, flashWriteMs, parseTiming, timingLineMs, type Timing } from '../timing.ts';
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

describe('flash', () => {
  test('an upload answers OK flashWriteMs after +++ (and its guard time); a delete costs one item', async () => {
    const t = only({ flash: { perItemMs: 300, perKbMs: 100 } });
    const { vm, at } = open(t);
    const pem = `-----BEGIN CERTIFICATE-----\n${'A'.repeat(1024)}\n-----END CERTIFICATE-----\n`;
    expect(await at.cmd('AT+KCERTSTORE=0')).toContain('CONNECT');
    at.send(pem);
    await new Promise((r) => setTimeout(r, 80)); // the +++ pre-guard a host keeps
    const t0 = performance.now();
    at.send('+++');
    expect(await at.until(/\r\n(OK|ERROR|\+CME ERROR: \d+)\r\n/, 5_000)).toBe('\r\nOK\r\n');
    const modelled = vm.profile.uploads.guardTimeMs + flashWriteMs(t, pem.length); // 50 + 300 + 100 * 1.07
    expect(elapsedSince(t0)).toBeGreaterThanOrEqual(modelled - 1);
    expect(elapsedSince(t0)).toBeLessThan(modelled + 2_000);

    // A command sent while the OK is still being written waits for it (the module is busy).
    const t1 = performance.now();
    expect(await at.cmd('AT+KCERTDELETE=0')).toBe('AT+KCERTDELETE=0\r\r\nOK\r\n');
    expect(elapsedSince(t1)).toBeGreaterThanOrEqual(299);
  });
});

describe('Wi-Fi', () => {
  test('AT+SRWSTACON=1: OK at once, the join URCs after joinMs; a reset cancels a join in progress', async () => {
    const { vm, at } = open(only({ wifi: { joinMs: 400 } }), { profile: 'reference' });
    expect(await at.cmd('AT+SRWSTACON=0')).toContain('OK');
    await at.until('+SRWSTASTATUS: 0,8\r\n');
    const t0 = performance.now();
    expect(await at.cmd('AT+SRWSTACON=1')).toContain('OK');
    expect(vm.wifiJoined).toBe(false);
    await at.until(/\+SRWSTAIP: [^\r]*\r\n/, 5_000);
    expect(elapsedSince(t0)).toBeGreaterThanOrEqual(399);
    expect(vm.wifiJoined).toBe(true);

    await at.cmd('AT+SRWSTACON=0');
    at.clear();
    await at.cmd('AT+SRWSTACON=1');
    vm.reset();
    await at.until('\r\nREADY\r\n');
    expect(await at.drainAfter(600)).not.toContain('+SRWSTASTATUS: 1');
  });
});

describe('cancellation', () => {
  test.each(['output', 'boot', 'flash', 'wifi'] as const)(
    'close() mid-%s clears every timer the module holds and nothing is written after it',
    async (step) => {
      vi.useFakeTimers();
      try {
        const t = only({ line: { baudRate: 9_600 }, bootMs: 300, flash: { perItemMs: 300 }, wifi: { joinMs: 300 } });
        const { vm, at } = open(t);
        const sendNow = async (line: string) => {
          at.send(line);
          await vi.advanceTimersByTimeAsync(50); // the command is read; its work is under way
        };
        if (step === 'output') {
          vm.stores.root = Buffer.from('x'.repeat(2000)); // 2 s of line at 9600 baud
          await sendNow('AT+KCERTSTORE?\r');
        } else if (step === 'boot') await sendNow('AT+RST\r');
        else if (step === 'flash')
          await sendNow('AT+KCERTDELETE=0\r'); // OK after the 300 ms erase
        else await sendNow('AT+SRWSTACON=1\r');
        expect(vi.getTimerCount()).toBeGreaterThan(0);
        await vm.close();
        expect(vi.getTimerCount()).toBe(0);
        at.clear();
        await vi.advanceTimersByTimeAsync(5_000);
        expect(at.buffer).toBe('');
      } finally {
        vi.useRealTimers();
      }
    },
  );
});

describe('TLS and MQTT', () => {
  /** aedes behind a TLS 1.2 front door asking for a client certificate; times each handshake. */
  async function rig() {
    const pki = await createBasicPki({ serverNames: ['localhost'] });
    const broker = await Aedes.createBroker();
    const handshakes: Array<{ acceptedAt: number; secureAt: number }> = [];
    const sockets = new Set<Socket>();
    const server: TlsServer = createTlsServer(
      {
        key: pki.server.keyPem,
        cert: pki.server.certPem,
        ca: pki.ca.certPem,
        requestCert: true,
        rejectUnauthorized: true,
        maxVersion: 'TLSv1.2',
      },
      (s: TLSSocket) => {
        handshakes.at(-1)!.secureAt = performance.now();
        broker.handle(s);
      },
    );
    server.on('connection', (s: Socket) => {
      handshakes.push({ acceptedAt: performance.now(), secureAt: NaN });
      sockets.add(s);
    });
    server.on('tlsClientError', () => undefined);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const close = async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
      await new Promise<void>((r) => broker.close(() => r()));
    };
    return { pki, broker, port, handshakes, close };
  }

  test("the handshake work is spent before the module's Finished, CONNACK → URC and PUB → PUBLISH take theirs", async () => {
    const r = await rig();
    try {
      const timing = only({
        tls: {
          keyExchangeMs: 100,
          verifyPerCertMs: { rsa2048: 5_000, rsa4096: 5_000, ecP256: 50 },
          signMs: { rsa2048: 5_000, rsa4096: 5_000, ecP256: 200 },
        },
        mqtt: { connackMs: 150, publishMs: 250 },
      });
      const bus = new EvidenceBus();
      const cpu: EvidenceEvent[] = [];
      bus.subscribe((e) => void (e.kind === 'tls-cpu' && cpu.push(e)));
      const { vm, at } = open(timing, { bus });
      vm.stores.preload({ root: r.pki.ca.certPem, local: [r.pki.client.certPem], keys: [r.pki.client.keyPem] });
      await at.cmd('ATE0');
      expect(await at.cmd(`AT+KMQTTCFG=1,"localhost",${r.port},4,"timed"`)).toContain('OK');
      const t0 = performance.now();
      expect(await at.cmd('AT+KMQTTCNX=1')).toBe('\r\nOK\r\n');
      await at.until('+KMQTT_IND: 1,1\r\n', 10_000);
      const connectMs = elapsedSince(t0);
      // EC P-256 everywhere: the key exchange, the server's signature and the CA's over its
      // certificate (two checks), and the module's own signature for the CertificateRequest.
      expect(cpu.map((e) => e.data)).toEqual([{ ms: 400, verified: ['ecP256', 'ecP256'], signed: 'ecP256' }]);
      // Spent inside the handshake: the broker waits for the module's Finished that long.
      const hs = r.handshakes.at(-1)!;
      expect(hs.secureAt - hs.acceptedAt).toBeGreaterThanOrEqual(399);
      expect(connectMs).toBeGreaterThanOrEqual(400 + 150 - 1);
      expect(connectMs).toBeLessThan(400 + 150 + 3_000);

      const peer = await mqtt.connectAsync({
        host: '127.0.0.1',
        port: r.port,
        reconnectPeriod: 0,
        rejectUnauthorized: false,
        protocol: 'mqtts',
        key: r.pki.client.keyPem,
        cert: r.pki.client.certPem,
        ca: r.pki.ca.certPem,
        servername: 'localhost',
      });
      try {
        await peer.subscribeAsync('timed/tele');
        const got = new Promise<number>((resolve) => peer.once('message', () => resolve(performance.now())));
        const t1 = performance.now();
        expect(await at.cmd('AT+KMQTTPUB=1,"timed/tele",0,0,"hi"')).toBe('\r\nOK\r\n');
        expect((await got) - t1).toBeGreaterThanOrEqual(249);
      } finally {
        await peer.endAsync(true);
      }
    } finally {
      await r.close();
    }
  });

  test('closing the module mid-handshake writes nothing late and never sends the held Finished', async () => {
    const r = await rig();
    try {
      const timing = only({ tls: { keyExchangeMs: 800 } });
      const { vm, at } = open(timing);
      vm.stores.preload({ root: r.pki.ca.certPem, local: [r.pki.client.certPem], keys: [r.pki.client.keyPem] });
      await at.cmd(`AT+KMQTTCFG=1,"localhost",${r.port},4,"cut"`);
      await at.cmd('AT+KMQTTCNX=1');
      await expect.poll(() => r.handshakes.length, { timeout: 5_000 }).toBe(1);
      await vm.close();
      at.clear();
      expect(await at.drainAfter(1_000)).toBe('');
      expect(Number.isNaN(r.handshakes[0]!.secureAt)).toBe(true); // the held Finished never left
    } finally {
      await r.close();
    }
  });
});
