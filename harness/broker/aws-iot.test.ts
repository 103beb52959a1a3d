/**
 * aws-iot profile: each rule the rig enforces, broken once by a real client, and AWS's
 * behaviour seen (rule ids and tags from docs/reference/aws-iot-and-mosquitto.md).
 * Glossary: "device" = the client (s_client, mqtt.js, a raw TLS socket speaking MQTT);
 * "rig" = startBrokerRig({profile: 'aws-iot'}); "verdict" = its conclusion.
 */
import tls from 'node:tls';
import mqtt from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createBasicPki, KeyPool, type BasicPki } from '../pki/index.ts';
import { startBrokerRig } from './rig.ts';
import type { AwsIotOptions, BrokerRig, BrokerRigOptions, Verdict } from './types.ts';
import { connectBytes, hasTool, killAllClients, opensslMtlsArgs, runClient, tempFiles } from './testing.ts';

const OPENSSL = hasTool('openssl');
let pki: BasicPki;
let files: ReturnType<typeof tempFiles>;
const rigs: BrokerRig[] = [];
const clients: mqtt.MqttClient[] = [];

async function aws(aws: AwsIotOptions = {}, extra: BrokerRigOptions = {}): Promise<BrokerRig> {
  const r = await startBrokerRig({ profile: 'aws-iot', pki, aws, connectTimeoutMs: 3000, ...extra });
  rigs.push(r);
  return r;
}
const opts = (o: mqtt.IClientOptions = {}): mqtt.IClientOptions => ({
  ca: pki.ca.certPem,
  cert: pki.client.certPem,
  key: pki.client.keyPem,
  servername: 'localhost',
  reconnectPeriod: 0,
  connectTimeout: 3000,
  ...o,
});
/** A raw TLS connection to the rig as the test device (its certificate, the name the rig serves). */
const rawTls = (r: BrokerRig): tls.ConnectionOptions => ({
  port: r.port,
  host: '127.0.0.1',
  ca: pki.ca.certPem,
  cert: pki.client.certPem,
  key: pki.client.keyPem,
  servername: 'localhost',
});
async function connect(r: BrokerRig, o: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> {
  const c = await mqtt.connectAsync(r.url, opts(o));
  clients.push(c);
  return c;
}
/** Do `act` on the client and wait until the broker closes the connection; returns the first verdict that is not OK. */
async function closedBy(r: BrokerRig, c: mqtt.MqttClient, act: () => unknown): Promise<Verdict> {
  const closed = new Promise<void>((res) => c.once('close', () => res()));
  act();
  await closed;
  return r.waitForVerdict((x) => x.code !== 'OK');
}

/** A client that may be refused: resolves with the client or the error. */
function tryConnect(
  r: BrokerRig,
  o: mqtt.IClientOptions = {},
): Promise<{ connack: boolean; error?: Error & { code?: number } }> {
  return new Promise((resolve) => {
    const c = mqtt.connect(r.url, opts(o));
    clients.push(c);
    c.once('connect', () => resolve({ connack: true }));
    c.once('error', (error) => resolve({ connack: false, error }));
    c.once('close', () => resolve({ connack: false }));
  });
}
/** A raw TLS socket that writes MQTT packets as given (to break ordering rules mqtt.js keeps). */
function rawSession(r: BrokerRig, packets: Packet[][], gapMs = 150): Promise<Packet[]> {
  return new Promise((resolve) => {
    const got: Packet[] = [];
    const parser = mqttPacket.parser();
    parser.on('packet', (p: Packet) => got.push(p));
    const s = tls.connect(rawTls(r), async () => {
      for (const batch of packets) {
        s.write(Buffer.concat(batch.map((p) => mqttPacket.generate(p))));
        await new Promise((res) => setTimeout(res, gapMs));
      }
    });
    s.on('data', (d: Buffer) => parser.parse(d));
    s.on('error', () => undefined);
    s.on('close', () => resolve(got));
    setTimeout(() => s.destroy(), 4000).unref();
  });
}
const CONNECT: Packet = {
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: 4,
  clean: true,
  clientId: 'raw',
  keepalive: 60,
};
const sclient = (port: number, extra: string[], input: Buffer | string = '') =>
  runClient('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...opensslMtlsArgs(files), ...extra], {
    input,
    holdStdinMs: 800,
    timeoutMs: 8000,
  });

