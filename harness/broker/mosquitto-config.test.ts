/** The Mosquitto config per profile, as the rig writes it (no process). */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBasicPki, type BasicPki } from '../pki/index.ts';
import { configFiles, writeMosquittoConfig } from './mosquitto-config.ts';
import type { ProfileName } from './types.ts';

let pki: BasicPki;
const dirs: string[] = [];
beforeAll(async () => {
  pki = await createBasicPki();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function write(profile: ProfileName, confDir?: string): { lines: string[]; files: string[]; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'bx-hil-mosq-conf-'));
  dirs.push(dir);
  const conf = writeMosquittoConfig(
    dir,
    { profile, pki, listener: 'listener 18883 127.0.0.1', extraConfig: ['max_qos 1'] },
    confDir,
  );
  return { lines: readFileSync(conf, 'utf8').trim().split('\n'), files: readdirSync(dir).sort(), dir };
}

describe('writeMosquittoConfig (a table)', () => {
  test.each([
    ['plain', ['allow_anonymous true'], ['require_certificate true', 'cafile']],
    ['tls-server-only', ['require_certificate false', 'allow_anonymous true', 'tls_version tlsv1.2'], ['use_identity']],
    [
      'mosquitto-like',
      ['require_certificate true', 'use_identity_as_username true', 'allow_anonymous false'],
      ['allow_anonymous true'],
    ],
    ['strict', ['require_certificate true', 'allow_anonymous false'], ['require_certificate false']],
  ] as const)('%s', (profile, has, hasNot) => {
    const { lines, files } = write(profile);
    expect(lines.slice(0, 9)).toContain('listener 18883 127.0.0.1');
    expect(lines.at(-1)).toBe('max_qos 1');
    for (const l of has) expect(lines).toContain(l);
    for (const l of hasNot) expect(lines.some((x) => x.startsWith(l))).toBe(false);
    expect(files).toEqual([...configFiles(profile)].sort());
  });

  test('paths inside the config point at confDir (a container), the files are written to dir', () => {
    const { lines, dir } = write('strict', '/mosquitto/config');
    expect(lines).toContain('cafile /mosquitto/config/ca.pem');
    expect(lines).toContain('keyfile /mosquitto/config/server.key');
    expect(readFileSync(join(dir, 'server.key'), 'utf8')).toBe(pki.server.keyPem);
  });
});
