/**
 * The aedes rig's other behaviours with real clients: ClientHello fields recorded as sent,
 * key log only on request, silent clients, KEY_MISMATCH on the wire, faults, profiles,
 * restart, configuration errors. Glossary: "device" = the client tool (s_client, mosquitto_*,
 * mqtt.js, a raw socket); "rig" = startBrokerRig; "verdict" = its conclusion.
 */
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { EvidenceBus } from '../evidence.ts';
import { createBasicPki, issueCertificate, KeyPool, type BasicPki } from '../pki/index.ts';
import { startCertSwapProxy } from './key-mismatch.ts';
import { startBrokerRig } from './rig.ts';
import type { BrokerRig, BrokerRigOptions } from './types.ts';
import {
  connectBytes,
  hasTool,
  killAllClients,
  mosquittoTlsArgs,
  opensslMtlsArgs,
  runClient,
  tempFiles,
} from './testing.ts';

const OPENSSL = hasTool('openssl');
const MOSQ = hasTool('mosquitto_sub') && hasTool('mosquitto_pub');

let pki: BasicPki;
let files: ReturnType<typeof tempFiles>;
const rigs: BrokerRig[] = [];
async function rig(o: BrokerRigOptions = {}): Promise<BrokerRig> {
  const r = await startBrokerRig({ pki, connectTimeoutMs: 3000, ...o });
  rigs.push(r);
  return r;
}
const sclient = (port: number, extra: string[], input: Buffer | string = '', holdStdinMs = 1000) =>
  runClient('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...extra], {
    input,
    holdStdinMs,
    timeoutMs: 8000,
  });
const mtls = (): string[] => opensslMtlsArgs(files);
const mqttOpts = (o: mqtt.IClientOptions = {}): mqtt.IClientOptions => ({
  ca: pki.ca.certPem,
  cert: pki.client.certPem,
  key: pki.client.keyPem,
  servername: 'localhost',
  reconnectPeriod: 0,
  connectTimeout: 4000,
  ...o,
});

beforeAll(async () => {
  pki = await createBasicPki({ pool: new KeyPool() });
  files = tempFiles({ 'ca.pem': pki.ca.certPem, 'client.pem': pki.client.certPem, 'client.key': pki.client.keyPem });
});
afterEach(async () => {
  killAllClients();
  await Promise.all(rigs.splice(0).map((r) => r.close()));
});
afterAll(() => files.remove());

