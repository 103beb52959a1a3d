import { createSocket } from 'node:dgram';
import { describe, expect, test } from 'vitest';
import { parseLabNetwork, probeDns, startDnsResponder } from './index.ts';

describe('lab file network.dns', () => {
  test('parses listen, names and forward', () => {
    expect(
      parseLabNetwork({
        dns: {
          listen: '192.168.4.1:53',
          names: { 'abc123-ats.iot.eu-west-1.amazonaws.com': '192.168.4.1', 'Broker.Lab.': '192.168.4.1' },
          forward: '1.1.1.1',
        },
      }),
    ).toEqual({
      dns: {
        listen: { host: '192.168.4.1', port: 53 },
        names: { 'abc123-ats.iot.eu-west-1.amazonaws.com': '192.168.4.1', 'Broker.Lab.': '192.168.4.1' },
        forward: '1.1.1.1:53',
      },
    });
    expect(parseLabNetwork(undefined)).toBeUndefined();
    expect(parseLabNetwork({})).toEqual({});
  });

  test.each([
    [{ dns: { listen: 'localhost:53', names: { a: '10.0.0.1' } } }, 'network.dns.listen'],
    [{ dns: { listen: 5353, names: { a: '10.0.0.1' } } }, 'network.dns.listen'],
    [{ dns: { names: { a: '10.0.0.1' } } }, 'network.dns.listen'],
    [{ dns: { listen: '10.0.0.1' } }, 'network.dns.names'],
    [{ dns: { listen: '10.0.0.1', names: { a: 'not-an-ip' } } }, 'network.dns.names.a'],
    [{ dns: { listen: '10.0.0.1', names: { 'bad\nname': '10.0.0.1' } } }, 'network.dns.names.bad\nname'],
    [{ dns: { listen: '10.0.0.1', names: { a: '10.0.0.1' }, forward: 'dns.google' } }, 'network.dns.forward'],
    [{ dns: { listen: '10.0.0.1', names: { a: '10.0.0.1' }, upstream: '1.1.1.1' } }, 'network.dns.upstream'],
    [{ ntp: {} }, 'network.ntp'],
    ['dns', 'network'],
  ])('refuses %j naming %s', (value, field) => {
    expect(() => parseLabNetwork(value)).toThrow(expect.objectContaining({ code: 'BXHIL_CONFIG', field }));
  });
});

describe('probeDns (the preflight check)', () => {
  test('a responder that knows the name: answered, NOERROR, the address', async () => {
    const r = await startDnsResponder({ names: { 'broker.lab': '192.168.4.1' } });
    try {
      const p = await probeDns({ host: r.host, port: r.port }, 'broker.lab');
      expect(p).toMatchObject({ answered: true, rcode: 'NOERROR', addresses: ['192.168.4.1'] });
      expect(await probeDns({ host: r.host, port: r.port }, 'other.lab')).toMatchObject({
        answered: true,
        rcode: 'NXDOMAIN',
        addresses: [],
      });
    } finally {
      await r.close();
    }
  });

  test('nobody answering: answered false after the timeout, no throw', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      const p = await probeDns({ host: '127.0.0.1', port: silent.address().port }, 'broker.lab', 200);
      expect(p.answered).toBe(false);
      expect(p.elapsedMs).toBeGreaterThanOrEqual(150);
    } finally {
      silent.close();
    }
  });
});
