/**
 * DeviceSession against scripted links: the state machine, broken(cause) carried to every
 * later use, ensureClean() closing and deleting MQTT sessions with its errors reported, and
 * close() collecting every failure.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { EvidenceEvent } from '../evidence.ts';
import { scriptedLink, type ScriptedLink } from '../link/index.ts';
import { brokerBindHost, DeviceSession, type VirtualKnobs } from './device-session.ts';
import { parseLab } from './lab.ts';

const OK = '\r\nOK\r\n';
const CME = (n: number) => `\r\n+CME ERROR: ${n}\r\n`;
const FAST = { defaultTimeoutMs: 1_000, guardTimeMs: 5, engine: { resyncAttempts: 1, resyncTimeoutMs: 50 } };
const sessions: DeviceSession[] = [];

afterEach(async () => {
  for (const s of sessions.splice(0)) await s.close().catch(() => undefined);
});

/** A session over scripted links handed out in order; `links[i]` is scripted before use. */
function setup(options: { wifi?: boolean; vm?: VirtualKnobs } = {}): {
  session: DeviceSession;
  links: ScriptedLink[];
  events: EvidenceEvent[];
} {
  const links = [scriptedLink(), scriptedLink()];
  let n = 0;
  const device = parseLab({
    devices: [{ uri: 'sim:2.6.3', ...(options.wifi ? { wifi: { ssid: 'lab', password: 'pw' } } : {}) }],
  }).devices[0]!;
  const session = new DeviceSession({
    uri: 'scripted:',
    device,
    targets: { open: async () => links[n++]!.link, virtualModule: () => options.vm },
    driver: FAST,
  });
  sessions.push(session);
  const events: EvidenceEvent[] = [];
  session.bus.subscribe((e) => events.push(e));
  return { session, links, events };
}

function scriptOpen(s: ScriptedLink): void {
  s.expectWrite('AT\r').respond(OK);
  s.expectWrite('ATI\r').respond('\r\nBX3105\r\n' + OK);
  s.expectWrite('AT+CGMR\r').respond('\r\n2.6.3\r\n' + OK);
  s.expectWrite('AT+FMM\r').respond('\r\nBX310x\r\n' + OK);
}

const TWO_SESSIONS =
  '\r\n+KMQTTCFG: 1,"broker",1883,4,"a",60,1,0,,,0,0,,\r\n+KMQTTCFG: 2,"broker",1883,4,"b",60,1,0,,,0,0,,\r\n' + OK;

