/**
 * The console sink (console.ts) and the places that print device- or network-controlled text
 * through it: the run's FAIL/verdict lines, the broker's verdict line (SNI), compare's text.
 */
import { join } from 'node:path';
import type { TestCase } from 'vitest/node';
import { describe, expect, test } from 'vitest';
import type { BrokerRig, Verdict } from '../broker/index.ts';
import { compareResults, formatComparison, type RunResults } from '../report/index.ts';
import { verdictLine } from './broker.ts';
import { consoleSafe, oneLine, resultsForConsole } from './console.ts';
import { ProgressReporter, ROOT } from './run.ts';

/** C0 (but LF/TAB), DEL, C1: nothing of this may reach a terminal. */
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
const HOSTILE = 'x\u001b[2J\u001b[1;1H\r\nFORGED  PASS\u009b31m\u202eevil\u0007';

describe('console sink', () => {
  test('oneLine escapes every control character as visible text, CR and LF included', () => {
    expect(oneLine(HOSTILE)).toBe('x\\x1b[2J\\x1b[1;1H\\r\\nFORGED  PASS\\x9b31m\\u202eevil\\x07');
    expect(oneLine('tab\there')).toBe('tab\\there');
    expect(oneLine('plain text, ünïcode ✓')).toBe('plain text, ünïcode ✓');
  });

  test('consoleSafe keeps the line breaks and tabs the CLI writes, escapes the rest', () => {
    expect(consoleSafe('a\tb\nc\u001b[31m\rd\n')).toBe('a\tb\nc\\x1b[31m\\rd\n');
  });

  test('resultsForConsole makes every string of a test and a device one line, and nothing else', () => {
    const r: RunResults = {
      schema: 'bx-hil/results@1',
      startedAt: 's',
      finishedAt: 'f',
      harnessVersion: '1',
      devices: [{ id: 'd', uri: 'sim:2.6.3', firmware: HOSTILE }],
      tests: [
        {
          id: 'a/b',
          suite: 'a',
          title: HOSTILE,
          device: 'd',
          firmware: '1',
          status: 'failed',
          outcome: 'fail',
          durationMs: 1,
          attempts: 1,
          error: HOSTILE,
          verdict: { code: 'X', summary: HOSTILE, evidence: [HOSTILE] },
        },
      ],
    };
    const safe = resultsForConsole(r);
    expect(JSON.stringify(safe)).not.toMatch(RAW);
    expect(safe.tests[0]!.durationMs).toBe(1);
    expect(r.tests[0]!.title).toBe(HOSTILE); // the input is not changed
    const text = formatComparison(compareResults(safe, safe));
    expect(text).not.toMatch(RAW);
    expect(text).not.toMatch(/^FORGED/m);
  });
});

describe('device- and network-controlled text on the console', () => {
  test("the broker's verdict line escapes the SNI, the summary and the fix a client provoked", () => {
    const rig = {
      records: [
        {
          id: 7,
          remote: '127.0.0.1:5000',
          clientHello: { sni: HOSTILE, supportedVersions: ['TLSv1.3'] },
          mqtt: {},
        },
      ],
    } as unknown as BrokerRig;
    const v = { connectionId: 7, code: 'OK', summary: `summary ${HOSTILE}`, fix: 'none' } as unknown as Verdict;
    const line = verdictLine(rig, v, false);
    expect(line).not.toMatch(RAW);
    expect(line).toContain('SNI x\\x1b[2J');
    expect(line.split('\n')).toHaveLength(2); // the verdict line and its "what to change" line
    expect(line).not.toMatch(/^FORGED/m);
  });

  test("the run's FAIL and verdict lines escape what the module said", () => {
    const lines: string[] = [];
    const reporter = new ProgressReporter({ write: (l) => lines.push(l) });
    const fake = {
      name: 'hostile module',
      parent: { type: 'module' },
      module: { moduleId: join(ROOT, 'suites', 'cert-upload.test.ts') },
      options: { mode: 'run' },
      result: () => ({ state: 'failed', errors: [{ message: `the module answered ${HOSTILE}` }] }),
      diagnostic: () => ({ duration: 5, retryCount: 0 }),
      meta: () => ({ verdict: { code: 'NO_SNI', summary: HOSTILE } }),
    } as unknown as TestCase;
    reporter.onTestCaseResult(fake);
    const text = lines.join('\n');
    expect(text).toMatch(/FAIL/);
    expect(text).toContain('the module answered x\\x1b[2J');
    expect(text).not.toMatch(RAW);
    expect(text).not.toMatch(/^FORGED/m);
  });
});
