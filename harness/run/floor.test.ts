/**
 * The physical floor on synthetic evidence: each part of the model (docs/report.md "Physical
 * floor") checked on its own with a timing whose one field is non-zero, then all together.
 */
import { describe, expect, test } from 'vitest';
import type { EvidenceEvent } from '../evidence.ts';
import { issueCertificate, KeyPool } from '../pki/index.ts';
import { INSTANT_TIMING, parseTiming, type Timing } from '../timing.ts';
import { computeFloor, OBSERVED_WAIT_EVENT, SERVER_CHAIN_EVENT, verifyKindsOf } from './floor.ts';

let t = 0;
function ev(
  source: EvidenceEvent['source'],
  kind: string,
  summary: string,
  data?: Record<string, unknown>,
): EvidenceEvent {
  return { t: t++, wall: '', source, kind, summary, ...(data ? { data } : {}) };
}
const cmd = (s: string) => ev('at', 'command', s);
const final = (s: string) => ev('at', 'final', s);
const urc = (s: string) => ev('at', 'urc', s);
const timing = (o: object): Timing => parseTiming(o, 'timing', INSTANT_TIMING);

/** An upload as the engine records it: command, CONNECT, the bytes, OK. */
function upload(command: string, bytes: number): EvidenceEvent[] {
  return [cmd(command), final('CONNECT'), ev('at', 'data', `${bytes} bytes`, { bytes }), final('OK')];
}

describe('computeFloor', () => {
  test('the instant module has a floor of 0 whatever the transcript', () => {
    const f = computeFloor({
      events: [cmd('AT'), final('OK'), ...upload('AT+KCERTSTORE=0,900', 900)],
      timing: INSTANT_TIMING,
      uploadGuardMs: 0,
    });
    expect(f.floorMs).toBe(0);
    expect(f.bytes).toEqual({ tx: 3 + 20 + 903, rx: 4 + 9 + 4 });
  });

  test('line time counts both directions at bitsPerByte / baud: 1152 bytes at 115200 8N1 is 100 ms', () => {
    const line = timing({ line: { baudRate: 115_200, bitsPerByte: 10 } });
    // "AT+CGMR\r" (8) + "2.6.3\r\n" (7) + "OK\r\n" (4) = 19 bytes; 1152 bytes = 100 ms.
    const f = computeFloor({
      events: [cmd('AT+CGMR'), ev('at', 'line', '2.6.3'), final('OK')],
      timing: line,
      uploadGuardMs: 0,
    });
    expect(f.bytes).toEqual({ tx: 8, rx: 11 });
    expect(f.parts.line).toBeCloseTo((19 * 10 * 1000) / 115_200, 1);
    const big = computeFloor({ events: upload('AT+KCERTSTORE=0,1114', 1114), timing: line, uploadGuardMs: 0 });
    // 21 + 1114 + 3 tx, 9 + 4 rx = 1151 bytes
    expect(big.bytes.tx + big.bytes.rx).toBe(1151);
    expect(big.parts.line).toBeCloseTo(99.9, 1);
  });

  test('flash: one write per store that ended OK (per item + per kB) and one per delete that ended OK; refused ones cost nothing', () => {
    const flash = timing({ flash: { perItemMs: 100, perKbMs: 50 } });
    const events = [
      ...upload('AT+KCERTSTORE=0,2048', 2048), // 100 + 100
      ...upload('AT+KPRIVKSTORE=0,1024', 1024), // 100 + 50
      cmd('AT+KCERTSTORE=0,3001'),
      final('+CME ERROR: 916'), // refused before data: nothing written
      cmd('AT+KCERTSTORE=0,500'),
      final('CONNECT'),
      ev('at', 'data', '500 bytes', { bytes: 500 }),
      final('ERROR'), // refused after its data: nothing written
      cmd('AT+KCERTDELETE=0'),
      final('OK'), // 100
      cmd('AT+KPRIVKDELETE=0'),
      final('+CME ERROR: 904'),
      cmd('AT+KCERTSTORE?'),
      final('OK'), // a read writes nothing
    ];
    expect(computeFloor({ events, timing: flash, uploadGuardMs: 0 }).parts.flash).toBe(450);
  });

  test('the guard time is counted twice per upload (before and after +++), from the profile, not the harness', () => {
    const events = [...upload('AT+KCERTSTORE=0,10', 10), ...upload('AT+KPRIVKSTORE=0,10', 10)];
    const f = computeFloor({ events, timing: INSTANT_TIMING, uploadGuardMs: 50 });
    expect(f.parts.guard).toBe(200);
    expect(f.floorMs).toBe(200);
  });

  test('boot per READY, CONNACK per +KMQTT_IND: <id>,1, publish per AT+KMQTTPUB that ended OK, join per +SRWSTASTATUS: 1', () => {
    const m = timing({ bootMs: 1000, mqtt: { connackMs: 30, publishMs: 7 }, wifi: { joinMs: 2000 } });
    const events = [
      cmd('AT+RST'),
      final('OK'),
      ev('at', 'reset', 'READY: the module (re)started'),
      cmd('AT+KMQTTCNX=1'),
      final('OK'),
      urc('+KMQTT_IND: 1,1'),
      urc('+KMQTT_IND: 1,0'), // a loss is not a CONNACK
      cmd('AT+KMQTTPUB=1,"a",0,0,"x"'),
      final('OK'),
      cmd('AT+KMQTTPUB=2,"a",0,0,"x"'),
      final('+CME ERROR: 910'),
      urc('+SRWSTASTATUS: 0,200'), // a loss is not a join
      urc('+SRWSTASTATUS: 1,"lab"'),
    ];
    const f = computeFloor({ events, timing: m, uploadGuardMs: 0 });
    expect(f.parts).toMatchObject({ boot: 1000, connack: 30, publish: 7, wifi: 2000 });
    expect(f.floorMs).toBe(3037);
  });

  test('TLS: key exchange + one verify per served certificate by its signer kind + the signature when a client certificate was presented', () => {
    const tls = timing({
      tls: {
        keyExchangeMs: 300,
        verifyPerCertMs: { rsa2048: 40, rsa4096: 150, ecP256: 90 },
        signMs: { rsa2048: 600, rsa4096: 4000, ecP256: 200 },
      },
    });
    const chain = ev('suite', SERVER_CHAIN_EVENT, 'server chain', { verifyKinds: ['rsa4096', 'ecP256'] });
    const mutual = ev('tls', 'tls-outcome', 'handshake done', { tls: { peerCert: { subject: 'CN=dev' } } });
    const serverOnly = ev('tls', 'tls-outcome', 'handshake done', { tls: {} });
    const refused = ev('tls', 'alert', 'alert bad_certificate from the device');
    const rigRefused = ev('tls', 'alert', 'alert handshake_failure from the rig');
    expect(
      computeFloor({ events: [chain, mutual], timing: tls, uploadGuardMs: 0, clientKeyKind: 'rsa2048' }).parts.tls,
    ).toBe(300 + 240 + 600);
    // Unknown client key kind: the cheapest signature (a floor stays a lower bound).
    expect(computeFloor({ events: [chain, mutual], timing: tls, uploadGuardMs: 0 }).parts.tls).toBe(300 + 240 + 200);
    expect(computeFloor({ events: [chain, serverOnly], timing: tls, uploadGuardMs: 0 }).parts.tls).toBe(540);
    expect(computeFloor({ events: [chain, refused], timing: tls, uploadGuardMs: 0 }).parts.tls).toBe(240);
    expect(computeFloor({ events: [chain, rigRefused], timing: tls, uploadGuardMs: 0 }).parts.tls).toBe(0);
  });

  test('waits the test exists to observe add up', () => {
    const events = [
      ev('suite', OBSERVED_WAIT_EVENT, 'no message within 500 ms', { ms: 500 }),
      ev('suite', OBSERVED_WAIT_EVENT, 'the handshake timeout', { ms: 10_000 }),
    ];
    expect(computeFloor({ events, timing: INSTANT_TIMING, uploadGuardMs: 0 }).parts.observed).toBe(10_500);
  });
});

