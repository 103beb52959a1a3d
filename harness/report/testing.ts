/**
 * The report area's test helpers (imported only by tests and bench/, never by production code;
 * harness/layering.test.ts checks it): synthetic but realistic runs and evidence bundles, like
 * labgrid's fake drivers (docs/STYLE.md §14), for the report's own tests, the docs' screenshots and
 * other areas' tests that need a results file. The events follow the conventions
 * of timeline.ts (what a real run's broker and AT layers emit) and the verdict codes read like
 * the diagnoser's.
 *
 * `sampleRun('2.6.2')` is a clean baseline; `sampleRun('2.6.3')` has a security failure (S3: the
 * module accepts an expired server certificate), a regression (keep-alive), a known issue that
 * still fails (SEC1 EC key upload), one that looks fixed (will message) and a skip.
 */
import { join } from 'node:path';
import type { EvidenceEvent, EvidenceSource } from '../evidence.ts';
import { writeEvidenceBundle } from './bundle.ts';
import type { KnownIssue, Outcome, RunResults, TestResult, VerdictSummary } from './types.ts';

interface SampleTest {
  suite: string;
  title: string;
  scenario?: string;
  /** Outcome per firmware; missing firmware = pass. */
  outcomes?: Record<string, Outcome>;
  /** Firmware on which the test does not exist (removed/new tests). */
  onlyOn?: string;
  verdict?: Record<string, VerdictSummary>;
  security?: string[];
  knownIssue?: Omit<KnownIssue, 'test'>;
  skipReason?: string;
  handshake?: 'ok' | 'refused' | 'no-client-cert';
  /** Alert the module sends when it refuses the server (handshake 'refused'). */
  alert?: string;
  /** The server presents an expired certificate (S3). */
  expiredCert?: boolean;
}

const OK: VerdictSummary = { code: 'OK', summary: 'connected and exchanged MQTT traffic as expected' };

