/**
 * The virtual module resolving through real DNS: a `sim:2.6.3?dns=` device, driven
 * by the BX310x driver, asks the lab's responder for the broker's name over UDP and reaches the
 * broker rig at the address it was told. The DNS record then gives its own verdicts.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startBrokerRig, type BrokerRig } from '../broker/index.ts';
import { Bx310x } from '../bx310x/index.ts';
import { judgeDnsQueries } from '../diagnose/index.ts';
import { createBasicPki, type BasicPki } from '../pki/index.ts';
import { checkTarget, getVirtualModule } from '../targets.ts';
import { startDnsResponder, type DnsResponder } from './index.ts';

const NAME = 'mqtt.lab.bx-hil.test';

let pki: BasicPki;
let rig: BrokerRig;
let dns: DnsResponder;
const devices: Bx310x[] = [];

beforeAll(async () => {
  pki = await createBasicPki({ serverNames: [NAME, 'localhost', '127.0.0.1'] });
  rig = await startBrokerRig({ host: '127.0.0.1', port: 0, profile: 'strict', pki });
  dns = await startDnsResponder({ names: { [NAME]: '127.0.0.1' } });
});

afterEach(async () => {
  await Promise.all(devices.splice(0).map((d) => d.close()));
});

afterAll(async () => {
  await dns?.close();
  await rig?.close();
});

/** A driver on a virtual module whose DHCP-given DNS server is `server`, identity stored. */
async function device(server: string, extra = ''): Promise<Bx310x> {
  const d = await Bx310x.open(`sim:2.6.3?echo=0&dns=${server}${extra}`);
  devices.push(d);
  getVirtualModule(d.link)!.stores.preload({
    root: pki.ca.certPem,
    local: [pki.client.certPem],
    keys: [pki.client.keyPem],
  });
  return d;
}

async function connect(d: Bx310x, host: string, clientId: string): Promise<{ ok: boolean; err?: unknown }> {
  const id = await d.mqttConfigure({ secure: true, server: host, port: rig.port, version: 4, clientId });
  return d.mqttConnect(id, { timeoutMs: 20_000 }).then(
    () => ({ ok: true }),
    (err: unknown) => ({ ok: false, err }),
  );
}

const asked = (since: number) => dns.queries.slice(since);

describe('the virtual module resolves through the lab DNS responder', () => {
  test('the driver configures a host name, the module asks the responder, the rig is reached: +KMQTT_IND: 1,1', async () => {
    const d = await device(dns.address);
    const before = dns.queries.length;
    expect(await connect(d, NAME, 'dns-ok')).toEqual({ ok: true });
    expect(asked(before)).toMatchObject([{ name: NAME, type: 'A', rcode: 'NOERROR', addresses: ['127.0.0.1'] }]);
    expect(asked(before)[0]!.from).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(judgeDnsQueries(asked(before), NAME).code).toBe('DNS_OK');
    expect((await rig.waitForVerdict((v) => v.code === 'OK')).code).toBe('OK');
  });

  test('a typo in the host name: NXDOMAIN, +KMQTT_IND: 1,0 at the resolve step, and a typo verdict of its own', async () => {
    const d = await device(dns.address);
    const before = dns.queries.length;
    const typo = 'mqtt.lab.bx-hil.tset';
    const r = await connect(d, typo, 'dns-typo');
    expect(r.ok).toBe(false);
    expect(r.err).toMatchObject({ indCode: 0 });
    expect(getVirtualModule(d.link)!.session(1)?.lastConnectError).toMatchObject({
      step: 'resolve',
      reason: 'NXDOMAIN',
    });
    const v = judgeDnsQueries(asked(before), NAME);
    expect(v).toMatchObject({ code: 'DNS_WRONG_NAME', asked: typo, typoDistance: 2 });
    expect(v.summary).toContain(`asked for a different name (${typo}) than the broker's (${NAME})`);
  });

  test('a module dialling an IP address never asks: the DNS record says so', async () => {
    const d = await device(dns.address);
    const before = dns.queries.length;
    expect(await connect(d, '127.0.0.1', 'dns-ip')).toEqual({ ok: true });
    expect(asked(before)).toEqual([]);
    expect(judgeDnsQueries(asked(before), NAME).code).toBe('DNS_NEVER_ASKED');
  });

  test('a DNS server that never answers: the resolve step times out within its bound, +KMQTT_IND: 1,0', async () => {
    const silent: Socket = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      const d = await device(`127.0.0.1:${silent.address().port}`);
      const t0 = performance.now();
      const r = await connect(d, NAME, 'dns-silent');
      expect(r.ok).toBe(false);
      expect(r.err).toMatchObject({ indCode: 0 });
      expect(getVirtualModule(d.link)!.session(1)?.lastConnectError).toMatchObject({
        step: 'resolve',
        reason: 'DNS_TIMEOUT',
      });
      // 2 tries of 1.5 s (c-ares may back off): well under the 20 s connect wait, with room for a loaded machine.
      expect(performance.now() - t0).toBeLessThan(15_000);
    } finally {
      silent.close();
    }
  });

  test('a resolve= override still wins over dns= (single tests keep their map)', async () => {
    const d = await device(dns.address, `&resolve=elsewhere.example=127.0.0.1:${rig.port}`);
    const before = dns.queries.length;
    const id = await d.mqttConfigure({
      secure: true,
      server: 'elsewhere.example',
      port: 1,
      version: 4,
      clientId: 'ovr',
    });
    // The override's port is the rig; the certificate is not for elsewhere.example, so the name check refuses.
    await expect(d.mqttConnect(id, { timeoutMs: 20_000 })).rejects.toMatchObject({ indCode: 0 });
    expect(getVirtualModule(d.link)!.session(1)?.lastConnectError?.reason).toBe('NAME_MISMATCH');
    expect(asked(before)).toEqual([]);
  });

  test.each(['nope', '127.0.0.1:99999', 'dns.example:53', ''])(
    'a bad dns= value (%j) is refused as bad input',
    async (bad) => {
      await expect(checkTarget(`sim:2.6.3?dns=${bad}`, '--device')).rejects.toMatchObject({
        code: 'BXHIL_CONFIG',
        message: expect.stringContaining('device.dns'),
      });
    },
  );
});
