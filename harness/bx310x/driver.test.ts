/**
 * Bx310x driver against a scripted link: the exact bytes of every method on the wire, parsing
 * of the read forms from docs/reference/bx310x-at.md (§3.1, §3.3, §6.1), parameter refusal, state guards and
 * the broken state.
 *
 * Glossary: "module" = the script playing the BX310x; "device" = the Bx310x driver under test.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import { EvidenceBus, EvidenceRecorder } from '../evidence.ts';
import { scriptedLink, type ScriptedLink } from '../link/index.ts';
import { pollUntil } from '../processes.ts';
import { Bx310x, StoreLedger, type Bx310xOptions } from './driver.ts';
import type { MqttMessage } from './urc.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Whether `p` has settled (either way) yet; its rejection is kept for a later await. */
function tracked<T>(p: Promise<T>): { promise: Promise<T>; settled(): boolean } {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  return { promise: p, settled: () => settled };
}

const FAST: Bx310xOptions = {
  sync: false,
  guardTimeMs: 5,
  subAckTimeoutMs: 50,
  engine: { resyncAttempts: 2, resyncTimeoutMs: 50, escapeGuardMs: 5 },
};

function setup(opts: Bx310xOptions = {}): { s: ScriptedLink; dev: Bx310x } {
  const s = scriptedLink();
  const dev = new Bx310x(s.link, { ...FAST, ...opts });
  cleanups.push(() => dev.close());
  return { s, dev };
}

async function rejection(p: Promise<unknown>): Promise<Error & { code: string; [k: string]: unknown }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code: string; [k: string]: unknown };
  }
  throw new Error('expected a rejection');
}

const CERT = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\nQ0FGRQ==\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN RSA PRIVATE KEY-----\nTOPSECRETKEYBYTES0123\n-----END RSA PRIVATE KEY-----\n';
const OK = '\r\nOK\r\n';

describe('open, identity, module control', () => {
  test('open(link) sends AT until OK and returns an open device', async () => {
    const s = scriptedLink();
    s.expectWrite('AT\r').respond(OK);
    const dev = await Bx310x.open(s.link, { defaultTimeoutMs: 1000 });
    cleanups.push(() => dev.close());
    expect(dev.state).toBe('open');
    s.assertDone();
  });

  test('open() on a module that never answers fails with ONE AtResyncError in bounded time; the given link stays the caller’s', async () => {
    const s = scriptedLink();
    cleanups.push(() => s.link.close());
    s.expectWrite('AT\r').times(2);
    s.expectWrite('+++');
    s.expectWrite('AT\r');
    const t0 = Date.now();
    const err = await rejection(
      Bx310x.open(s.link, { engine: { resyncAttempts: 2, resyncTimeoutMs: 50, escapeGuardMs: 5 } }),
    );
    expect(err.code).toBe('BXHIL_AT_RESYNC');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(s.link.listenerCount('data')).toBe(0);
    s.assertDone();
  });

  test('open() with an unknown scheme gives a ConfigError naming the fix', async () => {
    const err = await rejection(Bx310x.open('nosuch://x'));
    expect(err.code).toBe('BXHIL_CONFIG');
  });

  test('identity(): ATI, AT+CGMR, AT+FMM first lines', async () => {
    const { s, dev } = setup();
    s.expectWrite('ATI\r').respond('\r\nBX3105\r\n' + OK);
    s.expectWrite('AT+CGMR\r').respond('\r\n2.6.3\r\nbuild 42\r\n' + OK);
    s.expectWrite('AT+FMM\r').respond('\r\nBX310x\r\n' + OK);
    expect(await dev.identity()).toEqual({ model: 'BX3105', firmware: '2.6.3', family: 'BX310x' });
    s.assertDone();
  });

  test('setEcho, reset (AT+RST then READY) and factoryReset (AT&F then READY)', async () => {
    const { s, dev } = setup();
    s.expectWrite('ATE0\r').respond(OK);
    s.expectWrite('AT+RST\r').respond(OK).thenEmit('\r\nREADY\r\n', { delayMs: 20 });
    s.expectWrite('AT&F\r').respond('\r\nOK\r\n\r\nREADY\r\n');
    await dev.setEcho(false);
    await dev.reset();
    await dev.factoryReset();
    s.assertDone();
  });

  test('reset() without READY fails with BXHIL_AT_TIMEOUT after resetTimeoutMs', async () => {
    const { s, dev } = setup({ resetTimeoutMs: 50 });
    s.expectWrite('AT+RST\r').respond(OK);
    expect((await rejection(dev.reset())).code).toBe('BXHIL_AT_TIMEOUT');
  });
});

