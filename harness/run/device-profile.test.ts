/**
 * Which profile a device runs against (device-profile.ts) and where that choice shows: the lab
 * file's `profile:`/`profiles:`, preflight's firmware check, the report header and the
 * comparison of two runs. The end-to-end run over a pty is harness/cli/serial-profile.test.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError } from '../errors.ts';
import { buildReportModel, compareResults, formatComparison, renderReportHtml } from '../report/index.ts';
import { sampleRun } from '../report/testing.ts';
import type { RunResults } from '../report/index.ts';
import { chooseProfile, givenProfileFirmware, profileInfoOf } from './device-profile.ts';
import { parseLab } from './lab.ts';
import { preflightDevice, preflightFailure, type PreflightPort } from './preflight.ts';

const dir = mkdtempSync(join(tmpdir(), 'bx-hil-device-profile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const folder = join(dir, 'profiles');
mkdirSync(folder);
const mine = join(folder, 'mine.json');
writeFileSync(mine, JSON.stringify({ extends: '2.6.3', name: 'mine', identity: { cgmr: '7.0.0-mine' } }));
const probed = join(dir, 'probed.json');
writeFileSync(
  probed,
  JSON.stringify({
    extends: 'legacy',
    name: 'probed',
    sources: { name: '[probe 2026-11-30] bx-hil probe on bench-a' },
  }),
);

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('chooseProfile', () => {
  test('a sim: device runs against the profile its URI names', () => {
    expect(chooseProfile({ uri: 'sim:legacy?clock=1970', firmware: '2.6.3' }).info).toEqual({
      name: 'legacy',
      source: 'shipped',
      chosenBy: 'sim',
    });
  });

  test('a named profile wins over AT+CGMR; a probe-learned file carries its date and path', () => {
    expect(chooseProfile({ uri: 'serial:/dev/x', profile: 'legacy', firmware: '2.6.3' }).info.name).toBe('legacy');
    expect(chooseProfile({ uri: 'serial:/dev/x', profile: probed, firmware: '1.3.0' }).info).toEqual({
      name: 'probed',
      source: 'probe',
      path: probed,
      learnedAt: '2026-11-30',
      chosenBy: 'given',
    });
  });

  test.each([
    ['2.6.3', '2.6.3'],
    ['1.3.0', 'legacy'],
  ])('AT+CGMR %s picks the shipped profile %s', (firmware, name) => {
    const c = chooseProfile({ uri: 'tcp://127.0.0.1:1', firmware });
    expect(c.info).toEqual({ name, source: 'shipped', chosenBy: 'cgmr' });
    expect(c.profile.capabilities.length).toBeGreaterThan(0);
  });

  test('a user profile is matched only from the lab file profiles: folder, never found elsewhere', () => {
    const without = chooseProfile({ uri: 'tcp://127.0.0.1:1', firmware: '7.0.0-mine' });
    expect(without.info).toMatchObject({ name: 'reference', chosenBy: 'fallback' });
    expect(without.info.note).toContain('no profile matches firmware "7.0.0-mine"');
    const withFolder = chooseProfile({ uri: 'tcp://127.0.0.1:1', firmware: '7.0.0-mine', profilesDir: folder });
    expect(withFolder.info).toEqual({ name: 'mine', source: 'file', path: mine, chosenBy: 'cgmr' });
  });

  test('no firmware read: reference, and the note says why', () => {
    const c = chooseProfile({ uri: 'tcp://127.0.0.1:1' });
    expect(c.profile.name).toBe('reference');
    expect(c.info.note).toContain('could not be read');
  });

  test('preflight holds a named profile to its firmware, except reference and sim:', () => {
    expect(givenProfileFirmware({ uri: 'serial:/dev/x', profile: '2.6.3' })).toEqual({
      name: '2.6.3',
      firmware: '2.6.3',
    });
    expect(givenProfileFirmware({ uri: 'serial:/dev/x', profile: 'reference' })).toBeUndefined();
    expect(givenProfileFirmware({ uri: 'serial:/dev/x' })).toBeUndefined();
    expect(profileInfoOf('2.6.3', chooseProfile({ uri: 'sim:2.6.3' }).profile, 'sim').source).toBe('shipped');
  });
});

describe('the lab file names profiles', () => {
  test('profile: and profiles: resolve against the lab file folder', () => {
    writeFileSync(join(dir, 'rel.json'), JSON.stringify({ extends: 'reference', name: 'rel' }));
    const lab = parseLab(
      { profiles: 'profiles', devices: [{ uri: 'tcp://127.0.0.1:1', profile: 'rel.json' }, { uri: 'tcp://h:2' }] },
      dir,
    );
    expect(lab.devices[0]!.profile).toBe(join(dir, 'rel.json'));
    expect(lab.devices[1]!.profile).toBeUndefined();
    expect(lab.profiles).toBe(folder);
  });

  test.each([
    [{ devices: [{ uri: 'sim:2.6.3', profile: 'legacy' }] }, 'devices[0].profile', 'already names its profile'],
    [{ devices: [{ uri: 'tcp://h:1', profile: '2.6.4' }] }, 'devices[0].profile', 'unknown profile "2.6.4"'],
    [{ devices: [{ uri: 'tcp://h:1', profile: './missing.json' }] }, 'devices[0].profile', 'does not exist'],
    [{ profiles: 'nope', devices: ['tcp://h:1'] }, 'profiles', 'not a readable folder'],
  ])('%j is refused naming %s', (doc, field, why) => {
    const err = configError(() => parseLab(doc, dir));
    expect(err.field).toBe(field);
    expect(err.message).toContain(why);
  });

  test('an invalid profile in the profiles: folder names its file and field', () => {
    const bad = join(dir, 'bad-folder');
    mkdirSync(bad);
    writeFileSync(join(bad, 'broken.json'), JSON.stringify({ extends: '2.6.3', tls: { minVersion: 'TLSv9' } }));
    const err = configError(() => parseLab({ profiles: 'bad-folder', devices: ['tcp://h:1'] }, dir));
    expect(err.field).toBe('profiles: broken.json');
    expect(err.message).toContain('tls.minVersion');
  });
});

describe('preflight checks the firmware the profile is for', () => {
  const port = (firmware: string): PreflightPort => ({
    open: async () => ({
      ping: async () => {},
      identity: async () => ({ model: 'BX3105', firmware }),
      joinWifi: async () => {},
      mqttProbe: async () => {},
      close: async () => {},
    }),
    startProbeBroker: async () => ({ port: 1, close: async () => {} }),
  });
  const [device] = parseLab({ devices: ['tcp://h:1'] }).devices;

  test('another build than the profile names is a rig problem naming both and the fix', async () => {
    const r = await preflightDevice(device!, port('2.7.0'), { profile: { name: '2.6.3', firmware: '2.6.3' } });
    const failure = preflightFailure(r)!;
    expect(failure).toMatchObject({ name: 'profile-firmware', category: 'rig' });
    expect(failure.code).toBe('BXHIL_PREFLIGHT_FIRMWARE_MISMATCH');
    expect(failure.detail).toMatch(/"2\.7\.0".*profile 2\.6\.3.*"2\.6\.3".*flash the build you meant/);
  });

  test('the build the profile names passes', async () => {
    const r = await preflightDevice(device!, port('2.6.3'), { profile: { name: '2.6.3', firmware: '2.6.3' } });
    expect(r.ok).toBe(true);
  });
});

describe('the report and the comparison say which profile', () => {
  const withProfile = (r: RunResults, name: string, note?: string): RunResults => ({
    ...r,
    devices: r.devices.map((d) => ({
      ...d,
      profile: { name, source: 'shipped', chosenBy: note ? 'fallback' : 'cgmr', ...(note ? { note } : {}) },
    })),
  });

  test('compare warns when the runs held the module to different profiles, not when they agree', () => {
    const base = withProfile(sampleRun('2.6.2'), '2.6.3');
    const warn = compareResults(base, withProfile(sampleRun('2.6.3'), 'reference'));
    expect(warn.profileWarnings).toHaveLength(1);
    expect(warn.profileWarnings[0]).toContain('profile 2.6.3 (shipped), the candidate against reference (shipped)');
    expect(formatComparison(warn)).toContain('warning: ');
    expect(compareResults(base, withProfile(sampleRun('2.6.3'), '2.6.3')).profileWarnings).toEqual([]);
  });

  test('the report header names each column profile and a fallback note', async () => {
    const run = withProfile(
      sampleRun('2.6.3'),
      'reference',
      'no profile matches firmware "9.9": running against reference',
    );
    const html = renderReportHtml(await buildReportModel(dir, run));
    expect(html).toMatch(/id="profiles">Profiles: [^<]*reference \(shipped\)/);
    expect(html).toContain('no profile matches firmware &quot;9.9&quot;: running against reference');
  });
});