beforeAll(async () => {
  pki = await createBasicPki({ pool: new KeyPool() });
  files = tempFiles({ 'ca.pem': pki.ca.certPem, 'client.pem': pki.client.certPem, 'client.key': pki.client.keyPem });
});
afterEach(async () => {
  killAllClients();
  for (const c of clients.splice(0)) c.end(true);
  await Promise.all(rigs.splice(0).map((r) => r.close()));
});
afterAll(() => files.remove());

describe('aws-iot: TLS rules', () => {
  test('a valid device connects -> OK', async () => {
    const r = await aws();
    await connect(r);
    expect((await r.waitForVerdict()).code).toBe('OK');
  });

  test.skipIf(!OPENSSL)('T3/T4 [DOC]: TLS 1.1 is refused -> TLS_VERSION_MISMATCH', async () => {
    const r = await aws();
    const done = sclient(r.port, ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']);
    expect((await r.waitForVerdict()).code).toBe('TLS_VERSION_MISMATCH');
    await done;
  });

  test('T4/T5 [DOC]: policy TLS13_1_3_2022_10 refuses a TLS 1.2-only device -> TLS_VERSION_MISMATCH', async () => {
    const r = await aws({ securityPolicy: 'IoTSecurityPolicy_TLS13_1_3_2022_10' });
    const res = await tryConnect(r, { maxVersion: 'TLSv1.2' } as mqtt.IClientOptions);
    expect(res.connack).toBe(false);
    expect((await r.waitForVerdict()).code).toBe('TLS_VERSION_MISMATCH');
  });

  test.skipIf(!OPENSSL)(
    'T5 [DOC]: no CCM suites (TLS 1.3 TLS_AES_128_CCM_SHA256 only) -> NO_SHARED_CIPHER',
    async () => {
      const r = await aws();
      const done = sclient(r.port, ['-tls1_3', '-ciphersuites', 'TLS_AES_128_CCM_SHA256']);
      const v = await r.waitForVerdict();
      await done;
      expect(v.code).toBe('NO_SHARED_CIPHER');
      expect(r.records[0]!.clientHello?.cipherSuites).toContain('TLS_AES_128_CCM_SHA256');
    },
  );

  test.skipIf(!OPENSSL)(
    'T5 [DOC]: no CCM suites (TLS 1.2 ECDHE-ECDSA-AES128-CCM only) -> NO_SHARED_CIPHER',
    async () => {
      const r = await aws();
      const done = sclient(r.port, ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-CCM']);
      expect((await r.waitForVerdict()).code).toBe('NO_SHARED_CIPHER');
      await done;
    },
  );

  test.skipIf(!OPENSSL)(
    'T7 [DOC-OLD] sniMode required: a ClientHello without SNI is refused before TLS -> NO_SNI',
    async () => {
      const r = await aws({ sniMode: 'required' });
      const done = sclient(r.port, ['-noservername']);
      const v = await r.waitForVerdict();
      await done;
      expect(v.code).toBe('NO_SNI');
      expect(r.records[0]!.tls).toBeUndefined();
    },
  );

  test.skipIf(!OPENSSL)(
    'T6 [DOC] sniMode match: a wrong host_name fails -> SNI_MISMATCH; the right one connects',
    async () => {
      const r = await aws({ sniMode: 'match', endpoint: 'abc-ats.iot.eu-west-1.amazonaws.com' });
      const done = sclient(r.port, ['-servername', 'wrong.example']);
      const v = await r.waitForVerdict();
      await done;
      expect(v.code).toBe('SNI_MISMATCH');
      expect(v.summary).toContain('wrong.example');
      const done2 = sclient(r.port, ['-servername', 'abc-ats.iot.eu-west-1.amazonaws.com'], connectBytes('right-sni'));
      expect((await r.waitForVerdict((x) => x.connectionId === 'conn-2')).code).toBe('OK');
      await done2;
    },
  );

  test.skipIf(!OPENSSL)(
    'T1/T2 [DOC]: the 443-style listener needs ALPN x-amzn-mqtt-ca -> NO_ALPN without it, OK with it',
    async () => {
      const r = await aws({ alpnListener: true });
      const alpnPort = r.alpnPort!;
      expect(alpnPort).toBeGreaterThan(0);
      const done = sclient(alpnPort, []);
      expect((await r.waitForVerdict()).code).toBe('NO_ALPN');
      await done;
      const done2 = sclient(alpnPort, ['-alpn', 'x-amzn-mqtt-ca'], connectBytes('alpn-ok'));
      const v = await r.waitForVerdict((x) => x.connectionId === 'conn-2');
      await done2;
      expect(v.code).toBe('OK');
      expect(r.records[1]!.tls?.alpn).toBe('x-amzn-mqtt-ca');
      expect(r.records[1]!.listener).toBe('alpn');
    },
  );

  test.skipIf(!OPENSSL)(
    'T10 [OBS]: a device asking for Max Fragment Length is told in the verdict that AWS ignores it',
    async () => {
      const r = await aws();
      const done = sclient(r.port, ['-maxfraglen', '1024', '-servername', 'localhost'], connectBytes('mfl'));
      const v = await r.waitForVerdict();
      await done;
      expect(v.code).toBe('OK');
      expect(r.records[0]!.clientHello?.maxFragmentLength).toBe(1024);
      expect(v.summary).toContain('max_fragment_length 1024');
    },
  );

  test('T9 [DOC]: no SessionTicket is issued (strict profile issues one)', async () => {
    const ticketOf = (r: BrokerRig) =>
      new Promise<Buffer | undefined>((resolve) => {
        const s = tls.connect({ ...rawTls(r), maxVersion: 'TLSv1.2' }, () => {
          setTimeout(() => {
            resolve(s.getTLSTicket());
            s.destroy();
          }, 100);
        });
        s.on('error', () => resolve(undefined));
      });
    const r = await aws();
    expect(await ticketOf(r)).toBeUndefined();
    const strict = await startBrokerRig({ profile: 'strict', pki });
    rigs.push(strict);
    expect(await ticketOf(strict)).toBeInstanceOf(Buffer);
  });
});

describe('aws-iot: certificate registry (T13, T18, T8)', () => {
  test('T13/T18 [OBS]: an unregistered certificate: handshake OK, CONNECT dropped without CONNACK -> CLIENT_CERT_NOT_ACTIVE', async () => {
    const r = await aws({ registry: {} });
    const res = await tryConnect(r);
    expect(res.connack).toBe(false);
    const v = await r.waitForVerdict();
    expect(v.code).toBe('CLIENT_CERT_NOT_ACTIVE');
    expect(v.summary).toContain('not registered');
    expect(r.records[0]!.mqtt.packets.some((p) => p.cmd === 'connack')).toBe(false);
  });

  test.each(['INACTIVE', 'REVOKED'] as const)('T13/T19: status %s -> CLIENT_CERT_NOT_ACTIVE', async (status) => {
    const r = await aws({ registry: { [pki.client.cert.fingerprint256]: { status } } });
    await tryConnect(r);
    const v = await r.waitForVerdict();
    expect(v.code).toBe('CLIENT_CERT_NOT_ACTIVE');
    expect(v.summary).toContain(status);
  });

  test('T18 (a) [OBS] unknownCertMode handshake: refused right after the handshake, before CONNECT', async () => {
    const r = await aws({ registry: {}, unknownCertMode: 'handshake' });
    await tryConnect(r);
    const v = await r.waitForVerdict();
    expect(v.code).toBe('CLIENT_CERT_NOT_ACTIVE');
    expect(r.records[0]!.refusal?.at).toBe('handshake');
  });

  test('ACTIVE certificate connects -> OK', async () => {
    const r = await aws({ registry: { [pki.client.cert.fingerprint256]: { status: 'ACTIVE' } } });
    await connect(r);
    expect((await r.waitForVerdict()).code).toBe('OK');
  });

  test('T8 [OBS]: an SNI_ONLY certificate without SNI: handshake OK, no CONNACK -> NO_SNI', async () => {
    const r = await aws({ registry: { [pki.client.cert.fingerprint256]: { status: 'ACTIVE', mode: 'SNI_ONLY' } } });
    // No servername and an IP host: Node sends no SNI.
    const res = await tryConnect(r, {
      servername: undefined,
      checkServerIdentity: () => undefined,
    } as mqtt.IClientOptions);
    expect(res.connack).toBe(false);
    expect((await r.waitForVerdict()).code).toBe('NO_SNI');
  });

  test('M15 [OBS]: MQTT 3.1.1 client id outside the policy: closed without CONNACK -> POLICY_DISCONNECT', async () => {
    const r = await aws({
      registry: { [pki.client.cert.fingerprint256]: { status: 'ACTIVE', clientIds: ['thing-1'] } },
    });
    const res = await tryConnect(r, { clientId: 'other' });
    expect(res.connack).toBe(false);
    const v = await r.waitForVerdict();
    expect(v.code).toBe('POLICY_DISCONNECT');
    expect(r.records[0]!.mqtt.packets.some((p) => p.cmd === 'connack')).toBe(false);
  });

  test('M15 [DOC]: MQTT 5 client id outside the policy: CONNACK 0x87 -> CONNECT_REFUSED', async () => {
    const r = await aws({
      registry: { [pki.client.cert.fingerprint256]: { status: 'ACTIVE', clientIds: ['thing-1'] } },
    });
    const res = await tryConnect(r, { clientId: 'other', protocolVersion: 5 });
    expect(res.connack).toBe(false);
    expect(res.error?.code).toBe(0x87);
    expect((await r.waitForVerdict()).code).toBe('CONNECT_REFUSED');
  });
});

describe('aws-iot: MQTT rules', () => {
  test.each([
    [5, 30],
    [0, 1200],
    [1300, 1200],
    [60, 60],
  ])('M6 [DOC-OLD]: keep-alive %i s is applied as %i s', async (asked, applied) => {
    const r = await aws();
    await connect(r, { keepalive: asked });
    await r.waitForVerdict();
    expect(r.records[0]!.mqtt.connect?.keepalive).toBe(asked);
    expect(r.records[0]!.mqtt.connect?.keepaliveApplied).toBe(applied);
  });

  test('M7 [DOC-OLD]: a client id over 128 bytes is closed without CONNACK -> POLICY_DISCONNECT', async () => {
    const r = await aws();
    expect((await tryConnect(r, { clientId: 'x'.repeat(129) })).connack).toBe(false);
    const v = await r.waitForVerdict();
    expect(v.code).toBe('POLICY_DISCONNECT');
    expect(v.summary).toContain('129 bytes');
  });

  test('M7 [DOC-OLD]: a client id starting with $ is refused', async () => {
    const r = await aws();
    expect((await tryConnect(r, { clientId: '$reserved' })).connack).toBe(false);
    expect((await r.waitForVerdict()).code).toBe('POLICY_DISCONNECT');
  });

  test('M7 [DOC]: the same client id twice: the new one is accepted, the old one is disconnected', async () => {
    const r = await aws();
    const first = await connect(r, { clientId: 'dup' });
    const firstClosed = new Promise<void>((res) => first.once('close', () => res()));
    await connect(r, { clientId: 'dup' });
    await firstClosed;
    await expect.poll(() => r.records[0]!.end?.reason).toContain('taken over');
    expect(r.records[1]!.end).toBeUndefined();
  });

  test('M4 [OBS]: Will QoS 2 in CONNECT: closed without CONNACK -> POLICY_DISCONNECT', async () => {
    const r = await aws();
    expect(
      (await tryConnect(r, { will: { topic: 'w', payload: Buffer.from('x'), qos: 2, retain: false } })).connack,
    ).toBe(false);
    const v = await r.waitForVerdict();
    expect(v.code).toBe('POLICY_DISCONNECT');
    expect(v.summary).toContain('Will QoS 2');
  });

  test('M4 [OBS]: a QoS 2 PUBLISH closes the connection -> POLICY_DISCONNECT after OK', async () => {
    const r = await aws();
    const c = await connect(r);
    expect((await closedBy(r, c, () => c.publish('a/b', 'x', { qos: 2 }))).code).toBe('POLICY_DISCONNECT');
    expect(r.verdicts.map((v) => v.code)).toEqual(['OK', 'POLICY_DISCONNECT']);
  });

  test('M4 [DOC]: a QoS 2 SUBSCRIBE gets no SUBACK (and the connection stays)', async () => {
    const r = await aws();
    const c = await connect(r);
    let subacked = false;
    c.subscribe('a/#', { qos: 2 }, (err) => (subacked = !err));
    await expect.poll(() => r.records[0]!.mqtt.packets.some((p) => p.cmd === 'subscribe' && p.withheld)).toBe(true);
    await new Promise((res) => setTimeout(res, 300));
    expect(subacked).toBe(false);
    expect(r.records[0]!.end).toBeUndefined();
  });

  test('M9 [DOC-OLD][GUESS]: a PUBLISH over 128 KB closes the connection', async () => {
    const r = await aws();
    const c = await connect(r);
    const v = await closedBy(r, c, () => c.publish('big', Buffer.alloc(128 * 1024 + 1), { qos: 1 }));
    expect(v.code).toBe('POLICY_DISCONNECT');
    expect(v.summary).toContain('128 KB');
  });

  test('M10 [DOC-OLD]: a topic with more than 7 slashes closes the connection', async () => {
    const r = await aws();
    const c = await connect(r);
    expect((await closedBy(r, c, () => c.publish('a/b/c/d/e/f/g/h/i', 'x', { qos: 0 }))).summary).toContain('slashes');
  });

  test('M10 [DOC-OLD]: a topic over 256 bytes closes the connection', async () => {
    const r = await aws();
    const c = await connect(r);
    expect((await closedBy(r, c, () => c.publish('t'.repeat(257), 'x', { qos: 0 }))).summary).toContain('257 bytes');
  });

  test('M11 [DOC-OLD]: more than 8 filters in one SUBSCRIBE closes the connection', async () => {
    const r = await aws();
    const c = await connect(r);
    const filters = Array.from({ length: 9 }, (_, i) => `f/${i}`);
    expect((await closedBy(r, c, () => c.subscribe(filters, { qos: 1 }))).summary).toContain('9 filters');
  });

  test('M11 [DOC-OLD]: more than 50 subscriptions on one connection closes it', async () => {
    const r = await aws();
    const c = await connect(r);
    for (let i = 0; i < 50; i += 5)
      await c.subscribeAsync(
        Array.from({ length: 5 }, (_, j) => `s/${i + j}`),
        { qos: 1 },
      );
    expect((await closedBy(r, c, () => c.subscribe('s/extra', { qos: 1 }))).summary).toContain('50 subscriptions');
  });

  test('M3 [DOC]: a SUBSCRIBE sent before CONNACK closes the connection', async () => {
    const r = await aws();
    const got = await rawSession(r, [
      [CONNECT, { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] }],
    ]);
    expect(got.some((p) => p.cmd === 'suback')).toBe(false);
    const v = await r.waitForVerdict((x) => x.code !== 'OK');
    expect(v.code).toBe('POLICY_DISCONNECT');
    expect(r.records[0]!.refusal?.rule).toBe('packet-before-connack');
  });

  test('M2 [DOC]: PUBREL (QoS 2 flow) is not supported: the connection is closed', async () => {
    const r = await aws();
    const got = await rawSession(r, [[CONNECT], [{ cmd: 'pubrel', messageId: 7 }]]);
    expect(got[0]?.cmd).toBe('connack');
    expect((await r.waitForVerdict((x) => x.code !== 'OK')).code).toBe('POLICY_DISCONNECT');
    expect(r.records[0]!.refusal?.rule).toBe('qos2-flow');
  });
});