describe('certificates and keys', () => {
  test('storeCert root: AT+KCERTSTORE=0,<exact bytes>, CONNECT, PEM, +++ without CR, OK', async () => {
    const { s, dev } = setup();
    s.expectWrite(`AT+KCERTSTORE=0,${CERT.length}\r`).respond('\r\nCONNECT\r\n');
    s.expectWrite(CERT);
    s.expectWrite('+++').respond(OK);
    await dev.storeCert('root', CERT);
    expect(s.written().toString('latin1')).toBe(`AT+KCERTSTORE=0,${CERT.length}\r${CERT}+++`);
    expect(dev.state).toBe('open');
  });

  test('storeCert local with index, NbData omitted ([BX-T] =1,,<idx>), root without NbData ([BX-L])', async () => {
    const { s, dev } = setup();
    const utf8 = CERT.replace('Q0FGRQ==', 'Q0FGRQ==é'); // NbData counts bytes, not characters
    s.expectWrite(`AT+KCERTSTORE=1,${Buffer.byteLength(utf8)},2\r`).respond('\r\nCONNECT\r\n');
    s.expectBytes(Buffer.byteLength(utf8));
    s.expectWrite('+++').respond(OK);
    s.expectWrite('AT+KCERTSTORE=1,,1\r').respond('\r\nCONNECT\r\n');
    s.expectWrite(CERT);
    s.expectWrite('+++').respond(OK);
    s.expectWrite('AT+KCERTSTORE=0\r').respond('\r\nCONNECT\r\n');
    s.expectWrite(CERT);
    s.expectWrite('+++').respond(OK);
    await dev.storeCert('local', utf8, { index: 2 });
    await dev.storeCert('local', CERT, { index: 1, nbData: 'omit' });
    await dev.storeCert('root', CERT, { nbData: 'omit' });
    s.assertDone();
  });

  test('storeCert refuses out-of-range input before sending anything', async () => {
    const { s, dev } = setup();
    expect((await rejection(dev.storeCert('local', CERT, { index: 3 }))).code).toBe('BXHIL_PARAM');
    expect((await rejection(dev.storeCert('root', 'x'.repeat(3001)))).code).toBe('BXHIL_PARAM');
    expect((await rejection(dev.storeCert('root', ''))).code).toBe('BXHIL_PARAM');
    expect((await rejection(dev.storeCert('other' as 'root', CERT))).code).toBe('BXHIL_PARAM');
    expect(s.writes).toHaveLength(0);
  });

  test('a CME error on upload (e.g. 931) rejects CmeError and leaves the device open', async () => {
    const { s, dev } = setup();
    s.expectWrite(`AT+KCERTSTORE=0,${CERT.length}\r`).respond('\r\nCONNECT\r\n');
    s.expectWrite(CERT);
    s.expectWrite('+++').respond('\r\n+CME ERROR: 931\r\n');
    const err = await rejection(dev.storeCert('root', CERT));
    expect(err.code).toBe('BXHIL_CME');
    expect(err.cmeCode).toBe(931);
    expect(dev.state).toBe('open');
  });

  test('listCerts parses the empty store literally as in [BX-T]', async () => {
    const { s, dev } = setup();
    s.expectWrite('AT+KCERTSTORE?\r').respond('\r\n+KCERTSTORE\r\n\r\nOK\r\n');
    expect(await dev.listCerts()).toEqual({ local: [] });
  });

  test('listCerts parses root_cert and local_cert blocks with the echoed PEM (§3.1)', async () => {
    const { s, dev } = setup();
    const local = CERT.replace('MIIB', 'MIIC');
    s.expectWrite('AT+KCERTSTORE?\r').respond(
      `\r\n+KCERTSTORE\r\nroot_cert,0,${CERT.length}\r\n${CERT}\r\nlocal_cert,1,${local.length}\r\n${local}\r\n\r\nOK\r\n`,
    );
    expect(await dev.listCerts()).toEqual({
      root: { index: 0, length: CERT.length, pem: CERT },
      local: [{ index: 1, length: local.length, pem: local }],
    });
  });

  test('storeKey: exact bytes on the wire, key never in transcript or evidence', async () => {
    const bus = new EvidenceBus();
    const rec = new EvidenceRecorder(bus);
    const { s, dev } = setup({ bus });
    s.expectWrite(`AT+KPRIVKSTORE=0,${KEY.length}\r`).respond('\r\nCONNECT\r\n');
    s.expectWrite(KEY);
    s.expectWrite('+++').respond(OK);
    await dev.storeKey(0, KEY);
    expect(s.written().toString('latin1')).toBe(`AT+KPRIVKSTORE=0,${KEY.length}\r${KEY}+++`);
    expect(dev.at.transcript.toText()).not.toContain('TOPSECRET');
    expect(dev.at.transcript.toText()).toContain(`<<secret: ${KEY.length} bytes, sha256=`);
    expect(JSON.stringify(rec.events)).not.toContain('TOPSECRET');
  });

  test('listKeys parses private_key lines (§3.3); deleteKey / deleteCert bytes', async () => {
    const { s, dev } = setup();
    s.expectWrite('AT+KPRIVKSTORE?\r').respond(
      '\r\n+KPRIVKSTORE\r\nprivate_key,0,1675\r\nprivate_key,2,227\r\n\r\nOK\r\n',
    );
    s.expectWrite('AT+KPRIVKDELETE=2\r').respond(OK);
    s.expectWrite('AT+KCERTDELETE=0\r').respond(OK);
    s.expectWrite('AT+KCERTDELETE=1,2\r').respond(OK);
    s.expectWrite('AT+KPRIVKSTORE?\r').respond('\r\n+KPRIVKSTORE\r\n\r\nOK\r\n');
    expect(await dev.listKeys()).toEqual([
      { index: 0, length: 1675 },
      { index: 2, length: 227 },
    ]);
    await dev.deleteKey(2);
    await dev.deleteCert('root');
    await dev.deleteCert('local', 2);
    expect(await dev.listKeys()).toEqual([]);
    s.assertDone();
  });
});

