/**
 * harness/files.ts: output folders and files checked at start, written without following a
 * planted symbolic link, secret logs kept private.
 */
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { closeSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError } from './errors.ts';
import {
  checkOutputDir,
  checkOutputFile,
  makeDirs,
  openAppendPrivate,
  writeFileAtomic,
  type OutputMarker,
} from './files.ts';

const dir = mkdtempSync(join(tmpdir(), 'bxhil-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (name = 'case') => join(dir, `${name}-${++n}`);

function refusal(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('BXHIL_CONFIG');
    expect((err as ConfigError).message).not.toContain('\n');
    return err as ConfigError;
  }
  throw new Error('expected a refusal');
}

const MARKER: OutputMarker = { name: '.bx-hil-test', text: 'test output', what: 'an earlier test output' };

describe('makeDirs', () => {
  test('a folder under /proc is refused at once (Node recursive mkdir spins forever there)', () => {
    if (!existsSync('/proc/self')) return void console.log('skipped: no /proc on this system');
    const started = Date.now();
    const err = refusal(() => makeDirs('/proc/bx-hil-no-such/report', '--out'));
    expect(err.field).toBe('--out');
    expect(err.message).toMatch(/cannot create the folder \/proc\/bx-hil-no-such/);
    expect(Date.now() - started).toBeLessThan(5_000); // a bounded walk, not a spin
  });

  test('a file or a dangling symbolic link on the way is named; a new nested folder is made', () => {
    const base = fresh();
    mkdirSync(base);
    writeFileSync(join(base, 'file'), '');
    symlinkSync(join(base, 'nowhere'), join(base, 'dangling'));
    expect(refusal(() => makeDirs(join(base, 'file', 'x'), '--out')).message).toMatch(
      /a part of the path is a file, not a folder/,
    );
    expect(refusal(() => makeDirs(join(base, 'dangling', 'x'), '--out')).message).toMatch(
      /dangling is a symbolic link to something that does not exist/,
    );
    expect(existsSync(join(base, 'nowhere'))).toBe(false);
    makeDirs(join(base, 'a', 'b', 'c'), '--out');
    expect(statSync(join(base, 'a', 'b', 'c')).isDirectory()).toBe(true);
  });

  test('a 5 KB name is refused as too long, shown shortened', () => {
    const err = refusal(() => makeDirs(join(dir, 'x'.repeat(5000)), '--out'));
    expect(err.message).toMatch(/the name is too long/);
    expect(err.message.length).toBeLessThan(400);
  });
});

describe('checkOutputDir with a marker', () => {
  test('a non-empty folder without the marker is refused and left as it was', () => {
    const out = fresh();
    mkdirSync(out);
    writeFileSync(join(out, 'README.md'), 'mine');
    expect(refusal(() => checkOutputDir(out, '--out', { marker: MARKER })).message).toMatch(
      /not empty and is not an earlier test output \(no \.bx-hil-test file in it\); choose a new or empty folder/,
    );
    expect(readdirSync(out)).toEqual(['README.md']);
  });

  test('a new folder gets the marker; an earlier output has only the listed entries cleared', () => {
    const out = fresh();
    checkOutputDir(out, '--out', { marker: MARKER, clear: ['evidence', 'results.json'] });
    expect(readFileSync(join(out, MARKER.name), 'utf8')).toBe('test output\n');
    mkdirSync(join(out, 'evidence', 'old'), { recursive: true });
    writeFileSync(join(out, 'evidence', 'old', 'keylog.txt'), 'CLIENT_RANDOM old');
    writeFileSync(join(out, 'results.json'), '{}');
    writeFileSync(join(out, 'notes.txt'), 'kept');
    checkOutputDir(out, '--out', { marker: MARKER, clear: ['evidence', 'results.json'] });
    expect(readdirSync(out).sort()).toEqual([MARKER.name, 'notes.txt']);
  });

  test('a marker that is a symbolic link does not make a folder ours', () => {
    const out = fresh();
    mkdirSync(out);
    writeFileSync(join(dir, 'elsewhere'), '');
    symlinkSync(join(dir, 'elsewhere'), join(out, MARKER.name));
    refusal(() => checkOutputDir(out, '--out', { marker: MARKER }));
  });
});

describe('writeFileAtomic', () => {
  test('a symbolic link planted at the target is replaced; its target is untouched', () => {
    const d = fresh();
    mkdirSync(d);
    const victim = join(d, 'victim');
    writeFileSync(victim, 'precious');
    symlinkSync(victim, join(d, 'ca.pem'));
    writeFileAtomic(join(d, 'ca.pem'), 'CERT', { mode: 0o600 });
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(lstatSync(join(d, 'ca.pem')).isFile()).toBe(true);
    expect(readFileSync(join(d, 'ca.pem'), 'utf8')).toBe('CERT');
    expect(statSync(join(d, 'ca.pem')).mode & 0o777).toBe(0o600);
    expect(readdirSync(d).sort()).toEqual(['ca.pem', 'victim']); // no temporary file left
  });
});

describe('checkOutputFile', () => {
  test('a missing folder, a folder as the file and (with refuse) an existing file are refused', () => {
    const d = fresh();
    mkdirSync(d);
    writeFileSync(join(d, 'exists'), 'x');
    expect(refusal(() => checkOutputFile(join(d, 'missing', 'f.tap'), '--tap')).message).toMatch(
      /the folder .*missing does not exist; create it first/,
    );
    expect(refusal(() => checkOutputFile(d, '--tap')).message).toMatch(/it is a folder/);
    expect(refusal(() => checkOutputFile(join(d, 'exists'), '--pty', { ifExists: 'refuse' })).message).toMatch(
      /already exists/,
    );
    expect(checkOutputFile(join(d, 'exists'), '--store')).toBe(join(d, 'exists'));
    expect(readdirSync(d)).toEqual(['exists']); // the write probe leaves nothing behind
  });
});

describe('openAppendPrivate', () => {
  test('creates 0600; appends to a 0600 file; refuses a 0644 one naming chmod 600, unchanged', () => {
    const d = fresh();
    mkdirSync(d);
    const p = join(d, 'keylog.txt');
    let fd = openAppendPrivate(p, '--keylog');
    writeSync(fd, 'one\n');
    closeSync(fd);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    fd = openAppendPrivate(p, '--keylog');
    writeSync(fd, 'two\n');
    closeSync(fd);
    expect(readFileSync(p, 'utf8')).toBe('one\ntwo\n');
    chmodSync(p, 0o644);
    expect(refusal(() => openAppendPrivate(p, '--keylog')).message).toMatch(/mode 0644.*run chmod 600 /);
    expect(statSync(p).mode & 0o777).toBe(0o644);
    expect(readFileSync(p, 'utf8')).toBe('one\ntwo\n');
  });

  test('a symbolic link is not followed', () => {
    const d = fresh();
    mkdirSync(d);
    writeFileSync(join(d, 'victim'), 'precious', { mode: 0o600 });
    symlinkSync(join(d, 'victim'), join(d, 'keylog.txt'));
    expect(refusal(() => openAppendPrivate(join(d, 'keylog.txt'), '--keylog')).message).toMatch(/symbolic link/);
    expect(readFileSync(join(d, 'victim'), 'utf8')).toBe('precious');
  });
});
