/**
 * Output paths: every command that writes (run, broker, certs, preflight --tap, sim --store,
 * sim --pty, --keylog) checks its paths here at start, before any work, and writes through
 * here. A path that cannot be used is a `ConfigError` (code `BXHIL_CONFIG`, exit 2) whose one
 * line names the flag, the path and the fix; never a stack trace, never a hang.
 *
 * - `checkOutputDir`: create the folder (bounded, see `makeDirs`), prove it is writable and,
 *   with a marker, claim it: a non-empty folder without our marker is refused, and an earlier
 *   output of ours has the listed entries cleared so no stale evidence joins the new one.
 * - `checkOutputFile`: the folder of a file exists, is a folder and is writable.
 * - `writeFileAtomic`: write beside the target under a random name opened with
 *   O_CREAT|O_EXCL|O_NOFOLLOW, then rename over it: a symbolic link planted at the target or at
 *   a predictable temporary name is replaced, never followed.
 * - `openAppendPrivate`: a secret log (TLS key log) opened for append without following a link,
 *   created 0600, refused when an existing file is readable by others.
 *
 * Hand-written rather than a library (write-file-atomic, make-dir): those follow a symbolic
 * link at the target, use predictable names or call Node's recursive mkdir, which spins
 * forever under /proc (below); and this is ~200 lines.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from './errors.ts';

/** A path as printed in a one-line message: control characters escaped, long names shortened. */
export function showPath(path: string): string {
  const s = path.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return s.length > 160 ? `${s.slice(0, 80)}...${s.slice(-40)} (${path.length} characters)` : s;
}

/** What an errno means to a person choosing a path. */
function reason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'a folder on the way does not exist';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a folder';
    case 'ENAMETOOLONG':
      return 'the name is too long';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ELOOP':
      return 'it is a symbolic link (or a loop of them)';
    case 'ENOSPC':
      return 'the disk is full';
    case 'EISDIR':
      return 'it is a folder';
    default:
      return code ?? (err instanceof Error ? err.message : String(err));
  }
}

function refuse(field: string, path: string, what: string, fix: string, cause?: unknown): ConfigError {
  return new ConfigError(field, path, `${field} ${showPath(path)}: ${what}; ${fix}`, cause ? { cause } : undefined);
}

const FIX_OTHER = 'choose another path';

/** `statSync` that maps every error but ENOENT to a refusal; undefined when missing. */
function statOrMissing(field: string, path: string, stat: typeof statSync | typeof lstatSync): Stats | undefined {
  try {
    return stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw refuse(field, path, reason(err), FIX_OTHER, err);
  }
}

/**
 * `mkdir -p`, one level at a time, bounded by the number of path components. Node's
 * `mkdir(…, { recursive: true })` steps back to the parent on ENOENT and forward on EEXIST with
 * no bound (src/node_file.cc MKDirpSync/MKDirpAsync), so a folder that exists but cannot hold
 * children (`/proc`, which answers ENOENT) makes it spin at 100 % CPU forever.
 */
export function makeDirs(path: string, field: string): string {
  const abs = resolve(path);
  const missing: string[] = [];
  for (let p = abs; ;) {
    const st = statOrMissing(field, p, statSync);
    if (st) {
      if (!st.isDirectory())
        throw refuse(field, abs, `${p === abs ? 'it' : showPath(p)} is a file, not a folder`, FIX_OTHER);
      break;
    }
    if (statOrMissing(field, p, lstatSync))
      throw refuse(
        field,
        abs,
        `${p === abs ? 'it' : showPath(p)} is a symbolic link to something that does not exist`,
        'fix the link or choose another path',
      );
    missing.unshift(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statOrMissing(field, d, statSync)?.isDirectory())
        continue; // made meanwhile by someone else
      // ENOENT although the parent exists: a file system that takes no new folders (/proc, /sys).
      const why =
        (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file system there takes no new folders' : reason(err);
      throw refuse(field, abs, `cannot create the folder ${showPath(d)} (${why})`, FIX_OTHER, err);
    }
  }
  return abs;
}