describe('MQTT', () => {
  test('mqttConfigure sends all 14 parameters (§6.8) and returns the session id; the password is redacted', async () => {
    const { s, dev } = setup();
    s.expectWrite('AT+KMQTTCFG=1,"broker.example",8883,4,"dev1",60,1,0,,,0,0,"user","pw-s3cret"\r').respond(
      '\r\n+KMQTTCFG: 1\r\n' + OK,
    );
    const id = await dev.mqttConfigure({
      secure: true,
      server: 'broker.example',
      clientId: 'dev1',
      username: 'user',
      password: 'pw-s3cret',
    });
    expect(id).toBe(1);
    expect(dev.at.transcript.toText()).not.toContain('pw-s3cret');
    expect(dev.at.transcript.toText()).toContain('"user","<<redacted>>"');
  });

  test('mqttConfigure with every field set', async () => {
    const { s, dev } = setup();
    s.expectWrite('AT+KMQTTCFG=0,"srv",1883,3,"BX_DUT",120,0,1,"TMA/DUT/status","OFFLINE",1,2,,\r').respond(
      '\r\n+KMQTTCFG: 7\r\n' + OK,
    );
    const id = await dev.mqttConfigure({
      server: 'srv',
      version: 3,
      clientId: 'BX_DUT',
      keepAliveSeconds: 120,
      cleanSession: false,
      willFlag: true,
      willTopic: 'TMA/DUT/status',
      willMessage: 'OFFLINE',
      willRetain: true,
      willQos: 2,
    });
    expect(id).toBe(7);
  });

  test('parameters with a double quote, CR/LF or out of range are refused before sending', async () => {
    const { s, dev } = setup();
    const cases: [Promise<unknown>, string][] = [
      [dev.mqttPublish(1, 't', '{"alert":1}'), 'payload'],
      [dev.mqttPublish(1, 't"x', 'p'), 'topic'],
      [dev.mqttPublish(1, 't', 'a\r\nb'), 'payload'],
      [dev.mqttPublish(1, 'a/+/b', 'p'), 'topic'],
      [dev.mqttPublish(1, 't', 'p', { qos: 3 as 0 }), 'qos'],
      [dev.mqttConfigure({ server: 'h', clientId: 'a"b' }), 'clientId'],
      [dev.mqttConfigure({ server: 'h', clientId: 'c', port: 65536 }), 'port'],
      [dev.mqttConfigure({ server: 'h', clientId: 'c', version: 5 as 4 }), 'version'],
      [dev.mqttConfigure({ server: 'h', clientId: 'c', password: 'p"w' }), 'password'],
      [dev.mqttSubscribe(70000, 't'), 'id'],
    ];
    for (const [p, param] of cases) {
      const err = await rejection(p);
      expect(err.code, param).toBe('BXHIL_PARAM');
      expect(err.param).toBe(param);
    }
    const quoteErr = await rejection(dev.mqttPublish(1, 't', 'say "hi"'));
    expect(quoteErr.message).toMatch(/base64/);
    const pwErr = await rejection(dev.mqttConfigure({ server: 'h', clientId: 'c', password: 'p"w' }));
    expect(JSON.stringify(pwErr.value)).not.toContain('p"w');
    expect(s.writes).toHaveLength(0);
  });

  test('mqttConnect: OK then +KMQTT_IND: 1,1 (even in the same chunk as OK)', async () => {
    const { s, dev } = setup();
    s.expectWrite('AT+KMQTTCNX=1\r').respond('\r\nOK\r\n\r\n+KMQTT_IND: 1,1\r\n');
    s.expectWrite('AT+KMQTTCNX=2\r').respond(OK).thenEmit('\r\n+KMQTT_IND: 2,1\r\n', { delayMs: 20 });
    await dev.mqttConnect(1);
    await dev.mqttConnect(2);
  });

  test('mqttConnect: +KMQTT_IND: 1,0 rejects MqttSessionError with sessionId and indCode', async () => {
    const { s, dev } = setup();
    const inds: number[] = [];
    dev.on('mqttInd', (i) => inds.push(i.code));
    s.expectWrite('AT+KMQTTCNX=1\r').respond(OK).thenEmit('\r\n+KMQTT_IND: 1,0\r\n', { delayMs: 10 });
    const err = await rejection(dev.mqttConnect(1));
    expect(err.code).toBe('BXHIL_MQTT_ABORTED');
    expect(err.sessionId).toBe(1);
    expect(err.indCode).toBe(0);
    expect(inds).toEqual([0]);
    expect(dev.state).toBe('open');
  });

  test('mqttPublish: QoS 0 does not wait; QoS 1 waits for +KMQTT_IND: <id>,4', async () => {
    const { s, dev } = setup();
    s.expectWrite('AT+KMQTTPUB=1,"dev1/tele",0,0,"hello, world"\r').respond(OK);
    s.expectWrite('AT+KMQTTPUB=1,"dev1/tele",1,1,"x"\r')
      .respond(OK)
      .thenEmit('\r\n+KMQTT_IND: 1,4\r\n', { delayMs: 20 });
    s.expectWrite('AT+KMQTTPUB=1,"t",1,0,"y"\r').respond(OK);
    await dev.mqttPublish(1, 'dev1/tele', 'hello, world');
    await dev.mqttPublish(1, 'dev1/tele', 'x', { qos: 1, retain: true });
    expect((await rejection(dev.mqttPublish(1, 't', 'y', { qos: 1, waitAckMs: 30 }))).code).toBe('BXHIL_AT_TIMEOUT');
  });

  test('mqttSubscribe (auto): waits for SUBACK once, stops waiting when the firmware sends none', async () => {
    // Fake timers: the waits are measured in the driver's own time, not a loaded machine's.
    vi.useFakeTimers();
    const { s, dev } = setup({ subAckTimeoutMs: 40 });
    s.expectWrite('AT+KMQTTSUB=1,"dev1/cmd",1\r').respond(OK);
    s.expectWrite('AT+KMQTTSUB=1,"dev1/b",0\r').respond(OK);
    s.expectWrite('AT+KMQTTUNSUB=1,"dev1/cmd"\r').respond(OK);
    const first = tracked(dev.mqttSubscribe(1, 'dev1/cmd', 1));
    await vi.advanceTimersByTimeAsync(39);
    expect(first.settled(), 'the first subscribe waits subAckTimeoutMs for a SUBACK').toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await first.promise;
    const rest = tracked(
      (async () => {
        await dev.mqttSubscribe(1, 'dev1/b');
        await dev.mqttUnsubscribe(1, 'dev1/cmd');
      })(),
    );
    // Far less than the 40 ms wait: neither call may wait for an acknowledgement any more.
    await vi.advanceTimersByTimeAsync(10);
    expect(rest.settled(), 'no SUBACK/UNSUBACK wait once the firmware showed it sends none').toBe(true);
    await rest.promise;
    s.assertDone();
  });

  test('mqttSubscribe (auto): SUBACK seen, then UNSUBACK required', async () => {
    const { s, dev } = setup();
    s.expectWrite('AT+KMQTTSUB=1,"a",0\r').respond('\r\nOK\r\n\r\n+KMQTT_IND: 1,2\r\n');
    s.expectWrite('AT+KMQTTUNSUB=1,"a"\r').respond(OK).thenEmit('\r\n+KMQTT_IND: 1,3\r\n', { delayMs: 60 });
    await dev.mqttSubscribe(1, 'a');
    await dev.mqttUnsubscribe(1, 'a'); // 60 ms > subAckTimeoutMs: waited with the longer timeout
  });

  test('mqttClose / mqttDelete bytes; CME 922 passes through', async () => {
    const { s, dev } = setup();
    s.expectWrite('AT+KMQTTCLOSE=1\r').respond(OK);
    s.expectWrite('AT+KMQTTCLOSE=1\r').respond('\r\n+CME ERROR: 922\r\n');
    s.expectWrite('AT+KMQTTDEL=1\r').respond(OK);
    await dev.mqttClose(1);
    const err = await rejection(dev.mqttClose(1));
    expect(err.code).toBe('BXHIL_CME');
    expect(err.meaning).toBe('error due to invalid state of session');
    await dev.mqttDelete(1);
  });

  test('mqttSessions parses the read form examples of §6.1', async () => {
    const { s, dev } = setup();
    s.expectWrite('AT+KMQTTCFG?\r').respond(
      '\r\n+KMQTTCFG: 1,"broker",1883,4,"test_id",60,1,0,,,0,0,,\r\n+KMQTTCFG: 2,"srv",1883,4,"BX_DUT",60,1,1,"TMA/DUT/status","OFFLINE",0,0,"user","pass"\r\n' +
        OK,
    );
    s.expectWrite('AT+KMQTTCFG?\r').respond(OK);
    expect(await dev.mqttSessions()).toEqual([
      {
        id: 1,
        server: 'broker',
        port: 1883,
        version: 4,
        clientId: 'test_id',
        keepAliveSeconds: 60,
        cleanSession: true,
        willFlag: false,
        willTopic: '',
        willMessage: '',
        willRetain: false,
        willQos: 0,
        username: '',
        password: '',
      },
      {
        id: 2,
        server: 'srv',
        port: 1883,
        version: 4,
        clientId: 'BX_DUT',
        keepAliveSeconds: 60,
        cleanSession: true,
        willFlag: true,
        willTopic: 'TMA/DUT/status',
        willMessage: 'OFFLINE',
        willRetain: false,
        willQos: 0,
        username: 'user',
        password: 'pass',
      },
    ]);
    expect(await dev.mqttSessions()).toEqual([]);
  });

  test('messages(): +KMQTT_DATA and legacy +KMQTTSUB, filtered by session; message events', async () => {
    const { s, dev } = setup();
    const events: MqttMessage[] = [];
    dev.on('message', (m) => events.push(m));
    const ac = new AbortController();
    const it = dev.messages({ sessionId: 1, signal: ac.signal });
    s.emitData(
      '\r\n+KMQTT_DATA: 2,"other","skip"\r\n+KMQTT_DATA: 1,"dev1/cmd","reboot, now"\r\n+KMQTTSUB: "legacy/t","m"\r\n',
    );
    const a = await it.next();
    const b = await it.next();
    expect(a.value).toMatchObject({ sessionId: 1, topic: 'dev1/cmd', payload: 'reboot, now' });
    expect(b.value).toMatchObject({ topic: 'legacy/t', payload: 'm' });
    expect(b.value).not.toHaveProperty('sessionId');
    expect(events.map((e) => e.topic)).toEqual(['other', 'dev1/cmd', 'legacy/t']);
    ac.abort();
    expect((await it.next()).done).toBe(true);
  });
});

