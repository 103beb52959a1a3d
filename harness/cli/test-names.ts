/**
 * A Vitest test's names, outermost describe first, as `bx-hil run` and its shard collector both
 * read them (the parts of a results.json test id and of the name `testNamePattern` matches).
 * Type-only use of `vitest/node`: importing this does not load Vitest.
 */
import type { TestCase } from 'vitest/node';

export function namesOf(test: TestCase): string[] {
  const names = [test.name];
  let p: TestCase['parent'] = test.parent;
  while (p.type === 'suite') {
    names.unshift(p.name);
    p = p.parent;
  }
  return names;
}