describe('recorded ClientHello and TLS outcome', () => {
  test.skipIf(!OPENSSL)(
    's_client -servername foo.example -alpn x-amzn-mqtt-ca: recorded as sent; CONNECT via stdin -> OK',
    async () => {
      const r = await rig();
      const done = sclient(
        r.port,
        [...mtls(), '-servername', 'foo.example', '-alpn', 'x-amzn-mqtt-ca'],
        connectBytes('sclient-ok'),
      );
      const v = await r.waitForVerdict();
      await done;
      expect(v.code).toBe('OK');
      const rec = r.records[0]!;
      expect(rec.clientHello?.sni).toBe('foo.example');
      expect(rec.clientHello?.alpn).toEqual(['x-amzn-mqtt-ca']);
      expect(rec.tls?.sni).toBe('foo.example');
      expect(rec.tls?.peerCert?.subject).toContain('bx-hil-device');
      expect(rec.mqtt.connect?.clientId).toBe('sclient-ok');
      expect(rec.mqtt.connect?.password).toBe('absent');
      expect(v.summary).not.toContain('max_fragment_length');
      const kinds = rec.events.map((e) => e.kind);
      expect(kinds.indexOf('accept')).toBeLessThan(kinds.indexOf('client-hello'));
      expect(kinds.indexOf('client-hello')).toBeLessThan(kinds.indexOf('tls-outcome'));
      expect(kinds.indexOf('tls-outcome')).toBeLessThan(kinds.indexOf('packet'));
      const ts = rec.events.map((e) => e.t);
      expect([...ts].sort((a, b) => a - b)).toEqual(ts);
    },
  );

  test.skipIf(!OPENSSL)(
    '-noservername: no SNI recorded; a handshake without CONNECT -> HANDSHAKE_THEN_SILENT',
    async () => {
      const r = await rig();
      await sclient(r.port, [...mtls(), '-noservername'], '', 100);
      const v = await r.waitForVerdict();
      expect(v.code).toBe('HANDSHAKE_THEN_SILENT');
      expect(r.records[0]!.clientHello?.sni).toBeUndefined();
    },
  );

  test('a TCP client that never speaks -> NEVER_SPOKE when the bound expires', async () => {
    const r = await rig({ connectTimeoutMs: 400 });
    const s = net.connect(r.port, '127.0.0.1');
    s.on('error', () => undefined);
    const v = await r.waitForVerdict(() => true, 5000);
    s.destroy();
    expect(v.code).toBe('NEVER_SPOKE');
    expect(r.records[0]!.end?.by).toBe('rig');
  });

  test('HTTP on the TLS port -> PLAINTEXT_ON_TLS_PORT without waiting for a bound', async () => {
    const r = await rig({ connectTimeoutMs: 60_000 });
    const s = net.connect(r.port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    s.on('error', () => undefined);
    const v = await r.waitForVerdict(() => true, 3000);
    s.destroy();
    expect(v.code).toBe('PLAINTEXT_ON_TLS_PORT');
    expect(v.summary).toContain('HTTP');
  });

  test.skipIf(!OPENSSL)(
    'KEY_MISMATCH: the client certificate is swapped on the wire for one whose key the client does not hold',
    async () => {
      const r = await rig({ tls: { maxVersion: 'TLSv1.2' } });
      const other = await issueCertificate({
        subject: 'CN=bx-hil-device',
        key: await new KeyPool().get({ type: 'ec', curve: 'P-256' }, 'other'),
        issuer: pki.ca,
        extendedKeyUsage: ['clientAuth'],
      });
      const proxy = await startCertSwapProxy({ host: '127.0.0.1', port: r.port }, other.certDer);
      try {
        const done = sclient(proxy.port, [...mtls(), '-tls1_2'], connectBytes('swapped'));
        const v = await r.waitForVerdict(() => true, 8000);
        await done;
        expect(v.code, v.evidence.join('\n')).toBe('KEY_MISMATCH');
      } finally {
        await proxy.close();
      }
    },
  );

  test.skipIf(!OPENSSL)('a client certificate valid only from tomorrow -> CLIENT_CERT_NOT_YET_VALID', async () => {
    const now = Date.now();
    const future = await issueCertificate({
      subject: 'CN=bx-hil-device',
      key: pki.client.key,
      issuer: pki.ca,
      notBefore: new Date(now + 86_400_000),
      notAfter: new Date(now + 10 * 86_400_000),
      extendedKeyUsage: ['clientAuth'],
    });
    const f2 = tempFiles({ 'future.pem': future.certPem });
    try {
      const r = await rig();
      const done = sclient(
        r.port,
        ['-CAfile', files.path('ca.pem'), '-cert', f2.path('future.pem'), '-key', files.path('client.key')],
        connectBytes('future'),
      );
      const v = await r.waitForVerdict();
      await done;
      expect(v.code).toBe('CLIENT_CERT_NOT_YET_VALID');
    } finally {
      f2.remove();
    }
  });

  test.skipIf(!OPENSSL)(
    'TLS 1.3: the device alerts unknown_ca after the server Finished -> DEVICE_REJECTED_SERVER_CERT',
    async () => {
      const other = await createBasicPki({ pool: new KeyPool() });
      const f2 = tempFiles({ 'other-ca.pem': other.ca.certPem });
      try {
        const r = await rig();
        const done = runClient(
          'openssl',
          [
            's_client',
            '-connect',
            `127.0.0.1:${r.port}`,
            '-tls1_3',
            '-CAfile',
            f2.path('other-ca.pem'),
            '-verify_return_error',
            '-cert',
            files.path('client.pem'),
            '-key',
            files.path('client.key'),
          ],
          { holdStdinMs: 500, timeoutMs: 5000 },
        );
        const v = await r.waitForVerdict();
        await done;
        expect(v.code).toBe('DEVICE_REJECTED_SERVER_CERT');
        expect(v.summary).toContain('unknown_ca');
      } finally {
        f2.remove();
      }
    },
  );

  test('a device that drops the connection after the server flight, without an alert -> DEVICE_REJECTED_SERVER_CERT', async () => {
    const r = await rig({ tls: { maxVersion: 'TLSv1.2' } });
    // Capture a real ClientHello from Node, replay it raw, read the server flight, then drop.
    const hello = await new Promise<Buffer>((resolve) => {
      const srv = net.createServer((s) =>
        s.once('data', (d: Buffer) => {
          resolve(d);
          s.destroy();
          srv.close();
        }),
      );
      srv.listen(0, '127.0.0.1', () => {
        const c = tls.connect({
          port: (srv.address() as net.AddressInfo).port,
          host: '127.0.0.1',
          servername: 'localhost',
          maxVersion: 'TLSv1.2',
        });
        c.on('error', () => undefined);
      });
    });
    const s = net.connect(r.port, '127.0.0.1', () => s.write(hello));
    s.on('error', () => undefined);
    await new Promise<void>((res) => s.once('data', () => res()));
    s.destroy();
    const v = await r.waitForVerdict(() => true, 5000);
    expect(v.code).toBe('DEVICE_REJECTED_SERVER_CERT');
    expect(v.summary).toContain('without an alert');
  });

  test.skipIf(!OPENSSL)('key log: NSS lines written only when keylogPath is set', async () => {
    const dir = tempFiles({});
    try {
      const path = dir.path('keys.log');
      const r = await rig({ keylogPath: path });
      expect(r.keylogPath).toBe(path);
      const done = sclient(r.port, mtls(), connectBytes('kl'));
      await r.waitForVerdict();
      await done;
      await r.close();
      const text = readFileSync(path, 'utf8');
      expect(text).toMatch(
        /^(CLIENT_HANDSHAKE_TRAFFIC_SECRET|CLIENT_RANDOM|SERVER_HANDSHAKE_TRAFFIC_SECRET) [0-9a-f]{64} [0-9a-f]+$/m,
      );
      const r2 = await rig();
      expect(r2.keylogPath).toBeUndefined();
      const done2 = sclient(r2.port, mtls(), connectBytes('kl2'));
      await r2.waitForVerdict();
      await done2;
      expect(readdirSync(dir.dir)).toEqual(['keys.log']);
      expect(readFileSync(path, 'utf8')).toBe(text);
      expect(r2.records[0]!.events.some((e) => /[0-9a-f]{64}/.test(e.summary) && !/sha256/.test(e.summary))).toBe(
        false,
      );
    } finally {
      dir.remove();
    }
  });
});

describe('faults', () => {
  test('withhold CONNACK: mqtt.js times out; verdict CONNACK_WITHHELD when it gives up', async () => {
    const r = await rig({ faults: { withhold: ['connack'] } });
    const c = mqtt.connect(r.url, mqttOpts({ connectTimeout: 2000 }));
    c.on('error', () => undefined);
    const v = await r.waitForVerdict(() => true, 8000);
    c.end(true);
    expect(v.code).toBe('CONNACK_WITHHELD');
    expect(r.records[0]!.mqtt.packets.find((p) => p.cmd === 'connack')?.withheld).toBe(true);
  });

  test('withhold PUBACK and SUBACK: the client never gets them; PINGRESP too', async () => {
    const r = await rig({ faults: { withhold: ['puback', 'suback', 'pingresp'] } });
    const c = await mqtt.connectAsync(r.url, mqttOpts({ keepalive: 1 }));
    let pubacked = false;
    c.publish('f/a', 'x', { qos: 1 }, (err) => (pubacked = !err));
    let subacked = false;
    c.subscribe('f/#', { qos: 1 }, (err) => (subacked = !err));
    await expect.poll(() => r.records[0]!.mqtt.packets.some((p) => p.cmd === 'pingresp'), { timeout: 5000 }).toBe(true);
    expect(pubacked).toBe(false);
    expect(subacked).toBe(false);
    const out = r.records[0]!.mqtt.packets.filter((p) => p.dir === 'out');
    expect(out.filter((p) => p.withheld).map((p) => p.cmd)).toEqual(
      expect.arrayContaining(['puback', 'suback', 'pingresp']),
    );
    c.end(true);
  });

  test('close after N packets', async () => {
    const r = await rig({ faults: { closeAfterPackets: 3 } });
    const c = await mqtt.connectAsync(r.url, mqttOpts());
    const closed = new Promise<void>((res) => c.once('close', () => res()));
    c.publish('f/b', 'x', { qos: 1 });
    await closed;
    c.end(true);
    expect(r.records[0]!.faults).toContain('close after 3 packets');
    await expect.poll(() => r.records[0]!.end?.by).toBe('rig');
  });

  test('close right after the handshake: mqtt.js never gets CONNACK -> CLOSED_BY_RIG', async () => {
    const r = await rig({ faults: { closeAfterHandshake: true } });
    const c = mqtt.connect(r.url, mqttOpts());
    c.on('error', () => undefined);
    const v = await r.waitForVerdict(() => true, 5000);
    c.end(true);
    expect(v.code).toBe('CLOSED_BY_RIG');
    expect(r.records[0]!.tls?.version).toMatch(/^TLSv1\.[23]$/);
    expect(r.records[0]!.mqtt.packets).toEqual([]);
  });

  test('close after N ms', async () => {
    const r = await rig({ faults: { closeAfterMs: 1500 } });
    const c = await mqtt.connectAsync(r.url, mqttOpts());
    await new Promise<void>((res) => c.once('close', () => res()));
    c.end(true);
    await expect.poll(() => r.records[0]!.end?.reason).toContain('close after 1500 ms');
  });

  test('stall the handshake: the client times out -> STALLED_BY_RIG', async () => {
    const r = await rig({ faults: { stallHandshakeMs: Infinity }, connectTimeoutMs: 600 });
    const c = mqtt.connect(r.url, mqttOpts({ connectTimeout: 5000 }));
    c.on('error', () => undefined);
    const v = await r.waitForVerdict(() => true, 5000);
    c.end(true);
    expect(v.code).toBe('STALLED_BY_RIG');
  });

  test('plain answer on the TLS port: the TLS client fails', async () => {
    const r = await rig({ faults: { plainAnswer: 'HTTP/1.1 400 Bad Request\r\n\r\n' } });
    const err = await new Promise<Error>((res) => {
      const s = tls.connect({ port: r.port, host: '127.0.0.1', ca: pki.ca.certPem });
      s.on('error', res);
    });
    expect(String((err as NodeJS.ErrnoException).code)).toMatch(/ERR_SSL|ECONNRESET/);
    expect(r.records[0]!.faults).toContain('plain answer on the TLS port');
    expect((await r.waitForVerdict()).code).toBe('CLOSED_BY_RIG');
  });

  test.skipIf(!OPENSSL)(
    'present a chosen server certificate (expired): s_client rejects it -> DEVICE_REJECTED_SERVER_CERT naming the alert',
    async () => {
      const now = Date.now();
      const expired = await issueCertificate({
        subject: 'CN=localhost',
        key: pki.server.key,
        issuer: pki.ca,
        altNames: ['localhost'],
        notBefore: new Date(now - 10 * 86_400_000),
        notAfter: new Date(now - 86_400_000),
        extendedKeyUsage: ['serverAuth'],
      });
      const r = await rig();
      r.setFaults({ serverCert: { chainPem: expired.certPem, keyPem: expired.keyPem } });
      const done = sclient(r.port, [...mtls(), '-verify_return_error', '-tls1_2']);
      const v = await r.waitForVerdict();
      await done;
      expect(v.code).toBe('DEVICE_REJECTED_SERVER_CERT');
      expect(v.summary).toContain('certificate_expired');
    },
  );
});

describe('profiles and lifecycle', () => {
  test('tls-server-only: a client without a certificate connects -> OK', async () => {
    const r = await rig({ profile: 'tls-server-only' });
    const c = await mqtt.connectAsync(r.url, { ca: pki.ca.certPem, servername: 'localhost', reconnectPeriod: 0 });
    await c.endAsync();
    expect((await r.waitForVerdict()).code).toBe('OK');
  });

  test('plain listener: mqtt:// URL, raw CONNECT -> OK', async () => {
    const r = await rig({ profile: 'plain' });
    expect(r.url).toMatch(/^mqtt:\/\//);
    const c = await mqtt.connectAsync(r.url, { reconnectPeriod: 0 });
    await c.endAsync();
    expect((await r.waitForVerdict()).code).toBe('OK');
  });

  test('mosquitto-like: a client id outside the allow-list gets CONNACK 5 -> CONNECT_REFUSED', async () => {
    const r = await rig({ profile: 'mosquitto-like', allowedClientIds: ['good'] });
    const err = await mqtt.connectAsync(r.url, mqttOpts({ clientId: 'bad' })).then(
      () => undefined,
      (e: Error & { code?: number }) => e,
    );
    expect(err?.code).toBe(5);
    const v = await r.waitForVerdict();
    expect(v.code).toBe('CONNECT_REFUSED');
    expect(v.summary).toContain('not authorized');
  });

  test.skipIf(!MOSQ)(
    'mosquitto_sub receives what the rig publishes in-process; rig.subscribe sees mosquitto_pub',
    async () => {
      const r = await rig();
      const got: string[] = [];
      const off = await r.subscribe('lab/#', (t, p) => got.push(`${t}=${p.toString()}`));
      const sub = runClient(
        'mosquitto_sub',
        [...mosquittoTlsArgs(r.port, files), '-t', 'hil/#', '-C', '1', '-v', '-W', '8'],
        { timeoutMs: 10_000 },
      );
      await r.waitForVerdict((v) => v.code === 'OK', 5000);
      await expect.poll(() => r.records[0]?.mqtt.packets.some((p) => p.cmd === 'suback')).toBe(true);
      await r.publish('hil/dev1/status', 'online', { qos: 1 });
      const res = await sub;
      expect(res.stdout.trim()).toBe('hil/dev1/status online');
      await runClient('mosquitto_pub', [...mosquittoTlsArgs(r.port, files), '-t', 'lab/x', '-m', 'hi', '-q', '1'], {
        timeoutMs: 8000,
      });
      await expect.poll(() => got).toEqual(['lab/x=hi']);
      await off();
    },
  );

  test('restart keeps the port and the records; close is idempotent', async () => {
    const r = await rig({ profile: 'plain' });
    const port = r.port;
    const c = await mqtt.connectAsync(r.url, { reconnectPeriod: 0 });
    await c.endAsync();
    await r.restart();
    expect(r.port).toBe(port);
    const c2 = await mqtt.connectAsync(r.url, { reconnectPeriod: 0 });
    await c2.endAsync();
    await expect.poll(() => r.verdicts.filter((v) => v.code === 'OK').length).toBe(2);
    await r.close();
    await r.close();
  });

  test('bad options are refused at the edge with BXHIL_CONFIG naming the field', async () => {
    await expect(startBrokerRig({ profile: 'nope' as never })).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: 'profile',
    });
    await expect(startBrokerRig({ port: 70000 })).rejects.toMatchObject({ code: 'BXHIL_CONFIG', field: 'port' });
    await expect(startBrokerRig({ serverCertChainPem: 'x' })).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: 'serverKeyPem',
    });
  });

  test('events go to the bus given; the verdict is published there too', async () => {
    const bus = new EvidenceBus();
    const seen: string[] = [];
    bus.subscribe((e) => seen.push(`${e.source}/${e.kind}`));
    const r = await rig({ profile: 'plain', bus });
    const c = await mqtt.connectAsync(r.url, { reconnectPeriod: 0 });
    await c.endAsync();
    await r.waitForVerdict();
    expect(seen).toEqual(expect.arrayContaining(['broker/accept', 'mqtt/packet', 'diagnose/verdict']));
    expect(mqttPacket).toBeDefined();
  });
});