describe('Wi-Fi', () => {
  test('configure, station config (password redacted), connect returns the IP', async () => {
    const { s, dev } = setup();
    const wifi: string[] = [];
    dev.on('wifi', (w) => wifi.push(w.kind));
    s.expectWrite('AT+SRWCFG=1,3\r').respond(OK);
    s.expectWrite('AT+SRWSTACFG="lab","wifi-pass",1\r').respond(OK);
    s.expectWrite('AT+SRWSTACON=1\r')
      .respond(OK)
      .thenEmit('\r\n+SRWSTASTATUS: 1,"lab","aa:bb:cc:dd:ee:ff",6,3\r\n', { delayMs: 5 })
      .thenEmit('\r\n+SRWSTAIP: "10.0.0.7","255.255.255.0","10.0.0.1"\r\n', { delayMs: 5 });
    await dev.wifiConfigure('station', 'EU');
    await dev.wifiStationConfig('lab', 'wifi-pass', true);
    expect(await dev.wifiConnect()).toEqual({ ip: '10.0.0.7', netmask: '255.255.255.0', gateway: '10.0.0.1' });
    expect(wifi).toEqual(['connected', 'ip']);
    expect(dev.at.transcript.toText()).not.toContain('wifi-pass');
  });

  test('connect failure +SRWSTASTATUS: 0,202 rejects WifiError with the reason; disconnect', async () => {
    const { s, dev } = setup();
    s.expectWrite('AT+SRWSTACON=1\r').respond('\r\nOK\r\n\r\n+SRWSTASTATUS: 0,202\r\n');
    s.expectWrite('AT+SRWSTACON=0\r').respond('\r\nOK\r\n\r\n+SRWSTASTATUS: 0,8\r\n');
    const err = await rejection(dev.wifiConnect());
    expect(err.code).toBe('BXHIL_WIFI');
    expect(err.reason).toBe(202);
    await dev.wifiDisconnect();
  });
});

