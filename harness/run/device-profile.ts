/**
 * Which firmware profile a device runs against (docs/lab-file.md "Profiles"). The profile is DATA
 * the runner reads (harness/sim's loader and schema, its public face); a real device gets its
 * capabilities, sources and known issues from it, never the simulator-only knobs.
 *
 * The choice, in order:
 * 1. a `sim:` device: the profile its URI names (`sim:2.6.3`, `sim:./mine.json`);
 * 2. `profile:` of the lab file's device, or `bx-hil run --profile`: that one (`given`);
 * 3. the module's AT+CGMR equal to a profile's `identity.cgmr`: the user profiles of the lab
 *    file's `profiles:` folder first (sorted by file name), then the shipped ones (`cgmr`);
 * 4. none: `reference`, the documented behaviour, with a note the run prints once (`fallback`).
 *
 * User profiles are found only there (a `profile:`/`--profile` path or the `profiles:` folder),
 * never by searching the disk: a profile file lying around cannot change what a module is held to.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import type { ProfileInfo } from '../report/index.ts';
import { loadProfile, shippedProfiles, type Profile } from '../sim/index.ts';

export type { ProfileInfo };

/** The profile used when nothing names one and no AT+CGMR matches. */
export const FALLBACK_PROFILE = 'reference';

/** A profile and where it came from. */
export interface ChosenProfile {
  profile: Profile;
  info: ProfileInfo;
}

const isShipped = (spec: string): boolean => (shippedProfiles as readonly string[]).includes(spec);

/** `[probe 2026-11-30] ...` in `sources.name`: a profile `bx-hil probe` wrote, and when. */
const PROBE_TAG = /^\[probe (\d{4}-\d{2}-\d{2})[^\]]*\]/;

/**
 * Load a profile by shipped name or JSON file path; a problem is a `ConfigError` naming `field`
 * (`--profile`, `devices[0].profile`) and the fix.
 */
export function loadProfileAs(spec: string, field: string): Profile {
  try {
    return loadProfile(spec);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError(field, spec, `${field}: ${err.message}`, { cause: err });
  }
}

/** Where a loaded profile came from, for the report. */
export function profileInfoOf(spec: string, profile: Profile, chosenBy: ProfileInfo['chosenBy']): ProfileInfo {
  if (isShipped(spec)) return { name: profile.name, source: 'shipped', chosenBy };
  const probe = PROBE_TAG.exec(profile.sources['name'] ?? '');
  return probe
    ? { name: profile.name, source: 'probe', path: spec, learnedAt: probe[1]!, chosenBy }
    : { name: profile.name, source: 'file', path: spec, chosenBy };
}

/** The `*.json` profiles of a lab file's `profiles:` folder, each validated (a bad one names its file). */
export function userProfiles(folder: string, field = 'profiles'): Array<{ path: string; profile: Profile }> {
  let names: string[];
  try {
    if (!statSync(folder).isDirectory()) throw new Error('not a folder');
    names = readdirSync(folder)
      .filter((n) => n.toLowerCase().endsWith('.json'))
      .sort();
  } catch (cause) {
    throw new ConfigError(
      field,
      folder,
      `${field}: ${folder} is not a readable folder (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}); give the folder holding your JSON profiles`,
      { cause },
    );
  }
  return names.map((n) => {
    const path = join(folder, n);
    return { path, profile: loadProfileAs(path, `${field}: ${n}`) };
  });
}

/** The profile spec a `sim:` URI names (`sim:` alone is 2.6.3). */
export function simProfileSpec(uri: string): string {
  return decodeURIComponent(new URL(uri).pathname) || '2.6.3';
}

/** What the choice needs: the device, what names its profile, and the firmware it reported. */
export interface ProfileChoice {
  uri: string;
  /** `profile:` of the lab file (resolved against the lab file's folder) or `--profile`. */
  profile?: string;
  /** The lab file's `profiles:` folder (resolved). */
  profilesDir?: string;
  /** AT+CGMR as read from the module; undefined when it could not be read. */
  firmware?: string;
}

/** Choose the profile (see the file comment). Throws `ConfigError` only for a bad profile file. */
export function chooseProfile(c: ProfileChoice): ChosenProfile {
  if (c.uri.startsWith('sim:')) {
    const spec = simProfileSpec(c.uri);
    const profile = loadProfileAs(spec, 'device');
    return { profile, info: profileInfoOf(spec, profile, 'sim') };
  }
  if (c.profile !== undefined) {
    const profile = loadProfileAs(c.profile, 'profile');
    return { profile, info: profileInfoOf(c.profile, profile, 'given') };
  }
  const firmware = c.firmware?.trim();
  if (firmware) {
    const candidates = [
      ...(c.profilesDir ? userProfiles(c.profilesDir) : []),
      ...shippedProfiles.map((name) => ({ path: name as string, profile: loadProfile(name) })),
    ];
    const hit = candidates.find((p) => p.profile.identity.cgmr.trim() === firmware);
    if (hit) return { profile: hit.profile, info: profileInfoOf(hit.path, hit.profile, 'cgmr') };
  }
  const profile = loadProfile(FALLBACK_PROFILE);
  const info = profileInfoOf(FALLBACK_PROFILE, profile, 'fallback');
  info.note =
    firmware === undefined || firmware === ''
      ? `the firmware could not be read, so no profile was matched: running against ${FALLBACK_PROFILE}, the documented behaviour`
      : `no profile matches firmware "${firmware}" (AT+CGMR): running against ${FALLBACK_PROFILE}, the documented behaviour; name one with profile: in the lab file or --profile`;
  return { profile, info };
}

/**
 * The firmware a `profile:` / `--profile` holds the module to (its `identity.cgmr`), or
 * undefined when nothing is to be checked: no profile given, a `sim:` device, or `reference`
 * (the documented behaviour, not a firmware build; any module may be held to it).
 */
export function givenProfileFirmware(device: {
  uri: string;
  profile?: string;
}): { name: string; firmware: string } | undefined {
  if (device.profile === undefined || device.uri.startsWith('sim:')) return undefined;
  const profile = loadProfileAs(device.profile, 'profile');
  if (device.profile === FALLBACK_PROFILE) return undefined;
  return { name: profile.name, firmware: profile.identity.cgmr };
}

/**
 * Resolve a `profile:` value against the lab file's folder. A name stays a name (shipped, or
 * unknown: then the loader says which names exist); only a path (a slash, a backslash or `.json`) is resolved.
 */
export function resolveProfileSpec(spec: string, baseDir: string): string {
  return isShipped(spec) || !/[\\/]|\.json$/i.test(spec) ? spec : resolve(baseDir, spec);
}
