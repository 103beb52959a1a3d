/**
 * The one base class of every error the harness throws on purpose (undici's scheme, STYLE.md §4).
 *
 * `code` is stable and is what tests and callers match on; messages are for people and may
 * change. Layer-specific subclasses live beside their layer (`link/errors.ts`, `at/errors.ts`,
 * `bx310x/errors.ts`, ...). Messages carry the evidence and the remedy (STYLE.md §5).
 */
export class HarnessError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
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

/** Close a list of resources in reverse order, collecting every failure (STYLE.md §8). */
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