describe('state guards and the broken state', () => {
  test('a call during an upload gets StateError naming the method and dataMode', async () => {
    const { s, dev } = setup({ guardTimeMs: 30 });
    s.expectWrite(`AT+KCERTSTORE=0,${CERT.length}\r`).respond('\r\nCONNECT\r\n');
    s.expectWrite(CERT);
    s.expectWrite('+++').respond(OK);
    const upload = dev.storeCert('root', CERT);
    expect(dev.state).toBe('dataMode');
    const err = await rejection(dev.mqttPublish(1, 't', 'p'));
    expect(err.code).toBe('BXHIL_STATE');
    expect(err.method).toBe('mqttPublish');
    expect(err.state).toBe('dataMode');
    await upload;
    expect(dev.state).toBe('open');
  });

  test('after close every call gets StateError; close is idempotent', async () => {
    const { dev } = setup();
    await dev.close();
    await dev.close();
    expect(dev.state).toBe('closed');
    const err = await rejection(dev.identity());
    expect(err.code).toBe('BXHIL_STATE');
    expect(err.state).toBe('closed');
  });

  test('link lost: broken, and later calls fail at once with the original cause chained', async () => {
    const { s, dev } = setup();
    s.expectWrite('ATI\r');
    const first = rejection(dev.identity());
    await new Promise((r) => setImmediate(r));
    s.disconnect();
    const cause = await first;
    expect(cause.code).toBe('BXHIL_LINK_DISCONNECTED');
    expect(dev.state).toBe('broken');
    // "At once" in the driver's time: settled without any timer running (fake timers).
    vi.useFakeTimers();
    const call = tracked(rejection(dev.mqttConnect(1)));
    await vi.advanceTimersByTimeAsync(0);
    expect(call.settled(), 'a call on a broken device fails without waiting').toBe(true);
    const later = await call.promise;
    expect(later.code).toBe('BXHIL_STATE');
    expect(later.state).toBe('broken');
    expect(later.cause).toBe(cause);
  });

  test('unresponsive after a timeout and resync: broken with the AtResyncError as cause', async () => {
    const { s, dev } = setup({ defaultTimeoutMs: 40 });
    s.expectWrite('ATI\r');
    s.expectWrite('AT\r').times(2);
    s.expectWrite('+++');
    s.expectWrite('AT\r');
    expect((await rejection(dev.identity())).code).toBe('BXHIL_AT_TIMEOUT');
    expect(dev.state).toBe('open'); // one timeout alone does not break the driver
    const resync = await rejection(dev.identity());
    expect(resync.code).toBe('BXHIL_AT_RESYNC');
    expect(dev.state).toBe('broken');
    expect((await rejection(dev.listKeys())).cause).toBe(resync);
    s.assertDone();
  });
});

