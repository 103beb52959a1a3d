/**
 * A run against its physical floor (harness/run/floor.ts computes each test's): the sums over
 * the tests that carry one, and the overhead above it, in numbers and in words.
 */
import type { RunResults } from './types.ts';

/** A run's time against its physical floor: the sums over the tests that carry both figures. */
export interface FloorSummary {
  /** Tests that carry a floor (ran, with evidence). */
  tests: number;
  floorMs: number;
  actualMs: number;
  /** `actualMs - floorMs`. */
  overheadMs: number;
  /** `actualMs / floorMs`; undefined when the floor is 0 (the instant module). */
  ratio?: number;
}

/** The sums over `results.tests` that carry `floorMs` and `actualMs`; undefined when none does. */
export function floorSummary(results: Pick<RunResults, 'tests'>): FloorSummary | undefined {
  const with_ = results.tests.filter((t) => t.floorMs !== undefined && t.actualMs !== undefined);
  if (with_.length === 0) return undefined;
  const floorMs = with_.reduce((a, t) => a + t.floorMs!, 0);
  const actualMs = with_.reduce((a, t) => a + t.actualMs!, 0);
  const s: FloorSummary = { tests: with_.length, floorMs, actualMs, overheadMs: actualMs - floorMs };
  if (floorMs > 0) s.ratio = actualMs / floorMs;
  return s;
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** `tests took 91.3 s against a physical floor of 84.0 s: 7.3 s (8.7 %) above it, over 52 tests`. */
export function describeFloor(s: FloorSummary): string {
  if (s.ratio === undefined)
    return `tests took ${secs(s.actualMs)} against a physical floor of 0 s (the module's timing is instant: every millisecond is the harness's), over ${s.tests} tests`;
  const pct = ((s.ratio - 1) * 100).toFixed(1);
  return `tests took ${secs(s.actualMs)} against a physical floor of ${secs(s.floorMs)}: ${secs(s.overheadMs)} (${pct} %) above it, ×${s.ratio.toFixed(2)}, over ${s.tests} tests`;
}
