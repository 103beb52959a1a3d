/**
 * results.json validation at the edge (validate.ts): hostile shapes give one `ResultsFileError`
 * naming the file and the field, never a crash.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { parseRunResults, readRunResults } from './validate.ts';

const dir = mkdtempSync(join(tmpdir(), 'bxhil-validate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const head = '{"schema":"bx-hil/results@1","startedAt":"s","finishedAt":"f","harnessVersion":"1",';
const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;

describe('results.json nested 200,000 levels deep', () => {
  test.each([
    ['where an object is expected', `${head}"devices":[${deep(200_000)}],"tests":[]}`, 'devices[0]'],
    ['where a string is expected', `${head}"devices":[],"tests":[{"id":${deep(200_000)}}]}`, 'tests[0].id'],
    ['as the whole document', deep(200_000), '(top level)'],
  ])('%s: one error naming the file and the field, no stack overflow', async (_what, text, field) => {
    const file = join(dir, 'deep.json');
    writeFileSync(file, text);
    const err = await readRunResults(file).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BXHIL_CONFIG', field });
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toMatch(/an array of 1 item/);
  });

  test('an object is described by its first keys, not its contents', () => {
    expect(() => parseRunResults({ schema: 'bx-hil/results@1', startedAt: { a: 1, b: 2, c: 3, d: 4, e: 5 } })).toThrow(
      /"startedAt" is an object with "a", "b", "c", "d", \.\.\.; expected a string/,
    );
  });
});
