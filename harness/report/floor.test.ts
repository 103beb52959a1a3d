/**
 * A run against its physical floor: the sums, the words, the report's header line, and
 * results.json's floor fields through the validator.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { describeFloor, floorSummary } from './floor.ts';
import { buildReportModel, renderReportHtml } from './html.ts';
import { sampleRun } from './testing.ts';
import type { RunResults } from './types.ts';
import { parseRunResults } from './validate.ts';

function withFloors(): RunResults {
  const r = sampleRun('2.6.3');
  r.tests.forEach((t, i) => {
    if (t.outcome === 'skip' || i > 2) return;
    t.floorMs = 1000 * (i + 1);
    t.actualMs = 1100 * (i + 1);
    t.floorParts = { line: 100 * (i + 1), flash: 900 * (i + 1) };
  });
  return r;
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('floorSummary / describeFloor', () => {
  test('sums only the tests that carry a floor; the overhead and ratio follow', () => {
    const s = floorSummary(withFloors())!;
    const n = s.tests;
    expect(n).toBeGreaterThan(0);
    const floor = (n * (n + 1) * 1000) / 2;
    expect(s.floorMs).toBe(floor);
    expect(s.actualMs).toBe((n * (n + 1) * 1100) / 2);
    expect(s.overheadMs).toBe(s.actualMs - floor);
    expect(s.ratio).toBeCloseTo(1.1, 10);
    expect(describeFloor(s)).toMatch(
      /against a physical floor of .* s: .* \(10\.0 %\) above it, ×1\.10, over \d+ tests/,
    );
  });

  test('no test with a floor: none; a floor of 0 (instant module): said so, no ratio', () => {
    expect(floorSummary(sampleRun('2.6.3'))).toBeUndefined();
    const r = sampleRun('2.6.3');
    r.tests[0]!.floorMs = 0;
    r.tests[0]!.actualMs = 40;
    const s = floorSummary(r)!;
    expect(s.ratio).toBeUndefined();
    expect(describeFloor(s)).toMatch(/floor of 0 s \(the module's timing is instant/);
  });
});

describe('the report and results.json', () => {
  test('the header says the run against its floor; each cell carries its floor', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bxhil-floor-report-'));
    dirs.push(dir);
    const r = withFloors();
    const model = await buildReportModel(dir, r);
    expect(model.floor).toBe(describeFloor(floorSummary(r)!));
    const withFloor = r.tests.find((t) => t.floorMs !== undefined)!;
    const cell = model.tests.find((t) => t.id === withFloor.id)!.cells[`c:${withFloor.device}`]!;
    expect(cell).toMatchObject({ floorMs: withFloor.floorMs, actualMs: withFloor.actualMs });
    expect(renderReportHtml(model)).toMatch(/<div class="meta" id="floor">Physical floor: tests took/);
    const none = await buildReportModel(dir, sampleRun('2.6.3'));
    expect(none.floor).toBeUndefined();
    expect(renderReportHtml(none)).not.toContain('id="floor"');
  });

  test('the validator takes the floor fields and refuses a negative one, naming it', () => {
    const r = withFloors();
    expect(parseRunResults(JSON.parse(JSON.stringify(r)))).toEqual(r);
    const bad = JSON.parse(JSON.stringify(r)) as RunResults;
    bad.tests[0]!.floorMs = -1;
    expect(() => parseRunResults(bad)).toThrow(/tests\[0\]\.floorMs/);
    const badPart = JSON.parse(JSON.stringify(r)) as RunResults;
    badPart.tests[0]!.floorParts = { line: 'x' as unknown as number };
    expect(() => parseRunResults(badPart)).toThrow(/tests\[0\]\.floorParts\.line/);
  });
});
