/**
 * What every probe step gets (`StepContext`) and leaves behind (`Learned` values and `Check`s).
 * A step writes each value into the context as soon as an exchange decides it, so a module that
 * stops answering mid-step still leaves the values learned before.
 */
import type { Profile } from '../sim/index.ts';
import type { Exchange, Wire } from './wire.ts';

export interface Learned {
  /** Dotted profile field, e.g. `keys.readForm`. */
  field: string;
  value: unknown;
  /** The exchanges (their `n`) that decided it. */
  exchanges: number[];
  /** How the value was decided, in words. */
  how: string;
}

/** A documented answer with no profile field of its own (error codes): checked and reported. */
export interface Check {
  what: string;
  expected: string;
  got: string;
  exchange: number;
}

export interface StepContext {
  wire: Wire;
  base: Profile;
  allowWrites: boolean;
  /** Slots the user allows the probe to overwrite although they hold something (`local:<i>`). */
  slots: readonly string[];
  force: boolean;
  /** The ATI answer (the sentinel of raw exchanges), once the identity step has run. */
  ati: string;
  /** An AT+KMQTTCFG `<version>` the module takes (4 until the params step knows). */
  version: number;
  learned: Map<string, Learned>;
  checks: Check[];
  /** Session ids the probe created and has not deleted yet (deleted at the end, whatever happens). */
  sessions: Set<number>;
  /** Notes for the report (what could not be decided and why). */
  notes: string[];
  learn(field: string, value: unknown, exchanges: Exchange[], how: string): void;
}

export interface Step {
  name: string;
  /** The profile fields this step can decide (the round-trip test compares exactly these). */
  fields: readonly string[];
  run(ctx: StepContext): Promise<void>;
}

/** `+CME ERROR: 918` → 918; anything else undefined. */
export function cmeOf(final: string): number | undefined {
  const m = /^\+CME ERROR: ?(\d+)$/.exec(final);
  return m ? Number(m[1]) : undefined;
}

/**
 * The silence the probe keeps around `+++` in its uploads, ms: twice the base's guard time (at
 * least 100 ms), so a module a little slower than its base still sees the escape.
 */
export function uploadGuardMs(base: Profile): number {
  return Math.max(2 * base.uploads.guardTimeMs, 100);
}
