/**
 * The lab file's `network.dns` in preflight: the responder must answer the run's name on the
 * address the modules use, before any suite depends on it. A real responder on 127.0.0.1 and a
 * fake module (the DNS check is the host's, not the module's).
 */
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, test } from 'vitest';
import { freeUdpPort } from '../processes.ts';
import { startDnsResponder, type DnsResponder } from '../lab/index.ts';
import { parseLab } from './lab.ts';
import { preflightDevice, type PreflightModule, type PreflightPort } from './preflight.ts';

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

const fakeModule: PreflightModule = {
  ping: async () => undefined,
  identity: async () => ({ model: 'BX3105', firmware: '2.6.3' }),
  joinWifi: async () => undefined,
  mqttProbe: async () => undefined,
  close: async () => undefined,
};
const port: PreflightPort = {
  open: async () => fakeModule,
  startProbeBroker: async () => ({ port: 41883, close: async () => undefined }),
};

function lab(listen: string, names: Record<string, string> = { 'broker.lab.test': '127.0.0.1' }) {
  return parseLab({ devices: [{ id: 'a', uri: 'sim:2.6.3' }], network: { dns: { listen, names } } });
}

async function responder(names: Record<string, string>): Promise<DnsResponder> {
  const r = await startDnsResponder({ names });
  open.push(r);
  return r;
}

describe('preflight: network.dns', () => {
  test('the lab file carries network.dns through parseLab', () => {
    expect(lab('127.0.0.1:5353').network).toEqual({
      dns: { listen: { host: '127.0.0.1', port: 5353 }, names: { 'broker.lab.test': '127.0.0.1' } },
    });
    expect(() =>
      parseLab({ devices: ['sim:2.6.3'], network: { dns: { listen: 'x', names: { a: '1.2.3.4' } } } }),
    ).toThrow(expect.objectContaining({ field: 'network.dns.listen' }));
  });

  test('a responder that answers the name with its address: the dns step is ok, before the broker step', async () => {
    const r = await responder({ 'broker.lab.test': '127.0.0.1' });
    const l = lab(r.address);
    const res = await preflightDevice(l.devices[0]!, port, { dns: l.network!.dns! });
    expect(res.ok).toBe(true);
    const names = res.steps.map((s) => s.name);
    expect(names.indexOf('dns')).toBeGreaterThan(-1);
    expect(names.indexOf('dns')).toBeLessThan(names.indexOf('broker'));
    expect(res.steps.find((s) => s.name === 'dns')).toMatchObject({ status: 'ok', category: 'rig' });
    expect(r.queries.map((q) => q.name)).toEqual(['broker.lab.test']);
  });

  test('nothing answering: a rig failure naming the address and the fix, and the broker step is skipped', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    open.push(silent);
    const l = lab(`127.0.0.1:${silent.address().port}`);
    const res = await preflightDevice(l.devices[0]!, port, { dns: l.network!.dns!, dnsTimeoutMs: 200 });
    expect(res.ok).toBe(false);
    const step = res.steps.find((s) => s.name === 'dns')!;
    expect(step).toMatchObject({ status: 'fail', category: 'rig', code: 'BXHIL_PREFLIGHT_DNS' });
    expect(step.detail).toContain(`127.0.0.1:${silent.address().port}`);
    expect(step.detail).toContain('bx-hil dns --lab');
    expect(res.steps.find((s) => s.name === 'broker')?.status).toBe('skip');
  });

  test('a server that answers with another address (not this lab): a rig failure saying what it answered', async () => {
    const r = await responder({ 'broker.lab.test': '10.0.0.99' });
    const l = lab(r.address);
    const res = await preflightDevice(l.devices[0]!, port, { dns: l.network!.dns! });
    const step = res.steps.find((s) => s.name === 'dns')!;
    expect(step).toMatchObject({ status: 'fail', code: 'BXHIL_PREFLIGHT_DNS' });
    expect(step.detail).toContain('10.0.0.99');
  });

  test('a run that serves the lab DNS itself: preflight serves the address, asks it, and lets it go for the suite', async () => {
    const l = lab(`127.0.0.1:${await freeUdpPort()}`);
    const res = await preflightDevice(l.devices[0]!, port, { dns: l.network!.dns!, dnsServedByRun: true });
    const step = res.steps.find((s) => s.name === 'dns')!;
    expect(step).toMatchObject({ status: 'ok', category: 'rig' });
    expect(step.detail).toContain('served by this run');
    // Released: the suite can bind it next.
    open.push(await startDnsResponder({ ...l.network!.dns!.listen, names: { a: '127.0.0.1' } }));
  });

  test('a run that serves the lab DNS, with the address held by another process: a rig failure saying to stop it', async () => {
    const other = await responder({ 'broker.lab.test': '127.0.0.1' });
    const l = lab(other.address);
    const res = await preflightDevice(l.devices[0]!, port, { dns: l.network!.dns!, dnsServedByRun: true });
    const step = res.steps.find((s) => s.name === 'dns')!;
    expect(step).toMatchObject({ status: 'fail', category: 'rig', code: 'BXHIL_PREFLIGHT_DNS' });
    expect(step.detail).toContain('stop bx-hil dns');
  });

  test('no network.dns: no dns step', async () => {
    const res = await preflightDevice(lab('127.0.0.1:1').devices[0]!, port);
    expect(res.steps.map((s) => s.name)).not.toContain('dns');
  });
});
