/**
 * `bx-hil run` and `bx-hil preflight` end to end, through the real CLI in a child process (as a
 * user runs them), against the virtual module; and the progress reporter's heartbeat lines.
 *
 * Glossary: CLI = `node bin/bx-hil.js`; device = the virtual module (`sim:<profile>`) the run
 * targets; lab file = the YAML listing devices.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';
import { parseRunResults } from '../report/index.ts';
import { ProgressReporter } from './run.ts';
import { killCliChildren, runCli } from './testing.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bxhil-run-'));
afterAll(() => {
  killCliChildren();
  rmSync(dir, { recursive: true, force: true });
});

describe('bx-hil run', () => {
  test('one suite on sim:2.6.3: progress per test, results.json with the known issue as expected-fail, JUnit, evidence, HTML; exit 0', async () => {
    const out = join(dir, 'single');
    const r = await runCli(['run', '--device', 'sim:2.6.3', '--suite', 'cert-upload', '--out', out]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/PASS {2}cert-upload\/root certificate\/store with LF line endings/);
    expect(r.out).toMatch(/XFAIL cert-upload\/private keys\/read form lists the stored keys.*known issue/);
    expect(r.out).toMatch(
      /SKIP {2}cert-upload\/private keys\/a stored key survives a reset.*keys\.readForm not supported/,
    );
    const results = parseRunResults(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')));
    expect(results.devices).toEqual([
      {
        id: 'sim-2.6.3',
        uri: 'sim:2.6.3',
        firmware: '2.6.3',
        model: 'BX3105',
        profile: { name: '2.6.3', source: 'shipped', chosenBy: 'sim' },
      },
    ]);
    expect(results.tests.every((t) => t.suite === 'cert-upload' && t.firmware === '2.6.3')).toBe(true);
    const xfail = results.tests.find((t) => t.outcome === 'expected-fail')!;
    expect(xfail).toMatchObject({ status: 'failed', knownIssue: { source: '[report] field-report-2.6.3 step 3' } });
    expect(xfail.error).toContain('918');
    const pass = results.tests.find((t) => t.outcome === 'pass' && t.scenario === '[BX-T] KCERTSTORE_0001')!;
    expect(existsSync(join(out, pass.evidenceDir!, 'transcript.txt'))).toBe(true);
    expect(readFileSync(join(out, pass.evidenceDir!, 'transcript.txt'), 'utf8')).toContain('AT+KCERTSTORE=0,');
    expect(readFileSync(join(out, 'junit.xml'), 'utf8')).toMatch(/<testsuites /);
    expect(existsSync(join(out, 'index.html'))).toBe(true);
  }, 180_000);

  test('a rig of two devices runs both in parallel; a failing power cycle fails only its device; exit 1', async () => {
    const out = join(dir, 'rig');
    const rigFile = join(dir, 'rig.yaml');
    writeFileSync(
      rigFile,
      [
        'devices:',
        '  - id: good',
        '    uri: sim:reference',
        '    knownIssues:',
        '      - { test: "cert-upload/root certificate/PEM without a final newline is stored", reason: "listed but passes", source: "lab file", expects: { code: BXHIL_CME, cme: 918 } }',
        '  - id: bad',
        '    uri: sim:legacy',
        '    powerCycle: { command: "echo relay stuck >&2; exit 4", timeoutMs: 5000 }',
        '',
      ].join('\n'),
    );
    const r = await runCli(['run', '--lab', rigFile, '--suite', 'cert-upload', '--out', out]);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain('[good]');
    expect(r.out).toContain('[bad] bad: powerCycle FAILED (rig problem)');
    const results = parseRunResults(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')));
    expect(results.devices.map((d) => d.id)).toEqual(['good', 'bad']);
    const bad = results.tests.filter((t) => t.device === 'bad');
    expect(bad).toEqual([
      expect.objectContaining({ id: 'rig/powerCycle', outcome: 'fail', error: expect.stringContaining('relay stuck') }),
    ]);
    const good = results.tests.filter((t) => t.device === 'good');
    expect(good.length).toBeGreaterThan(20);
    expect(good.every((t) => ['pass', 'skip', 'fixed'].includes(t.outcome))).toBe(true);
    // The lab file's known issue reached the suites: the listed test passed, so it is reported fixed.
    expect(good.filter((t) => t.outcome === 'fixed')).toEqual([
      expect.objectContaining({
        id: 'cert-upload/root certificate/PEM without a final newline is stored',
        knownIssue: expect.objectContaining({ source: 'lab file' }),
      }),
    ]);
    expect(r.out).toContain('[good]   FIXED cert-upload/root certificate/PEM without a final newline is stored (');
    // An unexpected pass is not silent: the line says the known issue did not occur.
    expect(r.out).toMatch(
      /FIXED cert-upload\/root certificate\/PEM without .*: the known issue \(lab file\) did not occur/,
    );
    // Evidence paths point into the device's own directory under the report.
    const withEvidence = good.find((t) => t.evidenceDir)!;
    expect(withEvidence.evidenceDir).toMatch(/^devices\/good\/evidence\//);
    expect(existsSync(join(out, withEvidence.evidenceDir!, 'events.jsonl'))).toBe(true);
  }, 180_000);

  test('a known-issue test that fails otherwise than its known issue states is a FAIL "failed differently", with both; exit 1', async () => {
    // The lab file's entry replaces the profile's (which expects CME 918) and states CME 917 instead.
    const rigFile = join(dir, 'rig-917.yaml');
    writeFileSync(
      rigFile,
      [
        'devices:',
        '  - uri: sim:2.6.3',
        '    knownIssues:',
        '      - test: "cert-upload/private keys/read form lists the stored keys without echoing key material"',
        '        reason: "a different CME than the module gives"',
        '        source: "lab file 917"',
        '        expects: { code: BXHIL_CME, cme: 917 }',
        '',
      ].join('\n'),
    );
    const out = join(dir, 'different');
    const r = await runCli([
      'run',
      '--rig',
      rigFile,
      '--no-preflight',
      '--suite',
      'cert-upload',
      '--test',
      'read form lists',
      '--out',
      out,
    ]);
    expect(r.code, r.out).toBe(1);
    // --rig is the old name of --lab: it still works and says so once.
    expect(r.out.split('--rig is now --lab').length - 1).toBe(1);
    expect(r.out).toMatch(/FAIL {2}cert-upload\/private keys\/read form lists the stored keys/);
    const said =
      'failed differently from the known issue (lab file 917): it expects BXHIL_CME (+CME ERROR: 917); the test failed with BXHIL_CME (+CME ERROR: 918): AT+KPRIVKSTORE? failed';
    expect(r.out).toContain(said);
    expect(r.out).toMatch(/^0 passed, 1 failed, 0 expected failures/m);
    const results = parseRunResults(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')));
    expect(results.tests).toEqual([
      expect.objectContaining({
        outcome: 'fail',
        status: 'failed',
        knownIssue: expect.objectContaining({ source: 'lab file 917' }),
      }),
    ]);
    expect(results.tests[0]!.error).toContain(said);
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toContain(
      'failed differently from the known issue (lab file 917)',
    );
  }, 180_000);

  test('a firmware that trusts a wrong-name server certificate is reported as a SECURITY FAILURE; exit 1', async () => {
    // A profile like 2.6.3 but without the server name check: S5 (wrong host name) must be caught.
    const caps = (
      JSON.parse(readFileSync(join(root, 'harness/sim/profiles/2.6.3.json'), 'utf8')) as { capabilities: string[] }
    ).capabilities;
    const profile = join(dir, 'no-name-check.json');
    writeFileSync(
      profile,
      JSON.stringify({
        extends: '2.6.3',
        name: 'no-name-check',
        description: 'test profile: 2.6.3 without the server name check',
        tls: { verify: { chain: true, name: false, dates: true } },
        capabilities: caps.filter((c) => c !== 'tls.verifyName'),
      }),
    );
    const out = join(dir, 'security');
    const r = await runCli([
      'run',
      '--device',
      `sim:${profile}`,
      '--suite',
      'tls-handshake',
      '--test',
      'S5 ',
      '--out',
      out,
    ]);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain('SECURITY FAILURE: S5 Wrong host name');
    expect(r.out).toMatch(/1 SECURITY FAILURE$/m);
    // The progress line carries the rig's verdict: the broker saw a clean connection.
    expect(r.out).toMatch(/^\s+verdict OK: /m);
    const results = parseRunResults(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')));
    expect(results.tests).toEqual([
      expect.objectContaining({ scenario: 'S5', outcome: 'fail', securityFailure: true }),
    ]);
  }, 180_000);

  test('a device that cannot be opened fails every test at once with the original cause (no timeouts)', async () => {
    const out = join(dir, 'broken');
    const t0 = performance.now();
    const r = await runCli([
      'run',
      '--device',
      'serial:/dev/bx-hil-missing',
      '--no-preflight',
      '--suite',
      'cert-upload',
      '--out',
      out,
    ]);
    expect(r.code, r.out).toBe(1);
    const results = parseRunResults(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')));
    expect(results.tests.length).toBeGreaterThan(20);
    for (const t of results.tests) {
      expect(t.outcome).toBe('fail');
      expect(t.error).toContain('could not be brought up');
      expect(t.error).toContain('/dev/bx-hil-missing');
    }
    // Each test failed at once: far below one AT timeout per test.
    expect(results.tests.every((t) => t.durationMs < 2_000)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(120_000);
  }, 180_000);

  test('a run in which no test ran exits 1 naming the filters; --allow-empty opts out', async () => {
    const args = ['run', '--device', 'sim:2.6.3', '--no-preflight', '--suite', 'cert-upload', '--test', 'no such test'];
    const empty = await runCli([...args, '--out', join(dir, 'empty')]);
    expect(empty.code, empty.out).toBe(1);
    expect(empty.out).toMatch(/^0 passed, 0 failed, 0 expected failures, 0 fixed, 0 skipped$/m);
    expect(empty.out).toContain(
      'bx-hil run: no test ran: --suite cert-upload --test "no such test" matched no test; fix the filter or the target, or pass --allow-empty',
    );
    const allowed = await runCli([...args, '--allow-empty', '--out', join(dir, 'empty-allowed')]);
    expect(allowed.code, allowed.out).toBe(0);
    expect(allowed.out).not.toContain('no test ran');
  }, 180_000);

  test('bad input: an unknown suite and --device with --lab (or its old name --rig) exit 2 naming the flag', async () => {
    const a = await runCli(['run', '--suite', 'nope', '--out', join(dir, 'x')], 60_000);
    expect(a.code, a.out).toBe(2);
    expect(a.out).toContain('unknown suite "nope"');
    const b = await runCli(['run', '--device', 'sim:2.6.3', '--lab', 'r.yaml'], 60_000);
    expect(b.code, b.out).toBe(2);
    expect(b.out).toContain('either --device or --lab');
    const c = await runCli(['run', '--device', 'sim:2.6.3', '--rig', 'r.yaml'], 60_000);
    expect(c.code, c.out).toBe(2);
    expect(c.out).toContain('either --device or --lab');
  }, 120_000);
});

describe('bx-hil preflight', () => {
  test('a virtual module is ready; a missing serial port is a rig problem in TAP; exit 1', async () => {
    const ok = await runCli(['preflight', '--device', 'sim:reference'], 60_000);
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toContain('sim-reference: ready (firmware');
    const tap = join(dir, 'preflight.tap');
    const bad = await runCli(['preflight', '--device', 'serial:/dev/bx-hil-no-such-port', '--tap', tap], 60_000);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/NOT READY: rig problem at "port opens/);
    const text = readFileSync(tap, 'utf8');
    expect(text).toMatch(/^TAP version 13\n1\.\.\d+\nnot ok 1 - serial-dev-bx-hil-no-such-port: port opens/);
    expect(text).toContain('category: rig problem');
  }, 120_000);
});

describe('progress reporter', () => {
  // Fake timers: the reporter's polls run on the test's clock, not after a wall-clock sleep.
  afterEach(() => {
    vi.useRealTimers();
  });

  test('prints what a long-running test waits on, from the heartbeat files, once per 10 s', async () => {
    vi.useFakeTimers();
    const hb = join(dir, 'hb');
    mkdirSync(hb, { recursive: true });
    writeFileSync(
      join(hb, '123.json'),
      JSON.stringify({ test: 'mqtt/connect/slow', waitingOn: 'AT+KMQTTCNX=1', since: Date.now() - 4_000 }),
    );
    const lines: string[] = [];
    const reporter = new ProgressReporter({ heartbeatDir: hb, pollMs: 20, write: (l) => lines.push(l) });
    await vi.advanceTimersByTimeAsync(200); // ten polls
    reporter.onTestRunEnd([], []);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/mqtt\/connect\/slow: waiting on AT\+KMQTTCNX=1 \(4 s\)/);
  });

  test('a wait shorter than 3 s is not announced', async () => {
    vi.useFakeTimers();
    const hb = join(dir, 'hb2');
    mkdirSync(hb, { recursive: true });
    writeFileSync(join(hb, '1.json'), JSON.stringify({ test: 't', waitingOn: 'AT', since: Date.now() }));
    const lines: string[] = [];
    const reporter = new ProgressReporter({ heartbeatDir: hb, pollMs: 20, write: (l) => lines.push(l) });
    await vi.advanceTimersByTimeAsync(150);
    reporter.onTestRunEnd([], []);
    expect(lines).toEqual([]);
  });
});
