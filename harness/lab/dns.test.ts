import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import dnsPacket from 'dns-packet';
import { afterEach, describe, expect, test } from 'vitest';
import { EvidenceBus, type EvidenceEvent } from '../evidence.ts';
import { bindError } from './udp.ts';
import { startDnsResponder, type DnsResponder } from './index.ts';

const open: DnsResponder[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

async function responder(...args: Parameters<typeof startDnsResponder>): Promise<DnsResponder> {
  const r = await startDnsResponder(...args);
  open.push(r);
  return r;
}

/** A real stub resolver (c-ares, as the virtual module uses) pointed at one server. */
function resolverFor(r: DnsResponder): Resolver {
  const res = new Resolver({ timeout: 5_000, tries: 1 });
  res.setServers([r.address]);
  return res;
}

/** One raw query through dns-packet, for what Resolver hides (the RCODE of a NODATA answer). */
async function rawQuery(r: DnsResponder, name: string, type: 'A' | 'AAAA') {
  const sock = createSocket('udp4');
  try {
    const reply = new Promise<Buffer>((resolve) => sock.once('message', resolve));
    sock.send(
      dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] }),
      r.port,
      r.host,
    );
    return dnsPacket.decode(await reply) as ReturnType<typeof dnsPacket.decode> & { rcode: string };
  } finally {
    sock.close();
  }
}

