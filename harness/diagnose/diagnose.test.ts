/**
 * diagnose: broker records + module transcript -> one verdict per connection attempt.
 * Glossary: "device" = openssl s_client standing in for the module; "module events" = AT-layer
 * evidence on the same bus (what the AT engine emits); "rig" = the aedes broker rig.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EvidenceBus, type EvidenceEvent } from '../evidence.ts';
import { startBrokerRig, type BrokerRig } from '../broker/index.ts';
import { hasTool, killAllClients, runClient, tempFiles, connectBytes } from '../broker/testing.ts';
import { diagnose, diagnoseConnection, explainModuleLine, formatVerdict } from './diagnose.ts';

const OPENSSL = hasTool('openssl');

describe('diagnose', () => {
  let rig: BrokerRig;
  let bus: EvidenceBus;
  let files: ReturnType<typeof tempFiles>;
  beforeAll(async () => {
    bus = new EvidenceBus();
    rig = await startBrokerRig({ profile: 'strict', bus, connectTimeoutMs: 3000 });
    files = tempFiles({ 'ca.pem': rig.pki.ca.certPem });
  });
  afterAll(async () => {
    killAllClients();
    await rig.close();
    files.remove();
  });

  test.skipIf(!OPENSSL)(
    'TLS 1.3 refused client (no certificate) + module "+KMQTT_IND: 1,0" -> NO_CLIENT_CERT with both sides as evidence',
    async () => {
      const moduleEvents: EvidenceEvent[] = [];
      const off = bus.subscribe((e) => e.source === 'at' && moduleEvents.push(e));
      bus.emit({ source: 'at', kind: 'command', summary: 'AT+KMQTTCNX=1' });
      const done = runClient(
        'openssl',
        ['s_client', '-connect', `127.0.0.1:${rig.port}`, '-CAfile', files.path('ca.pem')],
        { input: connectBytes('dev'), holdStdinMs: 500, timeoutMs: 5000 },
      );
      const live = await rig.waitForVerdict(() => true, 8000);
      await done;
      bus.emit({ source: 'at', kind: 'urc', summary: '+KMQTT_IND: 1,0' });
      off();
      const record = rig.records.find((r) => r.id === live.connectionId)!;
      const v = diagnoseConnection(record, moduleEvents);
      expect(v.code).toBe('NO_CLIENT_CERT');
      expect(
        v.evidence.some(
          (l) => l.startsWith('module') && l.includes('+KMQTT_IND: 1,0') && l.includes('connection aborted'),
        ),
      ).toBe(true);
      expect(v.summary).toContain('TLS 1.3');
      expect(formatVerdict(v)).toMatch(/^conn-\d+ NO_CLIENT_CERT: /);
      expect(diagnose(rig.records, moduleEvents).map((x) => x.code)).toContain('NO_CLIENT_CERT');
    },
  );

  test('a good handshake, then the device hangs up without CONNECT: the module\'s "+KMQTT_IND: 1,0" turns HANDSHAKE_THEN_SILENT into DEVICE_REJECTED_SERVER_CERT', async () => {
    // A client that checks the server certificate after the handshake (as Node does) and
    // refuses it: it completes TLS 1.2, then closes without a word.
    const { connect } = await import('node:tls');
    const seen = rig.verdicts.length;
    const socket = connect({
      host: '127.0.0.1',
      port: rig.port,
      maxVersion: 'TLSv1.2',
      rejectUnauthorized: false,
      cert: rig.pki.client!.certPem,
      key: rig.pki.client!.keyPem,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
    socket.end();
    const live = await rig.waitForVerdict((v) => rig.verdicts.indexOf(v) >= seen, 8000);
    expect(live.code).toBe('HANDSHAKE_THEN_SILENT');
    const record = rig.records.find((r) => r.id === live.connectionId)!;
    const b = new EvidenceBus();
    const moduleEvents = [
      b.emit({ source: 'at', kind: 'urc', summary: '+KMQTT_IND: 1,0', t: record.end?.t ?? record.events.at(-1)!.t }),
    ];
    const v = diagnoseConnection(record, moduleEvents);
    expect(v.code).toBe('DEVICE_REJECTED_SERVER_CERT');
    expect(v.side).toBe('device');
    expect(v.summary).toContain('+KMQTT_IND: 1,0');
    expect(v.evidence.some((l) => l.startsWith('module') && l.includes('connection aborted'))).toBe(true);
    // Without the module's word the broker's evidence alone stays undecided.
    expect(diagnoseConnection(record, []).code).toBe('HANDSHAKE_THEN_SILENT');
  });

  test('the module tried but the broker saw nothing -> BROKER_NOT_REACHED', () => {
    const b = new EvidenceBus();
    const ev = [
      b.emit({ source: 'at', kind: 'command', summary: 'AT+KMQTTCNX=1' }),
      b.emit({ source: 'at', kind: 'urc', summary: '+KMQTT_IND: 1,0' }),
    ];
    const vs = diagnose([], ev);
    expect(vs.map((v) => v.code)).toEqual(['BROKER_NOT_REACHED']);
    expect(vs[0]!.evidence.join('\n')).toContain('connection aborted');
    expect(diagnose([], [])).toEqual([]);
  });

  test('a module line saying the key does not match turns an aborted handshake into KEY_MISMATCH', () => {
    const b = new EvidenceBus();
    const accept = b.emit({ source: 'broker', kind: 'accept', scope: 'conn-9', summary: 'TCP accept' });
    const record = {
      id: 'conn-9',
      remote: '127.0.0.1:1',
      events: [accept],
      listener: 'main' as const,
      firstBytes: 'tls' as const,
      mqtt: { packets: [] },
      faults: [],
      tls: { authorized: false, error: { code: 'ECONNRESET', message: 'socket hang up' } },
      end: { by: 'client' as const, reason: 'reset', t: accept.t + 5 },
    };
    expect(diagnoseConnection(record).code).toBe('HANDSHAKE_ABORTED');
    const line = b.emit({ source: 'sim', kind: 'tls', summary: 'client TLS setup failed: key values mismatch' });
    expect(diagnoseConnection(record, [line]).code).toBe('KEY_MISMATCH');
  });

  test('explainModuleLine names +KMQTT_IND codes', () => {
    expect(explainModuleLine('+KMQTT_IND: 1,0')).toContain('connection aborted');
    expect(explainModuleLine('+KMQTT_IND: 2,1')).toContain('connected');
    // All six codes of the driver's table, not a second copy of five.
    expect(explainModuleLine('+KMQTT_IND: 1,5')).toContain('generic error');
  });

  test("the AT engine's parsed URC (data.params) is what is read, not the summary text", () => {
    const b = new EvidenceBus();
    // The engine's event: the summary is the (redacted) line, data holds the parsed URC.
    const parsed = { name: '+KMQTT_IND', params: [3, 0] };
    expect(explainModuleLine('+KMQTT_IND: <redacted>', parsed)).toContain('session 3: MQTT connection aborted');
    const ev = [b.emit({ source: 'at', kind: 'urc', summary: '+KMQTT_IND: <redacted>', data: parsed })];
    const vs = diagnose([], ev);
    expect(vs.map((v) => v.code)).toEqual(['BROKER_NOT_REACHED']);
    expect(vs[0]!.evidence.join('\n')).toContain('connection aborted');
    // A +KMQTT_IND that is not an abort is no attempt that failed to reach the broker.
    expect(
      diagnose(
        [],
        [
          b.emit({
            source: 'at',
            kind: 'urc',
            summary: '+KMQTT_IND: 1,0',
            data: { name: '+KMQTT_IND', params: [1, 1] },
          }),
        ],
      ),
    ).toEqual([]);
  });
});
