/**
 * The shape of a known issue, shared by the simulator's profiles (`harness/sim/profile.ts`) and
 * lab files (`harness/run/lab.ts`), and written into results.json (`harness/report/types.ts`).
 * It lives here, at the base, because `sim` and `run` may not import each other.
 *
 * A known issue names a test a firmware is known to fail AND how it fails (pytest's
 * `xfail(raises=…)`): `expects` is required, so a listed test that fails in another way (a
 * harness `TypeError`, another CME code) is a plain failure, never excused. Matching is in
 * `harness/run/known-issues.ts`.
 */

/** What the failure of a known issue looks like. Every field given must match; at least one of `code`, `verdict`, `message`. */
export interface KnownIssueExpectation {
  /** The `code` of the error the test throws, e.g. `BXHIL_CME`, `BXHIL_AT_TIMEOUT`, `BXHIL_MQTT_ABORTED`. */
  code?: string;
  /** With `code: BXHIL_CME`: the `+CME ERROR: <n>` number. */
  cme?: number;
  /** The rig's verdict code the test recorded before it failed, e.g. `NO_SNI`, `OK`. */
  verdict?: string;
  /** A regular expression (JavaScript syntax, unanchored, case-sensitive) the error message must match. */
  message?: string;
}

/** A failure a firmware is known to have: the test id (or prefix with `*`), why, the source, and `expects`, how the test fails (docs/lab-file.md "Known issues"). */
export interface KnownIssue {
  /** Test id (`<suite>/<describe path>/<title>`) or a prefix ending in `*`. */
  test: string;
  reason: string;
  /** Where the issue is known from: a ticket, a reference tag ([BX-T]), a field report. */
  source: string;
  /** How the test fails; any other failure is reported as a failure. */
  expects: KnownIssueExpectation;
}

/** An example for error messages, in the lab file's YAML flow style. */
export const EXPECTS_EXAMPLE =
  '{ code: BXHIL_CME, cme: 918 }, { code: BXHIL_AT_TIMEOUT }, { verdict: NO_SNI } or { message: "<regular expression>" }';

/** A problem found in an `expects` value: the sub-field (undefined = the value itself) and why. */
export interface ExpectationProblem {
  key?: keyof KnownIssueExpectation | string;
  why: string;
}

const KEYS: ReadonlyArray<keyof KnownIssueExpectation> = ['code', 'cme', 'verdict', 'message'];

/**
 * Validate an `expects` value (missing included). Returns the expectation, or the first problem;
 * callers turn the problem into their own `ConfigError` (profile and lab files word them apart).
 */
export function checkExpectation(v: unknown): KnownIssueExpectation | ExpectationProblem {
  if (v === undefined || v === null)
    return {
      why: `required: what the failure looks like, e.g. ${EXPECTS_EXAMPLE}; without it a known issue would excuse any failure`,
    };
  if (typeof v !== 'object' || Array.isArray(v))
    return { why: `expected an object such as ${EXPECTS_EXAMPLE}, got ${JSON.stringify(v)}` };
  const o = v as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(KEYS as readonly string[]).includes(key))
      return { key, why: `unknown field; allowed here: ${KEYS.join(', ')}` };
  }
  const out: KnownIssueExpectation = {};
  for (const key of ['code', 'verdict', 'message'] as const) {
    const s = o[key];
    if (s === undefined) continue;
    if (typeof s !== 'string' || s.trim() === '')
      return { key, why: `expected a non-empty string, got ${JSON.stringify(s)}` };
    out[key] = s.trim();
  }
  if (out.message !== undefined) {
    try {
      new RegExp(out.message);
    } catch (err) {
      return { key: 'message', why: `not a valid regular expression: ${(err as Error).message}` };
    }
  }
  if (o['cme'] !== undefined) {
    const n = o['cme'];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 999)
      return { key: 'cme', why: `expected a +CME ERROR number from 0 to 999, got ${JSON.stringify(n)}` };
    if (out.code !== 'BXHIL_CME') return { key: 'cme', why: 'a CME number needs code: BXHIL_CME beside it' };
    out.cme = n;
  }
  if (out.code === undefined && out.verdict === undefined && out.message === undefined)
    return { why: `give at least one of code, verdict, message, e.g. ${EXPECTS_EXAMPLE}` };
  return out;
}

/** Whether `checkExpectation` found a problem. */
export function isExpectationProblem(r: KnownIssueExpectation | ExpectationProblem): r is ExpectationProblem {
  return 'why' in r;
}
