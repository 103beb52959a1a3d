/**
 * The SNTP side of the lab [guess: no source says the BX uses SNTP; a profile opts in with
 * `clock.source: 'sntp'`]: the responder serves the time a scenario wants, and a virtual module
 * that sets its clock from it judges the broker's certificate dates by that time.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { duplexPair } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startBrokerRig, type BrokerRig } from '../broker/index.ts';
import { Bx310x } from '../bx310x/index.ts';
import { StreamLink } from '../link/index.ts';
import { decodeNtpReply, encodeNtpRequest } from '../ntp.ts';
import { createBasicPki, type BasicPki } from '../pki/index.ts';
import { createVirtualModule, loadProfile, type VirtualModule } from '../sim/index.ts';
import { checkTarget, parseSimUri } from '../targets.ts';
import { startSntpResponder, type SntpResponder } from './index.ts';

let pki: BasicPki;
let rig: BrokerRig;
const open: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  pki = await createBasicPki({ serverNames: ['localhost', '127.0.0.1'] });
  rig = await startBrokerRig({ host: '127.0.0.1', port: 0, profile: 'strict', pki });
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});
afterAll(async () => {
  await rig?.close();
});

async function responder(time: 'host' | Date): Promise<SntpResponder> {
  const r = await startSntpResponder({ time });
  open.push(r);
  return r;
}

/** One raw SNTP exchange with `r`. */
async function ask(r: SntpResponder): Promise<Date | undefined> {
  const sock = createSocket('udp4');
  try {
    const reply = once(sock, 'message') as Promise<[Buffer]>;
    sock.send(encodeNtpRequest(new Date()), r.port, r.host);
    return decodeNtpReply((await reply)[0])?.time;
  } finally {
    sock.close();
  }
}

/** A module of the 2.6.3 profile with `clock.source` as given, driven by the BX310x driver. */
async function module(source: 'sntp' | 'host', sntp?: string): Promise<{ vm: VirtualModule; d: Bx310x }> {
  const base = loadProfile('2.6.3');
  const vm = createVirtualModule({
    profile: { ...base, name: `2.6.3-clock-${source}`, clock: { ...base.clock, source } },
    ...(sntp ? { sntp } : {}),
  });
  vm.stores.preload({ root: pki.ca.certPem, local: [pki.client.certPem], keys: [pki.client.keyPem] });
  const [host, device] = duplexPair();
  vm.attach(device);
  const d = await Bx310x.open(new StreamLink('sim:test', host));
  open.push({ close: async () => (await d.close(), await vm.close()) });
  await d.setEcho(false);
  return { vm, d };
}

async function connect(d: Bx310x): Promise<boolean> {
  const id = await d.mqttConfigure({ secure: true, server: 'localhost', port: rig.port, version: 4, clientId: 'sntp' });
  return d.mqttConnect(id, { timeoutMs: 20_000 }).then(
    () => true,
    () => false,
  );
}

describe('SNTP responder', () => {
  test('serves the time it is given, counting on, and records the query', async () => {
    const r = await responder(new Date('1970-01-01T00:00:00Z'));
    const t = await ask(r);
    expect(t!.getTime()).toBeGreaterThanOrEqual(0);
    expect(t!.getTime()).toBeLessThan(60_000);
    r.setTime(new Date('2030-06-01T00:00:00Z'));
    expect((await ask(r))!.toISOString().slice(0, 10)).toBe('2030-06-01');
    expect(r.queries).toHaveLength(2);
    expect(r.queries[0]!.from).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  test('a time NTP cannot carry (after 2036-02-07) is refused, not wrapped round to 1900', async () => {
    await expect(startSntpResponder({ time: new Date('2099-01-01T00:00:00Z') })).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: 'sntp.time',
    });
  });

  test('host time by default is the host clock', async () => {
    const r = await responder('host');
    expect(Math.abs((await ask(r))!.getTime() - Date.now())).toBeLessThan(60_000);
  });
});

describe('a virtual module that sets its clock from SNTP [guess]', () => {
  test('served the right time: the clock is set and the connect succeeds', async () => {
    const r = await responder('host');
    const { vm, d } = await module('sntp', r.address);
    expect(await connect(d)).toBe(true);
    expect(vm.clock.isSet).toBe(true);
    expect(r.queries).toHaveLength(1);
  });

  test('served 1970: the valid server certificate is "not yet valid", +KMQTT_IND: 1,0', async () => {
    const r = await responder(new Date('1970-01-01T00:00:00Z'));
    const { vm, d } = await module('sntp', r.address);
    expect(await connect(d)).toBe(false);
    expect(vm.session(1)?.lastConnectError).toMatchObject({ step: 'verify', reason: 'CERT_NOT_YET_VALID' });
    // Set from the server (not merely never set): 1970 is what it was told.
    expect(vm.clock.isSet).toBe(true);
    expect(vm.clock.now().getUTCFullYear()).toBe(1970);
    expect(r.queries).toHaveLength(1);
  });

  test('served a date past the certificate: "expired", +KMQTT_IND: 1,0', async () => {
    // The factory's certificates are valid for 30 days: a year on is past them (and inside NTP era 0).
    const r = await responder(new Date(Date.now() + 365 * 24 * 3600_000));
    const { vm, d } = await module('sntp', r.address);
    expect(await connect(d)).toBe(false);
    expect(vm.session(1)?.lastConnectError).toMatchObject({ step: 'verify', reason: 'CERT_EXPIRED' });
  });

  test('no SNTP answer: the clock stays at 1970 since boot, so the certificate is not yet valid', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      const { vm, d } = await module('sntp', `127.0.0.1:${silent.address().port}`);
      expect(await connect(d)).toBe(false);
      expect(vm.clock.isSet).toBe(false);
      expect(vm.session(1)?.lastConnectError?.reason).toBe('CERT_NOT_YET_VALID');
    } finally {
      silent.close();
    }
  });

  test('a profile whose clock is the host clock never asks', async () => {
    const r = await responder(new Date('1970-01-01T00:00:00Z'));
    const { d } = await module('host', r.address);
    expect(await connect(d)).toBe(true);
    expect(r.queries).toHaveLength(0);
  });
});

describe('sim: URI option sntp=', () => {
  test('names the server (port 123 when absent)', () => {
    expect(parseSimUri(new URL('sim:2.6.3?sntp=127.0.0.1:1234')).options.sntp).toBe('127.0.0.1:1234');
    expect(parseSimUri(new URL('sim:2.6.3?sntp=10.0.0.1')).options.sntp).toBe('10.0.0.1:123');
  });

  test('a bad value is bad input naming device.sntp', async () => {
    await expect(checkTarget('sim:2.6.3?sntp=pool.ntp.org', '--device')).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      message: expect.stringContaining('device.sntp'),
    });
  });
});