describe('DNS responder', () => {
  test('answers a run name with its A record, case-insensitive and with a trailing dot', async () => {
    const r = await responder({ names: { 'Broker.Lab.Test.': '10.1.2.3' } });
    expect(r.host).toBe('127.0.0.1');
    expect(r.port).toBeGreaterThan(0);
    expect(await resolverFor(r).resolve4('broker.lab.test')).toEqual(['10.1.2.3']);
    expect(await resolverFor(r).resolve4('BROKER.LAB.TEST')).toEqual(['10.1.2.3']);
    const raw = await rawQuery(r, 'broker.lab.test.', 'A');
    expect(raw.id).toBe(7);
    expect(raw.rcode).toBe('NOERROR');
    expect(raw.answers).toMatchObject([{ type: 'A', data: '10.1.2.3' }]);
  });

  test('setName maps a name while running; a bad address is refused', async () => {
    const r = await responder({ names: {} });
    await expect(resolverFor(r).resolve4('late.lab.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    r.setName('late.lab.test', '10.9.8.7');
    expect(await resolverFor(r).resolve4('late.lab.test')).toEqual(['10.9.8.7']);
    expect(() => r.setName('x.lab.test', 'nope')).toThrow(expect.objectContaining({ code: 'BXHIL_CONFIG' }));
  });

  test('answers NXDOMAIN for a name the run does not know, when nothing is forwarded', async () => {
    const r = await responder({ names: { 'broker.lab.test': '10.1.2.3' } });
    await expect(resolverFor(r).resolve4('other.lab.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect((await rawQuery(r, 'other.lab.test', 'A')).rcode).toBe('NXDOMAIN');
  });

  test('AAAA for a known name is NOERROR with no answer (so the module falls back to A)', async () => {
    const r = await responder({ names: { 'broker.lab.test': '10.1.2.3' } });
    const raw = await rawQuery(r, 'broker.lab.test', 'AAAA');
    expect(raw.rcode).toBe('NOERROR');
    expect(raw.answers).toEqual([]);
    await expect(resolverFor(r).resolve6('broker.lab.test')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  test('forwards other names to the upstream and relays its answer', async () => {
    const upstream = await responder({ names: { 'example.org': '192.0.2.7' } });
    const r = await responder({ names: { 'broker.lab.test': '10.1.2.3' }, forward: upstream.address });
    expect(await resolverFor(r).resolve4('example.org')).toEqual(['192.0.2.7']);
    expect(await resolverFor(r).resolve4('broker.lab.test')).toEqual(['10.1.2.3']);
    await expect(resolverFor(r).resolve4('nowhere.example')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(upstream.queries.map((q) => q.name)).toEqual(['example.org', 'nowhere.example']);
    expect(r.queries.map((q) => [q.name, q.by, q.rcode, q.addresses])).toEqual([
      ['example.org', 'forward', 'NOERROR', ['192.0.2.7']],
      ['broker.lab.test', 'names', 'NOERROR', ['10.1.2.3']],
      ['nowhere.example', 'forward', 'NXDOMAIN', []],
    ]);
  });

  test('an upstream that never answers gives SERVFAIL, not a hang', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      const r = await responder({
        names: {},
        forward: `127.0.0.1:${silent.address().port}`,
        forwardTimeoutMs: 200,
      });
      expect((await rawQuery(r, 'example.org', 'A')).rcode).toBe('SERVFAIL');
      expect(r.queries[0]).toMatchObject({ rcode: 'SERVFAIL', by: 'forward' });
    } finally {
      silent.close();
    }
  });

  test('records every query on the evidence bus: name, type, asker, answer', async () => {
    const bus = new EvidenceBus();
    const seen: EvidenceEvent[] = [];
    bus.subscribe((e) => seen.push(e));
    const r = await responder({ names: { 'broker.lab.test': '10.1.2.3' }, bus });
    await resolverFor(r).resolve4('broker.lab.test');
    await resolverFor(r)
      .resolve4('brokr.lab.test')
      .catch(() => undefined);
    const dns = seen.filter((e) => e.source === 'dns' && e.kind === 'query');
    expect(dns.map((e) => e.data)).toMatchObject([
      { name: 'broker.lab.test', type: 'A', rcode: 'NOERROR', addresses: ['10.1.2.3'], by: 'names' },
      { name: 'brokr.lab.test', type: 'A', rcode: 'NXDOMAIN', addresses: [], by: 'none' },
    ]);
    expect(dns[0]!.data!['from']).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(dns[0]!.summary).toContain('broker.lab.test');
    expect(dns[0]!.t).toBeLessThanOrEqual(dns[1]!.t);
  });

  test('a port already in use is a ConfigError naming the field, not a crash', async () => {
    const first = await responder({ names: {} });
    await expect(startDnsResponder({ names: {}, port: first.port, field: '--listen' })).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: '--listen',
      message: expect.stringContaining('in use'),
    });
  });

  test('EACCES on a low port names both fixes: setcap and a dnsmasq server= line', () => {
    const err = Object.assign(new Error('bind EACCES 0.0.0.0:53'), { code: 'EACCES' });
    const e = bindError(err, '0.0.0.0', 53, 'network.dns.listen');
    expect(e).toMatchObject({ code: 'BXHIL_CONFIG', field: 'network.dns.listen' });
    expect(e.message).toContain('setcap cap_net_bind_service=+ep $(readlink -f $(which node))');
    expect(e.message).toMatch(/server=\/<name>\/0\.0\.0\.0#\d+/);
  });

  const privileged =
    process.getuid?.() === 0 ||
    Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim()) <= 53;
  test.skipIf(privileged)(
    'binding port 53 without privileges gives the setcap fix (skipped when root or low ports are open to all)',
    async () => {
      await expect(startDnsResponder({ names: {}, port: 53 })).rejects.toMatchObject({
        code: 'BXHIL_CONFIG',
        message: expect.stringContaining('setcap cap_net_bind_service'),
      });
    },
  );

  test('refuses bad names and addresses as ConfigError', async () => {
    await expect(startDnsResponder({ names: { x: 'not-an-ip' } })).rejects.toMatchObject({ code: 'BXHIL_CONFIG' });
    await expect(startDnsResponder({ names: {}, forward: 'dns.google' })).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: 'dns.forward',
    });
  });

  test('a forward to the responder itself is refused (it would loop)', async () => {
    const first = await responder({ names: {} });
    await first.close();
    // Bind the freed port again, forwarding to that same address.
    await expect(startDnsResponder({ names: {}, port: first.port, forward: first.address })).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: 'dns.forward',
    });
  });

  test('close() is idempotent', async () => {
    const r = await startDnsResponder({ names: {} });
    await Promise.all([r.close(), r.close()]);
    await r.close();
  });
});
