/**
 * Which timing the virtual module runs by (docs/sim.md §Timing): `instant` (the default: no
 * pacing, no latencies, so `npm test` stays fast), `realistic` (the profile's `timing` block),
 * a JSON file holding a timing block, or a block given as an object. A file or an object is
 * parsed over the PROFILE's realistic block, so it states only what it knows (a measured
 * module's TLS figures, a slower line) and keeps the rest realistic; a block that should start
 * from nothing says so with every field (or starts from `instant` in the lab file).
 */
import { existsSync, readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import { INSTANT_TIMING, parseTiming, type Timing } from '../timing.ts';
import type { Profile } from './profile.ts';

/** `instant`, `realistic`, a path to a JSON timing block, or a block (parsed over the profile's). */
export type TimingSetting = 'instant' | 'realistic' | string | Partial<Timing> | Timing;

/** Whether `text` reads as a file path rather than a timing name. */
export function isTimingPath(text: string): boolean {
  return /[\\/]|\.json$/i.test(text);
}

/**
 * Check the syntax of a timing setting given as text (`instant`, `realistic`, `<file.json>`)
 * without reading anything: a `ConfigError` naming `field` otherwise.
 */
export function checkTimingText(text: string, field = 'timing'): void {
  if (text === 'instant' || text === 'realistic' || isTimingPath(text)) return;
  throw new ConfigError(
    field,
    text,
    `${field} must be instant, realistic or a path to a JSON timing block (e.g. ./bx3105.timing.json), not "${text}"`,
  );
}

/** The timing in force for `setting` on `profile`; `ConfigError`s name `field`. */
export function resolveTiming(setting: TimingSetting | undefined, profile: Profile, field = 'timing'): Timing {
  if (setting === undefined || setting === 'instant' || setting === INSTANT_TIMING) return INSTANT_TIMING;
  if (setting === 'realistic') return profile.timing;
  if (typeof setting === 'string') {
    checkTimingText(setting, field);
    return parseTiming(readTimingFile(setting, field), field, { ...profile.timing, name: setting });
  }
  return parseTiming(setting, field, { ...profile.timing, name: 'custom' });
}

function readTimingFile(path: string, field: string): unknown {
  if (!existsSync(path))
    throw new ConfigError(field, path, `${field}: timing file ${path} does not exist: give a JSON timing block`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new ConfigError(field, path, `${field}: timing file ${path} is not valid JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
}
