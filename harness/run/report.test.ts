/**
 * finishReport: the end of `bx-hil run --baseline`: the comparison's lines, its regression flag
 * and the HTML page agree, with and without `--allow-removed`.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { sampleRun } from '../report/testing.ts';
import type { RunResults } from '../report/index.ts';
import { finishReport } from './report.ts';

const dir = await mkdtemp(join(tmpdir(), 'bxhil-finish-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('finishReport with a baseline', () => {
  const run = sampleRun('2.6.3');
  // The baseline ran one more test, which passed: this run lost it.
  const extra = { ...run.tests.find((t) => t.outcome === 'pass')!, id: 'mqtt/lost test', title: 'lost test' };
  const baseline: RunResults = { ...run, tests: [...run.tests, extra] };

  test('a passing baseline test this run did not run is a regression, in the lines and on the page', async () => {
    const basePath = join(dir, 'baseline.json');
    await writeFile(basePath, JSON.stringify(baseline));
    const out = join(dir, 'strict');
    const r = await finishReport(out, run, { baseline: basePath });
    expect(r.regression).toBe(true);
    expect(r.lines).toContain('  - mqtt/lost test [removed]');
    expect(await readFile(join(out, 'index.html'), 'utf8')).toContain('1 regression, 0 fixes, 0 new, 1 removed');

    const allowed = join(dir, 'allowed');
    const a = await finishReport(allowed, run, { baseline: basePath, compare: { allowRemoved: true } });
    expect(a.regression).toBe(false);
    expect(a.lines.join('\n')).toContain('1 removed test (ran on 2.6.3, not on 2.6.3):');
    expect(await readFile(join(allowed, 'index.html'), 'utf8')).toContain('0 regressions, 0 fixes, 0 new, 1 removed');
  });
});
