/**
 * Reading results.json at the edge (docs/STYLE.md §6): `parseRunResults` checks an unknown value
 * against the `bx-hil/results@1` contract (types.ts) and throws a `ResultsFileError`
 * (`BXHIL_CONFIG`) that names the file, the field (`tests[3].outcome`) and what a valid value
 * is. Below the edge, the report and compare code trust the typed object.
 */
import { readFile } from 'node:fs/promises';
import { ResultsFileError } from './errors.ts';
import { OUTCOMES } from './outcomes.ts';
import type { RunResults, TestResult } from './types.ts';

const STATUSES: readonly TestResult['status'][] = ['passed', 'failed', 'skipped'];
/** The schema id every `results.json` carries. */
export const RESULTS_SCHEMA = 'bx-hil/results@1';

type Obj = Record<string, unknown>;

/**
 * The offending value in a few words, without walking into it: an input nested 200,000 levels
 * deep must give this one-line error, not overflow the stack in `JSON.stringify`.
 */
function describeValue(v: unknown): string {
  if (v === undefined) return 'missing';
  if (Array.isArray(v)) return `an array of ${v.length} item(s)`;
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v);
    const shown = keys.slice(0, 4).map((k) => JSON.stringify(k.length > 20 ? `${k.slice(0, 17)}...` : k));
    return keys.length === 0
      ? 'an empty object'
      : `an object with ${shown.join(', ')}${keys.length > 4 ? ', ...' : ''}`;
  }
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

class Checker {
  constructor(readonly file: string) {}

  fail(field: string, value: unknown, expected: string): never {
    throw new ResultsFileError(
      this.file,
      field,
      value,
      `${this.file}: field "${field}" is ${describeValue(value)}; expected ${expected}. Is this a results.json written by \`bx-hil run\` (schema "${RESULTS_SCHEMA}")?`,
    );
  }

  obj(v: unknown, field: string): Obj {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(field, v, 'an object');
    return v as Obj;
  }

  str(o: Obj, key: string, field: string, optional = false): string | undefined {
    const v = o[key];
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'string') this.fail(`${field}.${key}`.replace(/^\./, ''), v, 'a string');
    return v;
  }

  num(o: Obj, key: string, field: string): number {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) this.fail(`${field}.${key}`, v, 'a number >= 0');
    return v;
  }

  arr(o: Obj, key: string, field: string): unknown[] {
    const v = o[key];
    if (!Array.isArray(v)) this.fail(`${field}${field ? '.' : ''}${key}`, v, 'an array');
    return v;
  }

  oneOf<T extends string>(o: Obj, key: string, field: string, allowed: readonly T[]): T {
    const v = o[key];
    if (typeof v !== 'string' || !allowed.includes(v as T))
      this.fail(`${field}.${key}`, v, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
    return v as T;
  }
}

/** Validates `input` as RunResults; `file` names the source in error messages. */
export function parseRunResults(input: unknown, file = 'results'): RunResults {
  const c = new Checker(file);
  const root = c.obj(input, '(top level)');
  if (root.schema !== RESULTS_SCHEMA) c.fail('schema', root.schema, `"${RESULTS_SCHEMA}"`);
  c.str(root, 'startedAt', '');
  c.str(root, 'finishedAt', '');
  c.str(root, 'harnessVersion', '');
  c.arr(root, 'devices', '').forEach((d, i) => {
    const f = `devices[${i}]`;
    const o = c.obj(d, f);
    c.str(o, 'id', f);
    c.str(o, 'uri', f);
    c.str(o, 'firmware', f);
    c.str(o, 'model', f, true);
    if (o.profile !== undefined) {
      const pf = `${f}.profile`;
      const p = c.obj(o.profile, pf);
      c.str(p, 'name', pf);
      c.oneOf(p, 'source', pf, ['shipped', 'file', 'probe'] as const);
      c.oneOf(p, 'chosenBy', pf, ['sim', 'given', 'cgmr', 'fallback'] as const);
      for (const key of ['path', 'learnedAt', 'note']) c.str(p, key, pf, true);
    }
  });
  c.arr(root, 'tests', '').forEach((t, i) => {
    const f = `tests[${i}]`;
    const o = c.obj(t, f);
    for (const key of ['id', 'suite', 'title', 'device', 'firmware']) c.str(o, key, f);
    for (const key of ['scenario', 'error', 'skipReason', 'evidenceDir']) c.str(o, key, f, true);
    c.oneOf(o, 'status', f, STATUSES);
    c.oneOf(o, 'outcome', f, OUTCOMES);
    c.num(o, 'durationMs', f);
    c.num(o, 'attempts', f);
    for (const key of ['floorMs', 'actualMs']) if (o[key] !== undefined) c.num(o, key, f);
    if (o.floorParts !== undefined) {
      const p = c.obj(o.floorParts, `${f}.floorParts`);
      for (const key of Object.keys(p)) c.num(p, key, `${f}.floorParts`);
    }
    if (o.securityFailure !== undefined && typeof o.securityFailure !== 'boolean')
      c.fail(`${f}.securityFailure`, o.securityFailure, 'true or false');
    if (o.verdict !== undefined) {
      const v = c.obj(o.verdict, `${f}.verdict`);
      c.str(v, 'code', `${f}.verdict`);
      c.str(v, 'summary', `${f}.verdict`);
      c.str(v, 'fix', `${f}.verdict`, true);
      if (v.evidence !== undefined && !(Array.isArray(v.evidence) && v.evidence.every((e) => typeof e === 'string')))
        c.fail(`${f}.verdict.evidence`, v.evidence, 'an array of strings');
    }
    if (o.knownIssue !== undefined) {
      const k = c.obj(o.knownIssue, `${f}.knownIssue`);
      for (const key of ['test', 'reason', 'source']) c.str(k, key, `${f}.knownIssue`);
    }
  });
  return input as RunResults;
}

/** Reads and validates a results.json file. Unreadable or invalid: `ResultsFileError` (exit 2). */
export async function readRunResults(path: string): Promise<RunResults> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ResultsFileError(
      path,
      'file',
      path,
      `${path}: cannot read the results file (${code ?? (err as Error).message}); give the path of a results.json written by \`bx-hil run --out <dir>\``,
      { cause: err },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ResultsFileError(
      path,
      'file',
      path,
      `${path}: not valid JSON (${(err as Error).message}); give the results.json of a finished \`bx-hil run\``,
      { cause: err },
    );
  }
  return parseRunResults(json, path);
}