const NEW_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Create `path` (it must not exist; a symbolic link there is not followed) with `data` and `mode`. */
export function createFileNoFollow(path: string, data: string | Uint8Array, mode = 0o644): void {
  const fd = openSync(path, NEW_FILE, mode);
  try {
    fchmodSync(fd, mode); // the mode as asked, whatever the umask
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

function randomName(base: string): string {
  return `.${base.slice(0, 100)}.${randomBytes(6).toString('hex')}.tmp`;
}

/** Prove `dir` takes a new file: create one under a random name and remove it. */
function probeWritable(dir: string, field: string, shown: string): void {
  const probe = join(dir, randomName('bx-hil-probe'));
  try {
    createFileNoFollow(probe, '', 0o600);
    unlinkSync(probe);
  } catch (err) {
    throw refuse(field, shown, `cannot write into ${showPath(dir)} (${reason(err)})`, FIX_OTHER, err);
  }
}

/**
 * Write `data` to `path` atomically: into a new file beside it under a random name (O_EXCL,
 * O_NOFOLLOW, exactly `mode`), then rename over `path`. A symbolic link at `path` is replaced,
 * its target untouched. Errors are the file system's (check the folder first with
 * `checkOutputDir`/`checkOutputFile`).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, options: { mode?: number } = {}): void {
  const tmp = join(dirname(path), randomName(basename(path)));
  createFileNoFollow(tmp, data, options.mode ?? 0o644);
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** A marker file that says a folder holds an earlier output of ours. */
export interface OutputMarker {
  /** File name, e.g. `.bx-hil-report`. */
  name: string;
  /** Its contents: one line saying what it is for. */
  text: string;
  /** How the refusal names what the folder is not, e.g. `an earlier bx-hil report`. */
  what: string;
}

export interface OutputDirOptions {
  /** Claim the folder: refuse a non-empty one without this marker; write it into a new one. */
  marker?: OutputMarker;
  /** With `marker`: entries of an earlier output removed before this one writes. */
  clear?: readonly string[];
}

/**
 * Check at start that `path` can be the output folder named by `field`: create it (and its
 * parents, bounded), prove it takes a file, and with `marker` claim it (see the file comment).
 * Returns the absolute path.
 */
export function checkOutputDir(path: string, field: string, options: OutputDirOptions = {}): string {
  const abs = makeDirs(path, field);
  const { marker } = options;
  if (!marker) {
    probeWritable(abs, field, abs);
    return abs;
  }
  const markerPath = join(abs, marker.name);
  let entries: string[];
  try {
    entries = readdirSync(abs);
  } catch (err) {
    throw refuse(field, abs, `cannot list it (${reason(err)})`, FIX_OTHER, err);
  }
  if (entries.length > 0) {
    if (!statOrMissing(field, markerPath, lstatSync)?.isFile())
      throw refuse(
        field,
        abs,
        `the folder is not empty and is not ${marker.what} (no ${marker.name} file in it)`,
        'choose a new or empty folder',
      );
    try {
      for (const e of options.clear ?? []) rmSync(join(abs, e), { recursive: true, force: true });
    } catch (err) {
      throw refuse(field, abs, `cannot clear the earlier output in it (${reason(err)})`, FIX_OTHER, err);
    }
    probeWritable(abs, field, abs);
    return abs;
  }
  try {
    createFileNoFollow(markerPath, `${marker.text}\n`);
  } catch (err) {
    throw refuse(field, abs, `cannot write into it (${reason(err)})`, FIX_OTHER, err);
  }
  return abs;
}

export interface OutputFileOptions {
  /** `refuse`: the path must not exist yet (a tool creates it and removes it at exit). Default `replace`. */
  ifExists?: 'replace' | 'refuse';
}

/**
 * Check at start that a file can be written at `path` (named by `field`): it is not a folder,
 * its folder exists and takes a new file. Returns the absolute path. The folder is not created:
 * a file path with a typo in its folder is more likely a mistake than a wish.
 */
export function checkOutputFile(path: string, field: string, options: OutputFileOptions = {}): string {
  const abs = resolve(path);
  const st = statOrMissing(field, abs, lstatSync);
  if (st?.isDirectory()) throw refuse(field, abs, 'it is a folder', 'give a file name');
  if (st && options.ifExists === 'refuse')
    throw refuse(field, abs, 'it already exists and would be replaced', 'give a path that does not exist');
  const dir = dirname(abs);
  const parent = statOrMissing(field, dir, statSync);
  if (!parent)
    throw refuse(
      field,
      abs,
      `the folder ${showPath(dir)} does not exist`,
      `create it first (mkdir -p ${showPath(dir)}) or choose another path`,
    );
  if (!parent.isDirectory()) throw refuse(field, abs, `${showPath(dir)} is a file, not a folder`, FIX_OTHER);
  probeWritable(dir, field, abs);
  return abs;
}

const APPEND = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

/**
 * Open a secret log (the TLS key log) for append: created with mode 0600; a symbolic link is
 * not followed; an existing file that others may read (any group/other bit) is refused rather
 * than appended to. Returns the file descriptor; the caller closes it.
 */
export function openAppendPrivate(path: string, field: string): number {
  const abs = checkOutputFile(path, field);
  let fd: number;
  try {
    fd = openSync(abs, APPEND, 0o600);
  } catch (err) {
    throw refuse(field, abs, `cannot open it (${reason(err)})`, 'give a regular file', err);
  }
  const st = fstatSync(fd);
  let problem: ConfigError | undefined;
  if (!st.isFile()) problem = refuse(field, abs, 'it is not a regular file', 'give a regular file');
  else if ((st.mode & 0o077) !== 0)
    problem = refuse(
      field,
      abs,
      `it holds secrets but is mode ${(st.mode & 0o777).toString(8).padStart(4, '0')} (others may read it)`,
      `run chmod 600 ${showPath(abs)} or give a new file`,
    );
  if (problem) {
    closeSync(fd);
    throw problem;
  }
  return fd;
}