describe('DeviceSession', () => {
  test('open(): unknown → linked → identified → provisioned, joining the lab file Wi-Fi; ensureClean() → clean', async () => {
    const { session, links } = setup({ wifi: true });
    const s = links[0]!;
    expect(session.state).toBe('unknown');
    scriptOpen(s);
    s.expectWrite('AT+SRWSTACFG="lab","pw",1\r').respond(OK);
    s.expectWrite('AT+SRWSTACON=1\r').respond(OK).thenEmit('\r\n+SRWSTAIP: "10.0.0.7","255.255.255.0","10.0.0.1"\r\n');
    await session.link();
    expect(session.state).toBe('linked');
    expect(await session.identify()).toEqual({ model: 'BX3105', firmware: '2.6.3', family: 'BX310x' });
    expect(session.state).toBe('identified');
    await session.provision();
    expect(session.state).toBe('provisioned');
    s.expectWrite('AT+KMQTTCFG?\r').respond(OK);
    expect(await session.ensureClean()).toBe('clean');
    expect(session.acquire()).toBe(session.driver);
    // Handed out, the module is no longer known clean.
    expect(session.state).toBe('provisioned');
    s.assertDone();
  });

  test('a failed step breaks the session; every later use fails at once with BXHIL_DEVICE_BROKEN and the original cause', async () => {
    const { session, links } = setup();
    const s = links[0]!;
    s.expectWrite('AT\r').respond(OK);
    s.expectWrite('ATI\r').respond(CME(3));
    const err = await session.open().catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('BXHIL_CME');
    expect(session.state).toBe('broken');
    expect(session.cause).toBe(err);
    const broken = (() => {
      try {
        session.acquire();
      } catch (e) {
        return e as Error & { code: string; cause: unknown };
      }
      throw new Error('acquire() should have thrown');
    })();
    expect(broken.code).toBe('BXHIL_DEVICE_BROKEN');
    expect(broken.cause).toBe(err);
    expect(broken.message).toContain('scripted:');
    // No step runs on a broken session, and ensureClean() leaves it broken without touching the module.
    await expect(session.identify()).rejects.toMatchObject({ code: 'BXHIL_DEVICE_BROKEN', cause: err });
    expect(await session.ensureClean()).toBe('broken');
    s.assertDone();
  });

  test('ensureClean() closes and deletes every MQTT session; a refused close is reported as evidence, not dropped', async () => {
    const { session, links, events } = setup();
    const s = links[0]!;
    scriptOpen(s);
    await session.open();
    session.acquire();
    s.expectWrite('AT+KMQTTCFG?\r').respond(TWO_SESSIONS);
    s.expectWrite('AT+KMQTTCLOSE=1\r').respond(CME(922));
    s.expectWrite('AT+KMQTTDEL=1\r').respond(OK);
    s.expectWrite('AT+KMQTTCLOSE=2\r').respond(OK);
    s.expectWrite('AT+KMQTTDEL=2\r').respond(OK);
    expect(await session.ensureClean()).toBe('clean');
    s.assertDone();
    const reported = events.filter((e) => e.kind === 'cleanup-error');
    expect(reported).toEqual([
      expect.objectContaining({ source: 'driver', summary: expect.stringContaining('closing MQTT session 1') }),
    ]);
    expect(reported[0]!.data).toEqual({ code: 'BXHIL_CME' });
  });

  test('an MQTT session that cannot be deleted breaks the session with the cause (not swallowed)', async () => {
    const { session, links } = setup();
    const s = links[0]!;
    scriptOpen(s);
    await session.open();
    s.expectWrite('AT+KMQTTCFG?\r').respond(TWO_SESSIONS);
    s.expectWrite('AT+KMQTTCLOSE=1\r').respond(OK);
    s.expectWrite('AT+KMQTTDEL=1\r').respond(CME(910));
    s.expectWrite('AT+KMQTTCLOSE=2\r').respond(OK);
    s.expectWrite('AT+KMQTTDEL=2\r').respond(CME(911));
    expect(await session.ensureClean()).toBe('broken');
    const cause = session.cause as AggregateError;
    expect(cause).toBeInstanceOf(AggregateError);
    expect(cause.errors.map((e: { code?: string }) => e.code)).toEqual(['BXHIL_CME', 'BXHIL_CME']);
    expect(() => session.acquire()).toThrow(expect.objectContaining({ code: 'BXHIL_DEVICE_BROKEN', cause }));
    s.assertDone();
  });

  test('ensureClean() on the virtual module turns faults off and rejoins the Wi-Fi a test dropped', async () => {
    const vm = { profile: {}, wifi: { joined: false }, setFaults: vi.fn(), setResolve: vi.fn() };
    const { session, links } = setup({ vm: vm as unknown as VirtualKnobs });
    const s = links[0]!;
    scriptOpen(s);
    await session.open();
    expect(session.vm).toBe(vm);
    s.expectWrite('AT+KMQTTCFG?\r').respond(OK);
    s.expectWrite('AT+SRWSTACON=1\r').respond(OK).thenEmit('\r\n+SRWSTAIP: "10.0.0.7","255.255.255.0","10.0.0.1"\r\n');
    expect(await session.ensureClean()).toBe('clean');
    expect(vm.setFaults).toHaveBeenCalledWith(expect.objectContaining({ dropRate: 0, resetAtCommand: '' }));
    s.assertDone();
  });

  test('a driver a test broke is closed and opened again on a new link before cleaning', async () => {
    const { session, links, events } = setup();
    const [first, second] = links as [ScriptedLink, ScriptedLink];
    scriptOpen(first);
    await session.open();
    const before = session.acquire();
    first.disconnect(new Error('cable pulled'));
    await vi.waitFor(() => expect(before.state).not.toBe('open'));
    second.expectWrite('AT\r').respond(OK);
    second.expectWrite('AT+KMQTTCFG?\r').respond(OK);
    expect(await session.ensureClean()).toBe('clean');
    expect(session.driver).not.toBe(before);
    expect(session.acquire().state).toBe('open');
    second.assertDone();
    // Closing what the pulled cable left behind went through closeAll; nothing failed quietly.
    expect(events.filter((e) => e.kind === 'cleanup-error').map((e) => e.summary)).toEqual([]);
  });

  test('setUploadGuard applies to the driver now and to a driver opened again after a broken test', async () => {
    const { session, links } = setup();
    const [first, second] = links as [ScriptedLink, ScriptedLink];
    scriptOpen(first);
    await session.open();
    expect(session.acquire().guardTimeMs).toBe(FAST.guardTimeMs);
    session.setUploadGuard(80);
    expect(session.acquire().guardTimeMs).toBe(80);
    first.disconnect(new Error('cable pulled'));
    await vi.waitFor(() => expect(session.driver?.state).not.toBe('open'));
    second.expectWrite('AT\r').respond(OK);
    second.expectWrite('AT+KMQTTCFG?\r').respond(OK);
    expect(await session.ensureClean()).toBe('clean');
    expect(session.acquire().guardTimeMs).toBe(80);
  });

  test('close() closes driver and link once; every failure is collected into an AggregateError', async () => {
    const { session, links } = setup();
    const s = links[0]!;
    scriptOpen(s);
    await session.open();
    const driver = session.driver!;
    driver.close = async () => {
      throw new Error('driver close failed');
    };
    s.link.close = async () => {
      throw new Error('link close failed');
    };
    const err = (await session.close().catch((e: unknown) => e)) as AggregateError;
    expect(err).toBeInstanceOf(AggregateError);
    expect(err.errors.map((e: Error) => e.message)).toEqual(['driver close failed', 'link close failed']);
    // Idempotent: the closers ran once.
    await expect(session.close()).resolves.toBeUndefined();
    expect(session.state).toBe('unknown');
  });
});

describe('brokerBindHost', () => {
  test.each([
    [undefined, '127.0.0.1'],
    ['127.0.0.1', '127.0.0.1'],
    // localhost is loopback: the broker must not listen beyond this host for it.
    ['localhost', '127.0.0.1'],
    ['::1', '::1'],
    ['192.168.1.10', '0.0.0.0'],
    ['bench-pc.local', '0.0.0.0'],
  ])('%s → %s', (hostAddress, bind) => {
    expect(brokerBindHost(hostAddress)).toBe(bind);
  });
});
