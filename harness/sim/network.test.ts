/**
 * The virtual module's network side against a real broker in process: aedes behind a Node TLS
 * server (mutual TLS) and behind a plain TCP server, with an mqtt.js client as the other party.
 *
 * Glossary:
 * - module: the VirtualModule under test, driven with raw AT bytes by `at` (a RawClient);
 * - front door: the Node `tls.Server` in front of aedes (records SNI and the client's CN);
 * - broker: aedes; peer: an mqtt.js client of the same broker, the "other device".
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { duplexPair } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createBasicPki, generateKey, issueCertificate, type BasicPki } from '../pki/index.ts';
import { createVirtualModule, type VirtualModule, type VirtualModuleOptions } from './index.ts';
import { RawClient } from './raw-client.ts';

const AWS_HOST = 'abc123-ats.iot.eu-west-1.amazonaws.com';
const AMAZON_ROOT_CA_1 = readFileSync(new URL('./fixtures/AmazonRootCA1.pem', import.meta.url), 'utf8');
const OK = '\r\nOK\r\n';

interface FrontDoor {
  server: Server;
  port: number;
  /** SNI of each accepted handshake (false when none was sent). */
  sni: Array<string | false>;
  /** CN of each client certificate. */
  clientCns: string[];
  sockets: Set<Socket>;
}

let pki: BasicPki;
let broker: Aedes;
let tls12: FrontDoor;
let tls13: FrontDoor;
let plain: FrontDoor;
const modules: VirtualModule[] = [];
const peers: MqttClient[] = [];

