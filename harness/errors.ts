/**
 * The one base class of every error the harness throws on purpose (undici's scheme, docs/STYLE.md §4).
 *
 * `code` is stable and is what tests and callers match on; messages are for people and may
 * change. Layer-specific subclasses live beside their layer (`link/errors.ts`, `at/errors.ts`,
 * `bx310x/errors.ts`, ...). Messages carry the evidence and the remedy (docs/STYLE.md §5).
 */
/**
 * Every code the harness throws, in one list, so a code cannot be made up on the spot: a new
 * one is added here with where it comes from. Codes are stable; docs name them.
 */
export type HarnessErrorCode =
  // base (this file, processes.ts)
  | 'BXHIL_CONFIG' // ConfigError: bad input at the edge; exit code 2
  | 'BXHIL_STATE' // StateError: a method called in a state that does not allow it
  | 'BXHIL_TOOL_START' // processes.ts: an external tool could not be started
  | 'BXHIL_TOOL_TIMEOUT' // processes.ts: an external tool ran past its bound
  | 'BXHIL_WAIT_TIMEOUT' // processes.ts: a readiness poll gave up
  // link/errors.ts
  | 'BXHIL_LINK_OPEN'
  | 'BXHIL_LINK_CLOSED'
  | 'BXHIL_LINK_CANCELED'
  | 'BXHIL_LINK_DISCONNECTED'
  | 'BXHIL_LINK_UNSUPPORTED'
  | 'BXHIL_SCRIPT_PENDING'
  | 'BXHIL_RIG_START' // link/testing.ts: socat or ser2net did not start (tests only)
  // at/errors.ts
  | 'BXHIL_AT_ERROR'
  | 'BXHIL_CME'
  | 'BXHIL_AT_TIMEOUT'
  | 'BXHIL_AT_RESET'
  | 'BXHIL_AT_RESYNC'
  | 'BXHIL_AT_PROTOCOL'
  | 'BXHIL_AT_CLOSED'
  | 'BXHIL_SECRET_ECHO'
  // bx310x/errors.ts
  | 'BXHIL_PARAM'
  | 'BXHIL_PARSE'
  | 'BXHIL_MQTT_ABORTED'
  | 'BXHIL_WIFI'
  // sim/errors.ts (SimErrorCode)
  | 'BXHIL_SIM_ATTACHED'
  | 'BXHIL_SIM_CLOSED'
  | 'BXHIL_SIM_STORE'
  | 'BXHIL_SIM_CONNECT'
  | 'BXHIL_SIM_TIMEOUT'
  // pki/errors.ts
  | 'BXHIL_PKI_SCENARIO'
  | 'BXHIL_PKI_INPUT'
  // broker/errors.ts
  | 'BXHIL_BROKER_START'
  | 'BXHIL_NO_CONTAINER_RUNTIME'
  | 'BXHIL_VERDICT_TIMEOUT'
  // run/
  | 'BXHIL_RIG_COMMAND' // run/errors.ts: a bench command (flash, power cycle) failed
  | 'BXHIL_RIG_COMMAND_TIMEOUT'
  | 'BXHIL_DEVICE_BROKEN' // run/device-session.ts: the device could not be brought up
  | 'BXHIL_KNOWN_ISSUE_MISMATCH' // run/known-issues.ts: a known issue failed differently
  | 'BXHIL_PREFLIGHT_BROKER'
  | 'BXHIL_PREFLIGHT_DNS'
  | 'BXHIL_PREFLIGHT_FIRMWARE_MISMATCH'
  // suites/ (the HIL suites' own findings)
  | 'BXHIL_SECURITY_FAILURE'
  | 'BXHIL_SUITE_CONNECT'
  // vitest/ (the fixtures)
  | 'BXHIL_LEFT_OPEN'; // vitest/fixtures.ts: a test left open a server or connection it opened

export class HarnessError extends Error {
  readonly code: HarnessErrorCode;

  constructor(code: HarnessErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad configuration found at the edge (a URI, a rig file, a CLI flag, a profile). */
export class ConfigError extends HarnessError {
  /** Dotted path of the offending field, e.g. `devices[0].uri` or `baud`. */
  readonly field: string;
  /** The offending value as given (never a secret: callers redact passwords first). */
  readonly value: unknown;

  constructor(field: string, value: unknown, message: string, options?: { cause?: unknown }) {
    super('BXHIL_CONFIG', message, options);
    this.field = field;
    this.value = value;
  }
}

/** A method was called in a state that does not allow it (labgrid's `check_active`). */
export class StateError extends HarnessError {
  readonly method: string;
  readonly state: string;

  constructor(method: string, state: string, message?: string, options?: { cause?: unknown }) {
    super('BXHIL_STATE', message ?? `${method}() is not allowed in state "${state}"`, options);
    this.method = method;
    this.state = state;
  }
}

/** Close a list of resources in reverse order, collecting every failure (docs/STYLE.md §8). */
export async function closeAll(closers: ReadonlyArray<() => unknown>, what = 'teardown'): Promise<void> {
  const errors: unknown[] = [];
  for (const close of [...closers].reverse()) {
    try {
      await close();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${what}: ${errors.length} resources failed to close`);
}
