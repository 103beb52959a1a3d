/**
 * The profiles' accept rules as a table: which rule refuses which ClientHello or certificate,
 * in order; then against the running rig, a refusal names its rule in the record and in the
 * evidence. Glossary: "device" = a Node TLS client; "rig" = startBrokerRig.
 */
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createBasicPki, type BasicPki } from '../pki/index.ts';
import { AWS_MQTT_ALPN, firstRefusal, handshakeRules, helloRules, type AcceptContext } from './accept-rules.ts';
import type { ClientHello } from './client-hello.ts';
import { startBrokerRig } from './rig.ts';
import type { AwsIotOptions, BrokerRig, BrokerRigOptions } from './types.ts';

const hello = (sni?: string, alpn?: string[]): ClientHello =>
  ({ sni, alpn, supportedVersions: ['TLSv1.3'], cipherSuites: [] }) as unknown as ClientHello;
const ctx = (aws: Partial<AcceptContext['aws']>, more: Partial<AcceptContext> = {}): AcceptContext => ({
  profile: 'aws-iot',
  aws: { sniMode: 'optional', unknownCertMode: 'close-after-connect', endpoint: 'localhost', ...aws },
  listener: 'main',
  hello: hello('localhost'),
  ...more,
});

describe('accept rules (a table)', () => {
  test('each rule has its own name, in a fixed order', () => {
    const names = [...helloRules, ...handshakeRules].map((r) => r.name);
    expect(names).toEqual(['alpn', 'sni-required', 'sni-match', 'registry-status']);
  });

  const EP = 'abc-ats.iot.eu-west-1.amazonaws.com';
  test.each([
    ['sniMode optional, no SNI', ctx({}, { hello: hello(undefined) }), undefined],
    ['sniMode required, SNI sent', ctx({ sniMode: 'required' }), undefined],
    [
      'sniMode required, no SNI',
      ctx({ sniMode: 'required' }, { hello: hello(undefined) }),
      'sni-required [DOC-OLD] T7',
    ],
    [
      'sniMode required, no ClientHello',
      ctx({ sniMode: 'required' }, { hello: undefined }),
      'sni-required [DOC-OLD] T7',
    ],
    ['sniMode match, the endpoint', ctx({ sniMode: 'match', endpoint: EP }, { hello: hello(EP) }), undefined],
    ['sniMode match, another name', ctx({ sniMode: 'match', endpoint: EP }), 'sni-match [DOC] T6'],
    [
      'sniMode match, no SNI',
      ctx({ sniMode: 'match', endpoint: EP }, { hello: hello(undefined) }),
      'sni-required [DOC] T6',
    ],
    ['ALPN port, no ALPN', ctx({}, { listener: 'alpn' }), 'alpn [DOC] T1/T2'],
    ['ALPN port, x-amzn-mqtt-ca', ctx({}, { listener: 'alpn', hello: hello('x', [AWS_MQTT_ALPN]) }), undefined],
    [
      'ALPN port, ALPN wins over SNI',
      ctx({ sniMode: 'required' }, { listener: 'alpn', hello: hello(undefined) }),
      'alpn [DOC] T1/T2',
    ],
    ['main port ignores ALPN', ctx({}, { hello: hello('localhost', ['mqtt']) }), undefined],
  ] as const)('ClientHello: %s', (_name, c, expected) => {
    const r = firstRefusal(helloRules, c);
    expect(r ? `${r.rule} ${r.source}` : undefined).toBe(expected);
    if (r) expect(r.at).toBe('front-door');
  });

  const registry: AwsIotOptions['registry'] = { 'AA:01': { status: 'ACTIVE' }, 'AA:02': { status: 'REVOKED' } };
  test.each([
    ['no registry', ctx({ unknownCertMode: 'handshake' }, { peerFingerprint: 'AA:09' }), undefined],
    ['registry, refused after CONNECT (the gate decides)', ctx({ registry }, { peerFingerprint: 'AA:09' }), undefined],
    ['registry, ACTIVE', ctx({ registry, unknownCertMode: 'handshake' }, { peerFingerprint: 'AA:01' }), undefined],
    [
      'registry, REVOKED',
      ctx({ registry, unknownCertMode: 'handshake' }, { peerFingerprint: 'AA:02' }),
      'certificate status is REVOKED',
    ],
    [
      'registry, unknown',
      ctx({ registry, unknownCertMode: 'handshake' }, { peerFingerprint: 'AA:09' }),
      'certificate is not registered',
    ],
    ['registry, no certificate', ctx({ registry, unknownCertMode: 'handshake' }), 'certificate is not registered'],
    [
      'strict profile',
      ctx({ registry, unknownCertMode: 'handshake' }, { profile: 'strict', peerFingerprint: 'AA:09' }),
      undefined,
    ],
  ] as const)('handshake: %s', (_name, c, expected) => {
    const r = firstRefusal(handshakeRules, c);
    expect(r?.reason).toBe(expected);
    if (r) expect(r).toMatchObject({ rule: 'registry-status', source: '[OBS] T18', at: 'handshake' });
  });
});

describe('a refusal names its rule in the evidence', () => {
  let pki: BasicPki;
  const rigs: BrokerRig[] = [];
  beforeAll(async () => {
    pki = await createBasicPki();
  });
  afterEach(async () => {
    for (const r of rigs.splice(0)) await r.close();
  });
  afterAll(async () => {
    for (const r of rigs.splice(0)) await r.close();
  });

  async function refusedBy(options: BrokerRigOptions, client: tls.ConnectionOptions): Promise<BrokerRig> {
    const rig = await startBrokerRig({ profile: 'aws-iot', pki, connectTimeoutMs: 4000, ...options });
    rigs.push(rig);
    const sock = tls.connect({
      host: '127.0.0.1',
      port: rig.port,
      ca: pki.ca.certPem,
      cert: pki.client.certPem,
      key: pki.client.keyPem,
      rejectUnauthorized: false,
      ...client,
    });
    sock.on('error', () => undefined);
    await rig.waitForVerdict(undefined, 10_000);
    sock.destroy();
    return rig;
  }

  test.each([
    ['sni-required', { aws: { sniMode: 'required' } }, {}, 'NO_SNI'],
    [
      'sni-match',
      { aws: { sniMode: 'match', endpoint: 'abc.example' } },
      { servername: 'wrong.example' },
      'SNI_MISMATCH',
    ],
    [
      'registry-status',
      { aws: { registry: {}, unknownCertMode: 'handshake' } },
      { servername: 'localhost' },
      'CLIENT_CERT_NOT_ACTIVE',
    ],
  ] as const)('%s: the record, a refusal event and the verdict name it', async (rule, options, client, code) => {
    const rig = await refusedBy(options as BrokerRigOptions, client);
    const rec = rig.records[0]!;
    expect(rig.verdicts[0]?.code).toBe(code);
    expect(rec.refusal?.rule).toBe(rule);
    const ev = rec.events.filter((e) => e.kind === 'refusal');
    expect(ev).toHaveLength(1);
    expect(ev[0]!.source).toBe('broker');
    expect(ev[0]!.summary).toMatch(new RegExp(`^rule ${rule} `));
    expect(ev[0]!.data?.['refusal']).toEqual(rec.refusal);
    // The refusal comes before the verdict it decides.
    const kinds = rec.events.map((e) => e.kind);
    expect(kinds.indexOf('refusal')).toBeLessThan(kinds.indexOf('verdict'));
  });
});
