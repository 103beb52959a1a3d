/**
 * The shared connect/refuse case table, run against the aedes rig (rig.test.ts) and the
 * Mosquitto adapter (mosquitto.test.ts) with REAL clients: openssl s_client, mosquitto_pub and
 * mqtt.js. Each case names the verdict it must produce; where Mosquitto's log cannot tell two
 * causes apart the case says which code Mosquitto gives instead, and why.
 *
 * Glossary: "device" = the client under test (here a real client tool standing in for the
 * module); "rig" = the broker under test with its front door; "verdict" = the rig's conclusion.
 */
import net from 'node:net';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBasicPki, issueCertificate, KeyPool, type BasicPki } from '../pki/index.ts';
import type { BrokerRig, VerdictCode } from './types.ts';
import { connectBytes, hasTool, killAllClients, mosquittoTlsArgs, runClient, tempFiles } from './testing.ts';

export interface CaseMaterial {
  pki: BasicPki;
  /** A client certificate from a CA the rig does not trust. */
  foreignClient: BasicPki['client'];
  /** The rig's client CN, but expired yesterday. */
  expiredClient: BasicPki['client'];
  /** A CA the device trusts instead of the rig's (so it rejects the server certificate). */
  otherCa: BasicPki['ca'];
}

export async function caseMaterial(): Promise<CaseMaterial> {
  const pool = new KeyPool();
  const pki = await createBasicPki({ pool });
  const other = await createBasicPki({ pool: new KeyPool(), clientCn: 'foreign-device' });
  const now = new Date();
  const expiredClient = await issueCertificate({
    subject: 'CN=bx-hil-device',
    key: pki.client.key,
    issuer: pki.ca,
    notBefore: new Date(now.getTime() - 30 * 86_400_000),
    notAfter: new Date(now.getTime() - 86_400_000),
    extendedKeyUsage: ['clientAuth'],
  });
  return { pki, foreignClient: other.client, expiredClient, otherCa: other.ca };
}

const OPENSSL = hasTool('openssl');
const MOSQ_PUB = hasTool('mosquitto_pub');

/** The codes a case must produce, per rig kind. */
interface Case {
  name: string;
  tool: 'openssl' | 'mosquitto_pub' | 'mqtt.js' | 'raw';
  expect: VerdictCode;
  /** What the Mosquitto adapter gives instead, with the reason (its log is coarser). */
  mosquitto?: { code: VerdictCode; why: string };
  run(ctx: { rig: BrokerRig; files: ReturnType<typeof tempFiles> }): Promise<unknown>;
  /** Words the verdict summary must contain (e.g. the alert name). */
  summaryHas?: string;
  /** Extra checks on the recorded ClientHello (aedes rig only: Mosquitto's log has none). */
  hello?: (rig: BrokerRig) => void;
}

const sclient = (port: number, extra: string[], input?: Buffer): Promise<unknown> =>
  runClient('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...extra], {
    input: input ?? '',
    holdStdinMs: 1500,
    timeoutMs: 8000,
  });

