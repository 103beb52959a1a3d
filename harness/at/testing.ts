/**
 * Helpers for the AT engine's tests (only tests import this file).
 */
import type { AtError } from './errors.ts';

/** The error `p` rejects with; throws when it resolves instead. */
export async function rejection(p: Promise<unknown>): Promise<AtError> {
  try {
    await p;
  } catch (err) {
    return err as AtError;
  }
  throw new Error('expected a rejection');
}