describe('bad devices end in ONE error within the timeout, nothing left behind', () => {
  test('garbage answer then silence: one AtTimeoutError, then resync fails once', async () => {
    const { s, dev } = setup({ defaultTimeoutMs: 50 });
    s.expectWrite('AT+KCERTSTORE?\r').respond('\x00\xfe\xff garbage \x1b[0m');
    const err = await rejection(dev.listCerts());
    expect(err.code).toBe('BXHIL_AT_TIMEOUT');
    expect(String(err.transcriptTail)).toContain('garbage');
  });

  test('a module that resets mid-command: one ModuleResetError at once', async () => {
    const { s, dev } = setup();
    s.expectWrite('AT+KMQTTCFG=0,"h",1883,4,"c",60,1,0,,,0,0,,\r').respond('\r\nREADY\r\n');
    const t0 = Date.now();
    const err = await rejection(dev.mqttConfigure({ server: 'h', clientId: 'c' }));
    expect(err.code).toBe('BXHIL_AT_RESET');
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  test('no timer or listener left after close', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const s = scriptedLink();
    const dev = new Bx310x(s.link, FAST);
    s.expectWrite('AT+KMQTTCNX=1\r').respond(OK);
    const p = rejection(dev.mqttConnect(1, { timeoutMs: 60_000 }));
    // In flight: the module has answered OK and the driver now waits for the URC.
    await pollUntil(() => s.pending().length === 0, { timeoutMs: 5_000, intervalMs: 1, what: 'the OK to be sent' });
    await dev.close();
    expect((await p).code).toBe('BXHIL_AT_CLOSED');
    expect(s.link.isOpen).toBe(false);
    expect(s.link.listenerCount('data') + s.link.listenerCount('close')).toBe(0);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(before);
  });
});

describe('the store ledger: what this driver knows its stores hold', () => {
  const OTHER = CERT.replace('Q0FGRQ==', 'T1RIRVI=');
  function storeRoot(s: ScriptedLink, pem: string, answer = OK): void {
    s.expectWrite(`AT+KCERTSTORE=0,${pem.length}\r`).respond('\r\nCONNECT\r\n');
    s.expectWrite(pem);
    s.expectWrite('+++').respond(answer);
  }

  test('a store that ended OK is known by its bytes; a delete that ended OK is known empty; each slot on its own', async () => {
    const { s, dev } = setup();
    storeRoot(s, CERT);
    s.expectWrite(`AT+KPRIVKSTORE=1,${KEY.length}\r`).respond('\r\nCONNECT\r\n');
    s.expectWrite(KEY);
    s.expectWrite('+++').respond(OK);
    s.expectWrite('AT+KCERTDELETE=1,0\r').respond(OK);
    expect(dev.holdsStored('root', undefined, CERT)).toBe(false);
    await dev.storeCert('root', CERT);
    await dev.storeKey(1, KEY);
    await dev.deleteCert('local', 0);
    expect(dev.holdsStored('root', undefined, CERT)).toBe(true);
    expect(dev.holdsStored('root', undefined, OTHER)).toBe(false);
    expect(dev.holdsStored('key', 1, KEY)).toBe(true);
    expect(dev.holdsStored('key', 0, KEY)).toBe(false);
    expect(dev.knownEmpty('local', 0)).toBe(true);
    expect(dev.knownEmpty('local', 1)).toBe(false);
    expect(dev.knownEmpty('root')).toBe(false);
    s.assertDone();
  });

  test('a refused upload, an upload with another NbData and a refused delete leave their slot unknown', async () => {
    const { s, dev } = setup();
    s.expectWrite('AT+KCERTDELETE=0\r').respond(OK);
    storeRoot(s, CERT, '\r\nERROR\r\n');
    await dev.deleteCert('root');
    expect(dev.knownEmpty('root')).toBe(true);
    await rejection(dev.storeCert('root', CERT));
    expect(dev.knownEmpty('root')).toBe(false);
    expect(dev.holdsStored('root', undefined, CERT)).toBe(false);
    s.expectWrite('AT+KCERTSTORE=1,,2\r').respond('\r\nCONNECT\r\n');
    s.expectWrite(CERT);
    s.expectWrite('+++').respond(OK);
    await dev.storeCert('local', CERT, { index: 2, nbData: 'omit' });
    expect(dev.holdsStored('local', 2, CERT)).toBe(false);
    s.expectWrite('AT+KPRIVKDELETE=2\r').respond('\r\n+CME ERROR: 904\r\n');
    await rejection(dev.deleteKey(2));
    expect(dev.knownEmpty('key', 2)).toBe(false);
    s.assertDone();
  });

  test('a raw store or delete through dev.at, a restart and an unsolicited READY make the driver forget', async () => {
    const { s, dev } = setup();
    storeRoot(s, CERT);
    s.expectWrite(`AT+KPRIVKSTORE=0,${KEY.length}\r`).respond('\r\nCONNECT\r\n');
    s.expectWrite(KEY);
    s.expectWrite('+++').respond(OK);
    await dev.storeCert('root', CERT);
    await dev.storeKey(0, KEY);
    // A read changes nothing.
    s.expectWrite('AT+KCERTSTORE?\r').respond(OK);
    await dev.at.command('AT+KCERTSTORE?');
    expect(dev.holdsStored('root', undefined, CERT)).toBe(true);
    // A raw delete of the root, refused or not, is a doubt about the root only.
    s.expectWrite('AT+KCERTDELETE=0\r').respond('\r\nERROR\r\n');
    await rejection(dev.at.command('AT+KCERTDELETE=0'));
    expect(dev.holdsStored('root', undefined, CERT)).toBe(false);
    expect(dev.holdsStored('key', 0, KEY)).toBe(true);
    // A store whose slot cannot be told forgets every slot.
    s.expectWrite('AT+KCERTSTORE=1,100\r').respond('\r\n+CME ERROR: 917\r\n');
    await rejection(dev.at.command('AT+KCERTSTORE=1,100'));
    expect(dev.holdsStored('key', 0, KEY)).toBe(false);
    // An unsolicited READY (the module restarted) forgets too.
    storeRoot(s, CERT);
    await dev.storeCert('root', CERT);
    expect(dev.holdsStored('root', undefined, CERT)).toBe(true);
    s.emitData('\r\nREADY\r\n');
    await pollUntil(() => !dev.holdsStored('root', undefined, CERT), {
      timeoutMs: 2_000,
      intervalMs: 5,
      what: 'the ledger forgetting',
    });
    // And AT+RST.
    storeRoot(s, CERT);
    await dev.storeCert('root', CERT);
    s.expectWrite('AT+RST\r').respond('\r\nOK\r\n\r\nREADY\r\n');
    await dev.reset();
    expect(dev.holdsStored('root', undefined, CERT)).toBe(false);
    s.assertDone();
  });

  test('StoreLedger.touch names the slot of every store and delete form, and forgets all when it cannot', () => {
    const l = new StoreLedger();
    const b = Buffer.from('x');
    const all = () => {
      l.stored('root', b);
      for (const i of [0, 1, 2]) {
        l.stored(`local:${i}`, b);
        l.stored(`key:${i}`, b);
      }
    };
    const known = () =>
      (['root', 'local:0', 'local:1', 'local:2', 'key:0', 'key:1', 'key:2'] as const).filter((x) => l.holds(x, b));
    for (const [cmd, gone] of [
      ['AT+KCERTSTORE=0,100', ['root']],
      ['at+kcertstore=0', ['root']],
      ['AT+KCERTSTORE=1,100,2', ['local:2']],
      ['AT+KCERTSTORE=1,,1', ['local:1']],
      ['AT+KCERTDELETE=1,0', ['local:0']],
      ['AT+KCERTDELETE=0', ['root']],
      ['AT+KPRIVKSTORE=2,300', ['key:2']],
      ['AT+KPRIVKDELETE=1', ['key:1']],
      ['AT+KCERTSTORE?', []],
      ['AT+KCERTSTORE=?', []],
      ['AT+KMQTTCFG=0,1,"h",8883', []],
    ] as const) {
      all();
      l.touch(cmd);
      expect(known(), cmd).toEqual(known().filter((x) => !(gone as readonly string[]).includes(x)));
      expect(known().length, cmd).toBe(7 - gone.length);
    }
    for (const cmd of ['AT+KCERTSTORE=1,100', 'AT+KCERTDELETE=1', 'AT+KPRIVKDELETE=x', 'AT+RST', 'AT&F']) {
      all();
      l.touch(cmd);
      expect(known(), cmd).toEqual([]);
    }
  });
});

describe('the upload guard', () => {
  test('setGuardTime changes it; on a serial line the drain time of the bytes is added before +++', async () => {
    vi.useFakeTimers();
    const s = scriptedLink({ uri: 'serial:/dev/ttyX?baud=10000' }); // 1 byte per ms at 10 bits a byte
    const dev = new Bx310x(s.link, { ...FAST });
    cleanups.push(() => dev.close());
    dev.setGuardTime(100);
    expect(dev.guardTimeMs).toBe(100);
    expect(() => dev.setGuardTime(-1)).toThrow(/guardTimeMs/);
    s.expectWrite(`AT+KCERTSTORE=0,${CERT.length}\r`).respond('\r\nCONNECT\r\n');
    s.expectWrite(CERT);
    s.expectWrite('+++').respond(OK);
    const done = tracked(dev.storeCert('root', CERT));
    await vi.advanceTimersByTimeAsync(100 + CERT.length - 5);
    expect(s.written().toString('latin1')).not.toContain('+++');
    await vi.advanceTimersByTimeAsync(10);
    expect(s.written().toString('latin1')).toContain('+++');
    await vi.advanceTimersByTimeAsync(200);
    expect(done.settled()).toBe(true);
    await done.promise;
  });
});
