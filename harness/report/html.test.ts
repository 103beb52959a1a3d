/**
 * The HTML report without a browser: files written, the page self-contained, the data embedded
 * safely, the model right (cells, security reasons, timelines, change marks), secrets kept out.
 * The browser half is report.chromium.test.ts.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { EvidenceEvent } from '../evidence.ts';
import { writeEvidenceBundle } from './bundle.ts';
import { buildReportModel, scriptSafeJson, securityReason } from './html.ts';
import type { ReportModel } from './html.ts';
import { sampleRun, writeSampleBundles } from './testing.ts';
import { buildTimeline, classifyEvent } from './timeline.ts';
import type { RunResults } from './types.ts';
import { writeReport } from './write.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bxhil-html-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function embedded(html: string): ReportModel {
  const m = /<script type="application\/json" id="bx-data">([\s\S]*?)<\/script>/.exec(html);
  expect(m).not.toBeNull();
  return JSON.parse(m![1]!) as ReportModel;
}

function ev(t: number, source: EvidenceEvent['source'], kind: string, data?: Record<string, unknown>): EvidenceEvent {
  return { t, wall: '2026-11-28T06:00:00.000Z', source, kind, summary: kind, ...(data ? { data } : {}) };
}

describe('classifyEvent / buildTimeline', () => {
  test.each([
    [ev(0, 'tls', 'client-hello'), 'broker', 'to-broker', 'ClientHello'],
    [ev(0, 'tls', 'server-hello'), 'broker', 'to-module', 'ServerHello'],
    [ev(0, 'tls', 'alert', { from: 'client', description: 'unknown_ca' }), 'broker', 'to-broker', 'Alert: unknown_ca'],
    [
      ev(0, 'tls', 'alert', { sent: true, description: 'certificate_required' }),
      'broker',
      'to-module',
      'Alert: certificate_required',
    ],
    [ev(0, 'mqtt', 'packet', { cmd: 'connect' }), 'broker', 'to-broker', 'CONNECT'],
    [ev(0, 'mqtt', 'connack'), 'broker', 'to-module', 'CONNACK'],
    [ev(0, 'mqtt', 'packet', { cmd: 'publish', dir: 'out' }), 'broker', 'to-module', 'PUBLISH'],
    [ev(0, 'mqtt', 'packet', { cmd: 'publish', dir: 'in' }), 'broker', 'to-broker', 'PUBLISH'],
    [ev(0, 'sim', 'tls-out', { dir: 'to-broker' }), 'module', 'to-broker', 'tls-out'],
    [
      { ...ev(0, 'mqtt', 'packet'), summary: 'device -> CONNECT v4 id="x" keepalive=60' },
      'broker',
      'to-broker',
      'CONNECT',
    ],
    [
      { ...ev(0, 'mqtt', 'packet'), summary: '-> device CONNACK rc=0 sessionPresent=false' },
      'broker',
      'to-module',
      'CONNACK',
    ],
    [{ ...ev(0, 'mqtt', 'packet'), summary: '-> device PUBLISH t/1 qos=1' }, 'broker', 'to-module', 'PUBLISH'],
    [
      { ...ev(0, 'tls', 'alert'), summary: 'alert handshake_failure from the rig' },
      'broker',
      'to-module',
      'Alert: handshake_failure',
    ],
    [
      { ...ev(0, 'tls', 'alert'), summary: 'alert unknown_ca from the device' },
      'broker',
      'to-broker',
      'Alert: unknown_ca',
    ],
    [{ ...ev(0, 'tls', 'tls-outcome'), summary: 'handshake done: TLSv1.2' }, 'broker', undefined, 'tls-outcome'],
    [ev(0, 'at', 'urc'), 'module', undefined, 'URC'],
    [ev(0, 'at', 'command'), 'module', undefined, 'command'],
    [ev(0, 'diagnose', 'verdict'), 'both', undefined, 'verdict'],
  ])('%j', (e, lane, arrow, label) => {
    const c = classifyEvent(e);
    expect([c.lane, c.arrow, c.label]).toEqual([lane, arrow, label]);
  });

  test('sorts by time (stable) and makes times relative to the first event', () => {
    const tl = buildTimeline([ev(105.25, 'at', 'b'), ev(100, 'tls', 'a'), ev(105.25, 'mqtt', 'c')]);
    expect(tl.map((e) => [e.dt, e.kind])).toEqual([
      [0, 'a'],
      [5.3, 'b'],
      [5.3, 'c'],
    ]);
  });
});

describe('securityReason', () => {
  test('from the scenario, else from the title, else the verdict', () => {
    expect(securityReason({ scenario: 'S3', title: 'x' })).toBe('expired server certificate');
    expect(securityReason({ scenario: 'custom', title: 'S99 weird server' })).toBe('weird server');
    expect(securityReason({ title: 'other', verdict: { code: 'X', summary: 'it connected' } })).toBe('it connected');
  });
});

describe('writeReport', () => {
  const cand = sampleRun('2.6.3');
  const base = sampleRun('2.6.2');
  let html: string;
  let model: ReportModel;

  beforeAll(async () => {
    await writeSampleBundles(dir, cand);
    const out = await writeReport(dir, cand, { baseline: base, title: 'Firmware 2.6.3 <nightly>' });
    expect(out).toEqual({ resultsPath: join(dir, 'results.json'), htmlPath: join(dir, 'index.html') });
    html = await readFile(out.htmlPath, 'utf8');
    model = embedded(html);
  });

  test('results.json is the RunResults as given', async () => {
    expect(JSON.parse(await readFile(join(dir, 'results.json'), 'utf8'))).toEqual(cand);
  });

  test('the page is self-contained: no external script, style, image or link', () => {
    expect(html).not.toMatch(/<script[^>]+src=/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/<img\b/i);
    expect(html).not.toMatch(/url\(\s*['"]?(?!data:)/i);
    expect(html).not.toMatch(/\b(?:src|href)=["']?(?:https?:)?\/\//i);
    expect(html).toContain("default-src 'none'");
    expect(html).toContain('<title>Firmware 2.6.3 &lt;nightly&gt;</title>');
  });

  test('one row per test id (both runs), one column per run x device, cells with outcomes', () => {
    const ids = new Set([...cand.tests, ...base.tests].map((t) => t.id));
    expect(model.tests).toHaveLength(ids.size);
    expect(model.columns.map((c) => c.key)).toEqual(['b:sim-2.6.2', 'c:sim-2.6.3']);
    const s3 = model.tests.find((t) => t.id === 'tls-handshake/S3 expired server certificate')!;
    expect(s3.cells['b:sim-2.6.2']!.outcome).toBe('pass');
    expect(s3.cells['c:sim-2.6.3']).toMatchObject({
      outcome: 'fail',
      securityFailure: true,
      securityReason: 'expired server certificate',
      change: 'regression',
    });
    expect(
      model.tests.find((t) => t.id === 'mqtt/will message on an unexpected loss')!.cells['c:sim-2.6.3']!.change,
    ).toBe('fix');
    expect(model.comparison!.headline).toBe(
      'Changes since 2.6.2 (2.6.3 against it): 3 regressions, 1 fix, 1 new, 1 removed, 1 security failure',
    );
    // Rows are grouped by suite.
    const suites = model.tests.map((t) => t.suite);
    expect(suites).toEqual([...suites].sort((a, b) => suites.indexOf(a) - suites.indexOf(b)));
  });

  test('each run test carries its evidence: a timeline with both lanes and arrows, and the transcript', () => {
    const cell = model.tests.find((t) => t.id === 'tls-handshake/S3 expired server certificate')!.cells['c:sim-2.6.3']!;
    const tl = cell.evidence!.timeline;
    expect(tl.some((e) => e.lane === 'module')).toBe(true);
    expect(tl.some((e) => e.lane === 'broker')).toBe(true);
    expect(tl.filter((e) => e.arrow).map((e) => `${e.arrow}:${e.label}`)).toEqual([
      'to-broker:ClientHello',
      'to-module:ServerHello',
      'to-module:Certificate',
      'to-broker:CONNECT',
      'to-module:CONNACK',
    ]);
    expect(cell.evidence!.transcript).toContain('AT+KMQTTCNX=1');
  });

  test('data that looks like markup cannot end the data element', async () => {
    const evil: RunResults = {
      ...cand,
      tests: [
        { ...cand.tests[0]!, title: '</script><script>alert(1)</script>', id: 'x/</script>', evidenceDir: undefined },
      ],
    };
    const sub = join(dir, 'evil');
    const { htmlPath } = await writeReport(sub, evil);
    const text = await readFile(htmlPath, 'utf8');
    expect(text.match(/<\/script>/g)).toHaveLength(2);
    expect(embedded(text).tests[0]!.title).toBe('</script><script>alert(1)</script>');
    expect(scriptSafeJson('a\u2028b<!--')).toBe('"a\\u2028b\\u003c!--"');
  });

  test('a bundle written with includeSecrets still gives a page without the key', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({
      type: 'sec1',
      format: 'pem',
    }) as string;
    const sub = join(dir, 'secret');
    const run: RunResults = { ...cand, tests: [{ ...cand.tests[0]!, evidenceDir: 'ev/t0' }] };
    await writeEvidenceBundle(
      join(sub, 'ev/t0'),
      { transcriptText: `upload\n${key}+++\nOK\n`, events: [ev(1, 'at', 'data', { text: key })] },
      { includeSecrets: true },
    );
    const { htmlPath } = await writeReport(sub, run);
    const text = await readFile(htmlPath, 'utf8');
    expect(text).not.toMatch(/BEGIN EC PRIVATE KEY/);
    for (const line of key.split('\n').filter((l) => l && !l.startsWith('-----'))) expect(text).not.toContain(line);
    expect(text).toMatch(/REDACTED EC PRIVATE KEY/);
  });

  test('a rig of several devices: a column per device, each result in its own cell', async () => {
    const two: RunResults = {
      ...cand,
      devices: [...cand.devices, { id: 'bench-1', uri: 'rfc2217://lab:4001', firmware: '2.7.0' }],
      tests: [
        ...cand.tests,
        ...cand.tests.map((t) => ({
          ...t,
          device: 'bench-1',
          firmware: '2.7.0',
          outcome: 'pass' as const,
          evidenceDir: undefined,
        })),
      ],
    };
    const m = await buildReportModel(dir, two);
    expect(m.columns.map((c) => [c.key, c.firmware, c.uri])).toEqual([
      ['c:sim-2.6.3', '2.6.3', 'sim:2.6.3'],
      ['c:bench-1', '2.7.0', 'rfc2217://lab:4001'],
    ]);
    expect(m.tests).toHaveLength(cand.tests.length);
    const s3 = m.tests.find((t) => t.id === 'tls-handshake/S3 expired server certificate')!;
    expect([s3.cells['c:sim-2.6.3']!.outcome, s3.cells['c:bench-1']!.outcome]).toEqual(['fail', 'pass']);
    expect(m.title).toBe('bx-hil report: 2.6.3, 2.7.0');
  });

  test('an evidenceDir outside the report directory is not read', async () => {
    const run: RunResults = { ...cand, tests: [{ ...cand.tests[0]!, evidenceDir: '../../../../etc' }] };
    const m = await buildReportModel(join(dir, 'escape'), run);
    const cell = Object.values(m.tests[0]!.cells)[0]!;
    expect(cell.evidence!.timeline).toEqual([]);
    expect(cell.evidence!.notes.join(' ')).toMatch(/outside the report directory/);
  });

  test('rejects invalid results naming the field', async () => {
    const bad = { ...cand, tests: [{ ...cand.tests[0]!, outcome: 'ok' }] } as unknown as RunResults;
    await expect(writeReport(join(dir, 'bad'), bad)).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: 'tests[0].outcome',
    });
  });

  test('without a baseline: candidate columns only, no comparison; limits are applied', async () => {
    const m = await buildReportModel(dir, cand, { limits: { maxEvents: 4 } });
    expect(m.columns.map((c) => c.run)).toEqual(['candidate']);
    expect(m.comparison).toBeUndefined();
    const cell = m.tests.find((t) => t.id === 'mqtt/QoS 1 publish is delivered to a subscriber')!.cells['c:sim-2.6.3']!;
    expect(cell.evidence!.timeline).toHaveLength(4);
    expect(cell.evidence!.eventsTotal).toBeGreaterThan(4);
    expect(cell.evidence!.notes.join(' ')).toMatch(/events omitted/);
  });
});