const TESTS: SampleTest[] = [
  {
    suite: 'cert-upload',
    title: 'root slot stores and reads back a PEM certificate (LF)',
    scenario: 'BX-T KCERTSTORE_0001',
  },
  {
    suite: 'cert-upload',
    title: 'root slot stores and reads back a PEM certificate (CRLF)',
    scenario: 'BX-T KCERTSTORE_0001',
  },
  { suite: 'cert-upload', title: 'key slot accepts a PKCS#1 RSA key', scenario: 'BX-T KPRIVKSTORE_0001' },
  {
    suite: 'cert-upload',
    title: 'key slot accepts a SEC1 EC key',
    scenario: 'BX-T KPRIVKSTORE_0001',
    outcomes: { '2.6.2': 'expected-fail', '2.6.3': 'expected-fail' },
    knownIssue: {
      reason: 'EC keys in SEC1 form are refused with +CME ERROR: 930',
      source: 'field-report-2.6.3 §2',
      expects: { code: 'BXHIL_CME', cme: 930 },
    },
    verdict: {
      '*': {
        code: 'UPLOAD_REJECTED',
        summary: 'the module answered +CME ERROR: 930 to a valid SEC1 EC key',
        fix: 'convert the key to PKCS#8 (openssl pkcs8 -topk8 -nocrypt)',
      },
    },
  },
  { suite: 'cert-upload', title: 'an upload over 3000 bytes is refused', scenario: 'BX-T KCERTSTORE_0003' },
  {
    suite: 'tls-handshake',
    title: 'S1 valid chain, correct name',
    scenario: 'S1',
    handshake: 'ok',
    verdict: { '*': OK },
  },
  {
    suite: 'tls-handshake',
    title: 'S3 expired server certificate',
    scenario: 'S3',
    outcomes: { '2.6.3': 'fail' },
    security: ['2.6.3'],
    handshake: 'refused',
    alert: 'certificate_expired',
    expiredCert: true,
    verdict: {
      '2.6.2': {
        code: 'DEVICE_REJECTED_SERVER_CERT',
        summary: 'the module refused the expired server certificate (alert certificate_expired)',
      },
      '2.6.3': {
        code: 'DEVICE_ACCEPTED_EXPIRED_SERVER_CERT',
        summary:
          'the module completed the handshake with a server whose certificate expired 2 days ago and sent CONNECT',
        fix: 'firmware must check notAfter against its clock; check the module has the time (AT+CCLK?) and report to Sierra Wireless',
        evidence: [
          'tls: handshake completed with expired leaf',
          'mqtt: CONNECT from the module',
          'at: +KMQTT_IND: 1,1',
        ],
      },
    },
  },
  {
    suite: 'tls-handshake',
    title: 'S5 wrong hostname',
    scenario: 'S5',
    handshake: 'refused',
    alert: 'bad_certificate',
    verdict: {
      '*': {
        code: 'DEVICE_REJECTED_SERVER_CERT',
        summary: 'the module refused a certificate for another name (alert bad_certificate)',
      },
    },
  },
  {
    suite: 'tls-handshake',
    title: 'S9 untrusted root',
    scenario: 'S9',
    handshake: 'refused',
    alert: 'unknown_ca',
    verdict: {
      '*': {
        code: 'DEVICE_REJECTED_SERVER_CERT',
        summary: 'the module refused a chain to an unknown CA (alert unknown_ca)',
      },
    },
  },
  {
    suite: 'tls-handshake',
    title: 'S20 mTLS, module sends no client certificate',
    scenario: 'S20',
    handshake: 'no-client-cert',
    verdict: {
      '*': {
        code: 'NO_CLIENT_CERT',
        summary: 'the broker refused the module: it sent no client certificate; the module reported +KMQTT_IND: 1,0',
      },
    },
  },
  {
    suite: 'tls-handshake',
    title: 'S17 TLS 1.3 only',
    scenario: 'S17',
    outcomes: { '2.6.2': 'skip', '2.6.3': 'skip' },
    skipReason: 'firmware profile: tls13 not supported (source: [BX-T])',
  },
  {
    suite: 'mqtt',
    title: 'QoS 1 publish is delivered to a subscriber',
    scenario: 'HL-Z KMQTT_IND 4',
    handshake: 'ok',
    verdict: { '*': OK },
  },
  {
    suite: 'mqtt',
    title: 'will message on an unexpected loss',
    scenario: 'BX-T KMQTTCFG_0002',
    outcomes: { '2.6.2': 'expected-fail', '2.6.3': 'fixed' },
    knownIssue: {
      reason: 'will message not sent when Wi-Fi drops',
      source: 'field-report-2.6.3 §4',
      expects: { message: 'no will message' },
    },
    handshake: 'ok',
  },
  {
    suite: 'mqtt',
    title: 'keep-alive PINGREQ within 1.5 x keepAlive',
    scenario: 'MQTT-3.1.2-24',
    outcomes: { '2.6.3': 'fail' },
    handshake: 'ok',
    verdict: {
      '2.6.3': {
        code: 'KEEPALIVE_MISSED',
        summary: 'no PINGREQ for 95 s with keepAlive 60 s: the broker closed the session',
        fix: 'firmware keep-alive timer stops after the first PUBLISH; report with this transcript',
      },
    },
  },
  { suite: 'robustness', title: 'reset during a certificate upload leaves the slot empty', scenario: 'robustness' },
  { suite: 'robustness', title: 'a flood of 500 URCs is parsed without loss', scenario: 'robustness', onlyOn: '2.6.3' },
  { suite: 'mqtt', title: 'QoS 2 exactly once', scenario: 'MQTT-4.3.3', onlyOn: '2.6.2' },
];

const KMQTT_IND_OK = '+KMQTT_IND: 1,1';