describe('verifyKindsOf', () => {
  test('the leaf key, then one kind per served certificate by the signer found in the chain or among the anchors; a root sent along and an unknown signer count nothing', async () => {
    const pool = new KeyPool();
    const rsaRoot = await issueCertificate({
      subject: 'CN=root',
      key: await pool.get({ type: 'rsa', bits: 2048 }, 'r'),
      isCa: true,
    });
    const ecInter = await issueCertificate({
      subject: 'CN=inter',
      key: await pool.get({ type: 'ec', curve: 'P-256' }, 'i'),
      issuer: rsaRoot,
      isCa: true,
    });
    const leaf = await issueCertificate({
      subject: 'CN=leaf',
      key: await pool.get({ type: 'ec', curve: 'P-256' }, 'l'),
      issuer: ecInter,
    });
    // The leaf's own key (its signature over the key exchange), then each signer up the chain.
    expect(verifyKindsOf(leaf.certPem + ecInter.certPem, [rsaRoot.certPem])).toEqual(['ecP256', 'ecP256', 'rsa2048']);
    expect(verifyKindsOf(leaf.certPem + ecInter.certPem + rsaRoot.certPem, [])).toEqual([
      'ecP256',
      'ecP256',
      'rsa2048',
    ]);
    expect(verifyKindsOf(leaf.certPem, [rsaRoot.certPem])).toEqual(['ecP256']);
    expect(verifyKindsOf('not a certificate', [])).toEqual([]);
  });
});