export const CASES: Case[] = [
  {
    name: 'mqtt.js with a valid client certificate',
    tool: 'mqtt.js',
    expect: 'OK',
    async run({ rig }) {
      const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${rig.port}`, {
        ca: rig.pki.ca.certPem,
        cert: rig.pki.client?.certPem,
        key: rig.pki.client?.keyPem,
        servername: 'localhost',
        clientId: 'case-mqttjs',
        reconnectPeriod: 0,
        connectTimeout: 5000,
      });
      await c.endAsync();
    },
  },
  {
    name: 'mosquitto_pub with a valid client certificate',
    tool: 'mosquitto_pub',
    expect: 'OK',
    run: ({ rig, files }) =>
      runClient(
        'mosquitto_pub',
        [...mosquittoTlsArgs(rig.port, files), '-t', 'case/a', '-m', 'x', '-i', 'case-pub', '-q', '1'],
        { timeoutMs: 8000 },
      ),
  },
  {
    name: 's_client without a client certificate',
    tool: 'openssl',
    expect: 'NO_CLIENT_CERT',
    run: ({ rig, files }) =>
      sclient(rig.port, ['-CAfile', files.path('ca.pem'), '-servername', 'foo.example'], connectBytes('nocert')),
    hello: (rig) => expect(rig.records.at(-1)?.clientHello?.sni).toBe('foo.example'),
  },
  {
    name: 's_client with a certificate from an untrusted CA',
    tool: 'openssl',
    expect: 'CLIENT_CERT_UNTRUSTED',
    run: ({ rig, files }) =>
      sclient(
        rig.port,
        ['-CAfile', files.path('ca.pem'), '-cert', files.path('foreign.pem'), '-key', files.path('foreign.key')],
        connectBytes('foreign'),
      ),
  },
  {
    name: 's_client with an expired client certificate',
    tool: 'openssl',
    expect: 'CLIENT_CERT_EXPIRED',
    mosquitto: {
      code: 'CLIENT_CERT_UNTRUSTED',
      why: "Mosquitto logs only 'certificate verify failed', not which check failed",
    },
    run: ({ rig, files }) =>
      sclient(
        rig.port,
        ['-CAfile', files.path('ca.pem'), '-cert', files.path('expired.pem'), '-key', files.path('client.key')],
        connectBytes('expired'),
      ),
  },
  {
    name: 's_client offering TLS 1.1 only',
    tool: 'openssl',
    expect: 'TLS_VERSION_MISMATCH',
    // Debian's OpenSSL refuses TLS 1.1 at SECLEVEL >= 1 on the client (brief note).
    run: ({ rig, files }) =>
      sclient(rig.port, ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0', '-CAfile', files.path('ca.pem')]),
    hello: (rig) => expect(rig.records.at(-1)?.clientHello?.supportedVersions).toEqual(['TLS1.1']),
  },
  {
    name: 's_client with a single cipher the EC server key cannot use',
    tool: 'openssl',
    expect: 'NO_SHARED_CIPHER',
    run: ({ rig, files }) =>
      sclient(rig.port, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256', '-CAfile', files.path('ca.pem')]),
    hello: (rig) =>
      expect(rig.records.at(-1)?.clientHello?.cipherSuites.filter((c) => !c.endsWith('SCSV'))).toEqual([
        'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
      ]),
  },
  {
    name: 's_client that trusts another CA (rejects the server certificate)',
    tool: 'openssl',
    expect: 'DEVICE_REJECTED_SERVER_CERT',
    summaryHas: 'unknown_ca',
    run: ({ rig, files }) =>
      sclient(rig.port, [
        '-tls1_2',
        '-CAfile',
        files.path('other-ca.pem'),
        '-verify_return_error',
        '-cert',
        files.path('client.pem'),
        '-key',
        files.path('client.key'),
      ]),
  },
  {
    name: 'plain MQTT CONNECT on the TLS port',
    tool: 'raw',
    expect: 'PLAINTEXT_ON_TLS_PORT',
    run: ({ rig }) =>
      new Promise<void>((resolve) => {
        const s = net.connect(rig.port, '127.0.0.1', () => s.write(connectBytes('plain')));
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        setTimeout(() => s.destroy(), 3000).unref();
      }),
  },
];

/**
 * Define the case tests against a rig made by `start` (called once, in beforeAll).
 * `kind` selects the Mosquitto expectations.
 */
export function defineConnectCases(
  title: string,
  start: (m: CaseMaterial) => Promise<BrokerRig>,
  kind: 'aedes' | 'mosquitto',
): void {
  describe(title, () => {
    let rig: BrokerRig;
    let files: ReturnType<typeof tempFiles>;
    beforeAll(async () => {
      const m = await caseMaterial();
      rig = await start(m);
      files = tempFiles({
        'ca.pem': m.pki.ca.certPem,
        'client.pem': m.pki.client.certPem,
        'client.key': m.pki.client.keyPem,
        'foreign.pem': m.foreignClient.certPem,
        'foreign.key': m.foreignClient.keyPem,
        'expired.pem': m.expiredClient.certPem,
        'other-ca.pem': m.otherCa.certPem,
      });
    });
    afterAll(async () => {
      killAllClients();
      await rig?.close();
      files?.remove();
    });
    for (const c of CASES) {
      const needs = c.tool === 'openssl' ? OPENSSL : c.tool === 'mosquitto_pub' ? MOSQ_PUB : true;
      const code = kind === 'mosquitto' && c.mosquitto ? c.mosquitto.code : c.expect;
      const why = kind === 'mosquitto' && c.mosquitto ? ` (${c.mosquitto.why})` : '';
      test.skipIf(!needs)(
        `${c.name} -> ${code}${why}${needs ? '' : ` [skipped: ${c.tool} not installed]`}`,
        async () => {
          const before = rig.verdicts.length;
          const done = c.run({ rig, files });
          const v = await rig.waitForVerdict((x) => rig.verdicts.indexOf(x) >= before, 10_000);
          await done;
          expect(v.code, `${v.summary}\n${v.evidence.join('\n')}`).toBe(code);
          expect(v.evidence.length).toBeGreaterThan(0);
          expect(v.fix.length).toBeGreaterThan(0);
          if (c.summaryHas) expect(v.summary).toContain(c.summaryHas);
          if (kind === 'aedes') c.hello?.(rig);
        },
      );
    }
  });
}