/** Builds the events of one test as module side + broker side on one clock. */
export function sampleEvents(
  test: Pick<SampleTest, 'handshake' | 'alert' | 'expiredCert'>,
  outcome: Outcome,
  securityFailure: boolean,
  t0 = 1000,
): EvidenceEvent[] {
  const events: EvidenceEvent[] = [];
  let t = t0;
  const add = (
    dt: number,
    source: EvidenceSource,
    kind: string,
    summary: string,
    data?: Record<string, unknown>,
  ): void => {
    t += dt;
    events.push({
      t,
      wall: new Date(Date.UTC(2026, 10, 28, 6, 0, 0) + t).toISOString(),
      source,
      kind,
      scope: 'dev0',
      summary,
      ...(data ? { data } : {}),
    });
  };
  if (!test.handshake) {
    add(0, 'at', 'command', 'AT+KCERTSTORE=0,1208');
    add(9.8, 'at', 'response', 'CONNECT');
    for (let i = 0; i < 3; i++) add(4.1, 'link', 'tx', `tx ${i < 2 ? 512 : 184} bytes (certificate data)`);
    add(1.0, 'link', 'tx', 'tx 3 bytes: +++');
    add(38.6, 'at', 'response', outcome === 'expected-fail' || outcome === 'fail' ? '+CME ERROR: 930' : 'OK');
    add(6.2, 'at', 'command', 'AT+KCERTSTORE?');
    add(21.4, 'at', 'response', 'root_cert,0,1208');
    add(0.3, 'at', 'response', 'OK');
    return events;
  }
  add(0, 'at', 'command', 'AT+KMQTTCFG=1,"localhost",8883,4,"bx-dut",60,1,0,,,0,0,"user","[REDACTED]"');
  add(1.2, 'link', 'tx', 'tx 72 bytes');
  add(14.5, 'at', 'response', '+KMQTTCFG: 1');
  add(0.4, 'at', 'response', 'OK');
  add(3.1, 'at', 'command', 'AT+KMQTTCNX=1');
  add(12.8, 'at', 'response', 'OK');
  add(31.7, 'tls', 'connection', 'TCP connection from 127.0.0.1:50412', { remote: '127.0.0.1:50412' });
  add(2.3, 'tls', 'client-hello', 'ClientHello TLSv1.2 SNI=localhost, 12 cipher suites', {
    sni: 'localhost',
    versions: ['TLSv1.2'],
  });
  add(1.9, 'tls', 'server-hello', 'ServerHello TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
  const expired = test.expiredCert === true;
  add(
    0.6,
    'tls',
    'certificate',
    expired ? 'Certificate: CN=localhost, notAfter 2 days ago (EXPIRED)' : 'Certificate: CN=localhost, valid',
  );
  if (test.handshake === 'no-client-cert') {
    add(48.2, 'tls', 'alert', 'broker sent alert certificate_required: the module sent no client certificate', {
      from: 'server',
      description: 'certificate_required',
    });
    add(0.5, 'broker', 'rejected', 'handshake failed: peer did not return a certificate');
    add(88.1, 'at', 'urc', '+KMQTT_IND: 1,0');
    return events;
  }
  if (test.handshake === 'refused' && !securityFailure) {
    const desc = test.alert ?? 'bad_certificate';
    add(52.4, 'tls', 'alert', `module sent alert ${desc}`, { from: 'client', description: desc });
    add(0.3, 'broker', 'closed', 'connection closed by the module during the handshake');
    add(71.5, 'at', 'urc', '+KMQTT_IND: 1,0');
    return events;
  }
  add(
    47.9,
    'tls',
    'secure',
    expired ? 'handshake completed (the module accepted the expired certificate)' : 'handshake completed, TLSv1.2',
  );
  add(3.4, 'mqtt', 'packet', 'CONNECT clientId=bx-dut keepAlive=60 clean=1', { cmd: 'connect', dir: 'in' });
  add(0.8, 'mqtt', 'packet', 'CONNACK returnCode=0', { cmd: 'connack', dir: 'out' });
  add(21.6, 'at', 'urc', KMQTT_IND_OK);
  if (securityFailure) {
    add(0.5, 'diagnose', 'verdict', 'SECURITY FAILURE: the module connected to a server whose certificate expired');
    return events;
  }
  add(5.2, 'at', 'command', 'AT+KMQTTPUB=1,"bx/dut/tele",1,0,"hello"');
  add(9.3, 'mqtt', 'packet', 'PUBLISH bx/dut/tele qos=1 5 bytes', { cmd: 'publish', dir: 'in' });
  add(0.4, 'mqtt', 'packet', 'PUBACK', { cmd: 'puback', dir: 'out' });
  add(11.0, 'at', 'response', 'OK');
  add(2.2, 'at', 'urc', '+KMQTT_IND: 1,4');
  if (outcome === 'fail') {
    add(60_000, 'mqtt', 'packet', 'PINGREQ', { cmd: 'pingreq', dir: 'in' });
    add(0.3, 'mqtt', 'packet', 'PINGRESP', { cmd: 'pingresp', dir: 'out' });
    add(95_000, 'broker', 'keepalive-timeout', 'no packet from the module for 95 s (keepAlive 60 s): session closed');
    add(40.2, 'at', 'urc', '+KMQTT_IND: 1,0');
  }
  return events;
}

function transcriptOf(events: EvidenceEvent[]): string {
  return events
    .filter((e) => e.source === 'at')
    .map(
      (e) =>
        `${((e.t - events[0]!.t) / 1000).toFixed(3).padStart(8)} ${e.kind === 'command' ? '>' : '<'} ${e.summary}\r\n`,
    )
    .join('');
}

/** A results.json for one simulated firmware (`2.6.2` or `2.6.3`; others get the 2.6.3 set). */
export function sampleRun(firmware: string, options: { deviceId?: string } = {}): RunResults {
  const device = options.deviceId ?? `sim-${firmware}`;
  const tests: TestResult[] = [];
  for (const s of TESTS) {
    if (s.onlyOn && s.onlyOn !== firmware) continue;
    const outcome = s.outcomes?.[firmware] ?? 'pass';
    const status: TestResult['status'] =
      outcome === 'skip' ? 'skipped' : outcome === 'fail' || outcome === 'expected-fail' ? 'failed' : 'passed';
    const id = `${s.suite}/${s.title}`;
    const t: TestResult = {
      id,
      suite: s.suite,
      title: s.title,
      device,
      firmware,
      status,
      outcome,
      durationMs: 180 + ((id.length * 37) % 900) + (outcome === 'fail' ? 4000 : 0),
      attempts: 1,
      evidenceDir: `evidence/${device}/${id.replace(/[^A-Za-z0-9._-]+/g, '_')}`,
    };
    if (s.scenario) t.scenario = s.scenario;
    const verdict = s.verdict?.[firmware] ?? s.verdict?.['*'];
    if (verdict) t.verdict = verdict;
    if (s.security?.includes(firmware)) t.securityFailure = true;
    if (s.knownIssue && (outcome === 'expected-fail' || outcome === 'fixed'))
      t.knownIssue = { test: id, ...s.knownIssue };
    if (outcome === 'skip') t.skipReason = s.skipReason ?? 'not run';
    if (outcome === 'fail') t.error = `AssertionError: ${verdict?.summary ?? 'expected the module to behave'}`;
    tests.push(t);
  }
  return {
    schema: 'bx-hil/results@1',
    startedAt: '2026-11-28T06:00:00.000Z',
    finishedAt: '2026-11-28T06:03:12.000Z',
    harnessVersion: '0.1.0',
    devices: [{ id: device, uri: `sim:${firmware}`, firmware, model: 'BX3105 (virtual)' }],
    tests,
  };
}

/** Writes the evidence bundle of every test of `results` under `outDir` (what the fixtures do). */
export async function writeSampleBundles(outDir: string, results: RunResults): Promise<void> {
  for (const t of results.tests) {
    if (!t.evidenceDir || t.outcome === 'skip') continue;
    const spec = TESTS.find((s) => `${s.suite}/${s.title}` === t.id);
    const events = sampleEvents(spec ?? {}, t.outcome, t.securityFailure === true);
    await writeEvidenceBundle(join(outDir, t.evidenceDir), {
      events,
      transcriptText: transcriptOf(events),
      verdicts: t.verdict ? [t.verdict] : [],
      meta: { device: t.device, firmware: t.firmware, scenario: t.scenario ?? null },
    });
  }
}