async function listen(server: Server, sockets: Set<Socket>): Promise<number> {
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function frontDoor(minVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<FrontDoor> {
  const door = { sni: [], clientCns: [], sockets: new Set<Socket>() } as unknown as FrontDoor;
  door.server = createTlsServer(
    {
      key: pki.server.keyPem,
      cert: pki.server.certPem,
      ca: pki.ca.certPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion,
    },
    (s: TLSSocket) => {
      door.sni.push((s as TLSSocket & { servername: string | false }).servername);
      door.clientCns.push(String(s.getPeerCertificate().subject?.CN ?? ''));
      broker.handle(s);
    },
  );
  door.server.on('tlsClientError', () => undefined);
  door.port = await listen(door.server, door.sockets);
  return door;
}

beforeAll(async () => {
  pki = await createBasicPki({ serverNames: ['localhost', '127.0.0.1', AWS_HOST] });
  broker = await Aedes.createBroker();
  tls12 = await frontDoor('TLSv1.2');
  tls13 = await frontDoor('TLSv1.3');
  plain = { sni: [], clientCns: [], sockets: new Set<Socket>() } as unknown as FrontDoor;
  plain.server = createNetServer((s) => broker.handle(s));
  plain.port = await listen(plain.server, plain.sockets);
});

afterEach(async () => {
  await Promise.all(modules.splice(0).map((m) => m.close()));
  await Promise.all(peers.splice(0).map((p) => p.endAsync(true)));
});

afterAll(async () => {
  for (const door of [tls12, tls13, plain]) {
    if (!door) continue;
    for (const s of door.sockets) s.destroy();
    await new Promise((r) => door.server.close(r));
  }
  await new Promise<void>((r) => (broker ? broker.close(() => r()) : r()));
});

/** A module with root CA, local cert 0 and key 0 already stored, echo off. */
async function module(profile = '2.6.3', options: Partial<VirtualModuleOptions> = {}, identity = true) {
  const m = createVirtualModule({ profile, ...options });
  modules.push(m);
  if (identity) m.stores.preload({ root: pki.ca.certPem, local: [pki.client.certPem], keys: [pki.client.keyPem] });
  const [host, device] = duplexPair();
  m.attach(device);
  const at = new RawClient(host);
  expect(await at.cmd('ATE0')).toBe(`ATE0\r${OK}`);
  return { m, at };
}

async function peer(): Promise<MqttClient> {
  const p = await mqtt.connectAsync({ host: '127.0.0.1', port: plain.port, reconnectPeriod: 0, connectTimeout: 5_000 });
  peers.push(p);
  return p;
}

/** Configure session 1 and connect; returns the +KMQTT_IND line. */
async function connect(at: RawClient, cfg: string): Promise<string> {
  expect(await at.cmd(`AT+KMQTTCFG=${cfg}`)).toBe(`\r\n+KMQTTCFG: 1\r\n${OK}`);
  expect(await at.cmd('AT+KMQTTCNX=1')).toBe(OK);
  return (await at.until(/\+KMQTT_IND: 1,[01]\r\n/, 15_000)).trim();
}

describe('mutual TLS round trip (2.6.3)', () => {
  test('connect with SNI = configured host and client cert 0; SUB → ,2; peer publish → +KMQTT_DATA; PUB QoS 1 → ,4', async () => {
    const { at } = await module('2.6.3');
    const sniBefore = tls12.sni.length;
    expect(await connect(at, `1,"localhost",${tls12.port},4,"BX_one"`)).toBe('+KMQTT_IND: 1,1');
    expect(tls12.sni.slice(sniBefore)).toEqual(['localhost']);
    expect(tls12.clientCns.at(-1)).toBe('bx-hil-device');

    expect(await at.cmd('AT+KMQTTSUB=1,"dev1/cmd",1')).toBe(OK);
    expect(await at.until('+KMQTT_IND: 1,2\r\n')).toBe('\r\n+KMQTT_IND: 1,2\r\n');
    const other = await peer();
    await other.publishAsync('dev1/cmd', 'reboot', { qos: 1 });
    expect(await at.until('\r\n', 5_000).then(() => at.until('\r\n', 5_000))).toBe(
      '+KMQTT_DATA: 1,"dev1/cmd","reboot"\r\n',
    );

    await other.subscribeAsync('dev1/tele', { qos: 1 });
    const got = nextMessage(other);
    expect(await at.cmd('AT+KMQTTPUB=1,"dev1/tele",1,0,"hello"')).toBe(OK);
    expect(await at.until('+KMQTT_IND: 1,4\r\n')).toBe('\r\n+KMQTT_IND: 1,4\r\n');
    const [topic, payload] = await got;
    expect([topic, payload.toString()]).toEqual(['dev1/tele', 'hello']);

    expect(await at.cmd('AT+KMQTTPUB=1,"dev1/tele",2,0,"q2"')).toBe(OK);
    expect(await at.until('+KMQTT_IND: 1,4\r\n')).toBe('\r\n+KMQTT_IND: 1,4\r\n');
    expect(await at.cmd('AT+KMQTTPUB=1,"dev1/tele",0,0,"q0"')).toBe(OK);
    expect(await at.cmd('AT+KMQTTUNSUB=1,"dev1/cmd"')).toBe(OK);
    expect(await at.until('+KMQTT_IND: 1,3\r\n')).toBe('\r\n+KMQTT_IND: 1,3\r\n'); // no ,4 for QoS 0 came first
    expect(await at.cmd('AT+KMQTTCNX=1')).toBe('\r\n+CME ERROR: 911\r\n');
    expect(await at.cmd('AT+KMQTTCLOSE=1')).toBe(OK);
    expect(await at.cmd('AT+KMQTTCLOSE=1')).toBe('\r\n+CME ERROR: 922\r\n');
    expect(await at.drainAfter(100)).toBe(''); // a clean close raises no URC [guess]
  });

  test('legacy: no SNI, incoming messages as +KMQTTSUB: "<topic>","<payload>", no ,2 after SUB', async () => {
    const { at } = await module('legacy');
    const sniBefore = tls12.sni.length;
    expect(await connect(at, `1,"localhost",${tls12.port},3,"legacy1"`)).toBe('+KMQTT_IND: 1,1');
    expect(tls12.sni.slice(sniBefore)).toEqual([false]);
    // Legacy firmware sends no ,2 (SUBACK): the broker's own subscribe event says when it is in place.
    const subscribed = new Promise<void>((resolve) => {
      const onSubscribe = (subs: Array<{ topic: string }>, client: { id: string } | null) => {
        if (client?.id !== 'legacy1' || !subs.some((sub) => sub.topic === 'leg/in')) return;
        broker.off('subscribe', onSubscribe);
        resolve();
      };
      broker.on('subscribe', onSubscribe);
    });
    expect(await at.cmd('AT+KMQTTSUB=1,"leg/in",0')).toBe(OK);
    await subscribed;
    const other = await peer();
    await other.publishAsync('leg/in', 'p1', { qos: 0 });
    expect(await at.until('+KMQTTSUB: "leg/in","p1"\r\n')).toBe('\r\n+KMQTTSUB: "leg/in","p1"\r\n');
  });
});

describe('field report reproduction [report] docs/reference/field-report-2.6.3.md', () => {
  test('Amazon Root CA 1 stored, AWS endpoint resolved to a broker Amazon did not sign: OK then +KMQTT_IND: 1,0', async () => {
    const { m, at } = await module(
      '2.6.3',
      { resolve: { [AWS_HOST]: { host: '127.0.0.1', port: tls12.port } } },
      false,
    );
    m.stores.preload({ local: [pki.client.certPem], keys: [pki.client.keyPem] });
    expect(await upload(at, 'AT+KCERTSTORE=0', AMAZON_ROOT_CA_1)).toBe(OK);
    const sniBefore = tls12.sni.length;
    expect(await at.cmd(`AT+KMQTTCFG=1,"${AWS_HOST}",8883,4,"BX_one",`)).toBe(`\r\n+KMQTTCFG: 1\r\n${OK}`);
    expect(await at.cmd('AT+KMQTTCNX=1')).toBe(OK);
    expect(await at.until(/\+KMQTT_IND: 1,\d\r\n/, 15_000)).toBe('\r\n+KMQTT_IND: 1,0\r\n');
    expect(m.session(1)?.lastConnectError).toMatchObject({ step: 'verify', reason: 'CERT_UNTRUSTED' });
    expect(tls12.sni.slice(sniBefore)).toEqual([AWS_HOST]); // the override kept the name for SNI
  });

  test('the same session with the right root stored connects (the override is not what fails)', async () => {
    const { at } = await module('2.6.3', { resolve: { [AWS_HOST]: { host: '127.0.0.1', port: tls12.port } } });
    expect(await connect(at, `1,"${AWS_HOST}",8883,4,"BX_one",`)).toBe('+KMQTT_IND: 1,1');
  });

  test('a module clock that was never set (1970) makes a valid server certificate "not yet valid"', async () => {
    const { m, at } = await module('2.6.3', { clock: '1970' });
    expect(await connect(at, `1,"localhost",${tls12.port},4,"c1970"`)).toBe('+KMQTT_IND: 1,0');
    expect(m.session(1)?.lastConnectError?.reason).toBe('CERT_NOT_YET_VALID');
  });

  test('the name is checked against the configured host, not the address it maps to', async () => {
    const { m, at } = await module('2.6.3', { resolve: { 'wrong.example': { host: '127.0.0.1', port: tls12.port } } });
    expect(await connect(at, `1,"wrong.example",8883,4,"cname"`)).toBe('+KMQTT_IND: 1,0');
    expect(m.session(1)?.lastConnectError?.reason).toBe('NAME_MISMATCH');
  });

  test('no client certificate stored against a broker that requires one: +KMQTT_IND: 1,0', async () => {
    const { m, at } = await module('2.6.3', {}, false);
    m.stores.preload({ root: pki.ca.certPem });
    expect(await connect(at, `1,"localhost",${tls12.port},4,"nocert"`)).toBe('+KMQTT_IND: 1,0');
    expect(['tls', 'mqtt']).toContain(m.session(1)?.lastConnectError?.step);
  });
});

describe('TLS versions per profile', () => {
  test('a TLS 1.3-only broker: 2.6.3 (TLS 1.2) fails the handshake, reference connects', async () => {
    const a = await module('2.6.3');
    expect(await connect(a.at, `1,"localhost",${tls13.port},4,"v12"`)).toBe('+KMQTT_IND: 1,0');
    expect(a.m.session(1)?.lastConnectError?.step).toBe('tls');
    const b = await module('reference');
    expect(await connect(b.at, `1,"localhost",${tls13.port},4,"v13"`)).toBe('+KMQTT_IND: 1,1');
  });
});

describe('weak crypto per profile', () => {
  test('a SHA-1-signed server certificate: 2.6.3 refuses it (WEAK_SIGNATURE), legacy accepts it', async () => {
    const weak = await issueCertificate({
      subject: 'CN=localhost',
      key: await generateKey({ type: 'ec', curve: 'P-256' }),
      issuer: pki.ca,
      altNames: ['localhost'],
      hash: 'SHA-1',
      extendedKeyUsage: ['serverAuth'],
    });
    const sockets = new Set<Socket>();
    // The front door itself must run at SECLEVEL 0 to load a SHA-1 certificate (docs/reference/dependencies.md P12)
    const server = createTlsServer({ key: weak.keyPem, cert: weak.certPem, ciphers: 'DEFAULT:@SECLEVEL=0' }, (s) =>
      broker.handle(s),
    );
    server.on('tlsClientError', () => undefined);
    const port = await listen(server, sockets);
    try {
      const a = await module('2.6.3');
      expect(await connect(a.at, `1,"localhost",${port},4,"weak263"`)).toBe('+KMQTT_IND: 1,0');
      expect(a.m.session(1)?.lastConnectError).toMatchObject({ step: 'verify', reason: 'WEAK_SIGNATURE' });
      const b = await module('legacy');
      expect(await connect(b.at, `1,"localhost",${port},4,"weaklegacy"`)).toBe('+KMQTT_IND: 1,1');
    } finally {
      await Promise.all(modules.splice(0).map((m) => m.close()));
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('losing the connection', () => {
  test('the broker drops a live session: +KMQTT_IND: 1,0, and the session can connect again', async () => {
    const { m, at } = await module('2.6.3');
    expect(await connect(at, `0,127.0.0.1,${plain.port},4,"dropme"`)).toBe('+KMQTT_IND: 1,1');
    for (const s of plain.sockets) if (s.remotePort && s.localPort === plain.port) s.destroy();
    expect(await at.until('+KMQTT_IND: 1,0\r\n', 5_000)).toBe('\r\n+KMQTT_IND: 1,0\r\n');
    expect(m.session(1)?.state).toBe('configured');
    expect(await at.cmd('AT+KMQTTCNX=1')).toBe(OK);
    expect(await at.until(/\+KMQTT_IND: 1,\d\r\n/, 5_000)).toBe('\r\n+KMQTT_IND: 1,1\r\n');
  });

  test('Wi-Fi loss: +SRWSTASTATUS: 0,200 then +KMQTT_IND: 1,0, and the broker sends the will [BX-T KMQTTCFG_0002]', async () => {
    const { m, at } = await module('2.6.3');
    const other = await peer();
    await other.subscribeAsync('dev/status', { qos: 0 });
    const will = nextMessage(other);
    expect(await connect(at, `0,127.0.0.1,${plain.port},4,"willdev",60,1,1,"dev/status","OFFLINE",0,0`)).toBe(
      '+KMQTT_IND: 1,1',
    );
    m.wifiDrop();
    expect(await at.until('+KMQTT_IND: 1,0\r\n', 5_000)).toBe('\r\n+SRWSTASTATUS: 0,200\r\n\r\n+KMQTT_IND: 1,0\r\n');
    const [topic, payload] = await will;
    expect([topic, payload.toString()]).toEqual(['dev/status', 'OFFLINE']);
    expect(await at.cmd('AT+KMQTTCNX=1')).toBe('\r\n+CME ERROR: 921\r\n');
  });

  test('close and connect again at once, repeatedly: each connect holds (a close cleans up only its own sockets)', async () => {
    const { m, at } = await module('2.6.3');
    expect(await connect(at, `1,"localhost",${tls12.port},4,"again"`)).toBe('+KMQTT_IND: 1,1');
    for (let i = 0; i < 4; i++) {
      expect(await at.cmd('AT+KMQTTCLOSE=1')).toBe(OK);
      expect(await at.cmd('AT+KMQTTCNX=1')).toBe(OK);
      expect(await at.until(/\+KMQTT_IND: 1,\d\r\n/, 10_000)).toBe('\r\n+KMQTT_IND: 1,1\r\n');
    }
    expect(await at.drainAfter(1_300)).toBe(''); // past the 1 s bound of the last close's cleanup
    expect(m.session(1)?.state).toBe('connected');
  });

  test('the broker refuses the CONNECT (empty client id with clean session 0): +KMQTT_IND: 1,0 at the mqtt step', async () => {
    const { m, at } = await module('2.6.3');
    const t0 = performance.now();
    expect(await connect(at, `0,127.0.0.1,${plain.port},4,"",60,0`)).toBe('+KMQTT_IND: 1,0');
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(m.session(1)?.lastConnectError).toMatchObject({
      step: 'mqtt',
      reason: expect.stringMatching(/^(CONNACK_\d+|CLOSED)$/),
    });
  });

  test('module.close() closes its sockets (the broker sees the client go)', async () => {
    const { m, at } = await module('2.6.3');
    expect(await connect(at, `0,127.0.0.1,${plain.port},4,"closeme"`)).toBe('+KMQTT_IND: 1,1');
    const gone = new Promise<void>((resolve) => broker.on('clientDisconnect', (c) => c.id === 'closeme' && resolve()));
    await m.close();
    await gone;
  });
});

function nextMessage(client: MqttClient): Promise<[string, Buffer]> {
  return new Promise((resolve) => client.once('message', (topic, payload) => resolve([topic, payload])));
}

async function upload(at: RawClient, command: string, data: string): Promise<string> {
  expect(await at.cmd(command)).toBe('\r\nCONNECT\r\n');
  at.send(data);
  await new Promise((r) => setTimeout(r, 80));
  at.send('+++');
  return at.until(/\r\n(OK|ERROR|\+CME ERROR: \d+)\r\n/, 3_000);
}
