/**
 * The module store file (`--store`, `sim:…?store=`) holds private keys: it is checked when the
 * module starts and rewritten without following a symbolic link planted beside it.
 */
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { Stores } from './stores.ts';

const dir = mkdtempSync(join(tmpdir(), 'bxhil-stores-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('module store file', () => {
  test('a symbolic link planted at the old temporary name receives nothing; the store is a 0600 file', () => {
    const d = join(dir, 'planted');
    mkdirSync(d);
    const victim = join(d, 'victim');
    writeFileSync(victim, 'precious');
    const store = join(d, 'store.json');
    symlinkSync(victim, `${store}.tmp`);
    new Stores(store).preload({ keys: ['-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n'] });
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(lstatSync(store).isFile()).toBe(true);
    expect(lstatSync(store).mode & 0o777).toBe(0o600);
    expect(new Stores(store).keys[0]?.toString()).toContain('secret');
  });

  test('a store in a missing folder is refused when the module starts, not on the first upload', () => {
    expect(() => new Stores(join(dir, 'missing', 'store.json'))).toThrow(
      expect.objectContaining({ code: 'BXHIL_SIM_STORE', message: expect.stringMatching(/does not exist/) }),
    );
  });
});
