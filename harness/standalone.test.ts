/**
 * A clone stands alone: nothing in the repository points at a path outside it. A reader who
 * clones the project has the repository and nothing beside it, so every citation of the reference
 * names `docs/reference/<file>`, and every relative Markdown link resolves to a file in the tree.
 *
 * The files are the ones git knows (tracked, or new and not ignored); without git (an unpacked
 * tarball) the tree is walked instead, minus what `.gitignore` names at top level.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

/** Generated, or quotes what other registries publish: not written by the project. */
const SKIP = new Set(['package-lock.json']);

function gitFiles(): string[] | undefined {
  try {
    const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 64 * 1024 * 1024,
    });
    return out.split('\0').filter(Boolean);
  } catch {
    return undefined; // no git, or not a work tree
  }
}

function walkedFiles(): string[] {
  const ignoreFile = join(root, '.gitignore');
  const ignored = new Set(['.git', 'node_modules']);
  if (existsSync(ignoreFile)) {
    for (const line of readFileSync(ignoreFile, 'utf8').split('\n')) {
      const name = line.trim().replace(/\/$/, '');
      if (name && !name.startsWith('#') && !name.startsWith('!') && !/[*/]/.test(name)) ignored.add(name);
    }
  }
  const walk = (dir: string): string[] =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
      const rel = dir ? `${dir}/${e.name}` : e.name;
      if (ignored.has(e.name)) return [];
      return e.isDirectory() ? walk(rel) : e.isFile() ? [rel] : [];
    });
  return walk('');
}

/** The project's text files, repo-relative with `/`; a file deleted in the work tree is gone. */
function projectFiles(): { path: string; text: string }[] {
  const list = gitFiles() ?? walkedFiles();
  return list
    .filter((p) => !SKIP.has(p) && existsSync(join(root, p)) && statSync(join(root, p)).isFile())
    .map((p) => ({ path: p, bytes: readFileSync(join(root, p)) }))
    .filter(({ bytes }) => !bytes.includes(0)) // binary
    .map(({ path, bytes }) => ({ path, text: bytes.toString('utf8') }));
}

/**
 * Spellings of a path outside the repository. Built from pieces so that this file does not
 * match itself. URLs are removed before matching: `https://host/work/...` is not a local path.
 */
const OUTSIDE: { what: string; re: RegExp }[] = [
  { what: 'a sibling folder of the repository', re: new RegExp(['\\.\\.', 'shared'].join('/')) },
  { what: 'the reference outside docs/', re: new RegExp(`(?<!docs/)${['shared', 'reference'].join('/')}`) },
  { what: 'a path on the machine the project was written on', re: new RegExp(['', 'work', ''].join('/')) },
];
const URL_RE = /\b[a-z][a-z0-9+.-]*:\/\/[^\s)>\]'"`]+/gi;

/** Every line of `text` that names a path outside the repository, as `path:line: what`. */
function outsideReferences(path: string, text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, i) => {
    const bare = line.replace(URL_RE, '');
    const hit = OUTSIDE.find(({ re }) => re.test(bare));
    if (hit) found.push(`${path}:${i + 1}: ${hit.what}: ${line.trim()}`);
  });
  return found;
}

/** Markdown without fenced code blocks and inline code spans (a `[a](b)` there is not a link). */
function proseOf(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split('\n').map((line) => {
    const m = /^\s*(```+|~~~+)/.exec(line);
    if (m) {
      if (fence === undefined) fence = m[1]![0]!;
      else if (m[1]![0] === fence) fence = undefined;
      return '';
    }
    return fence === undefined ? line.replace(/(`+)[\s\S]*?\1/g, '') : '';
  });
}

/**
 * Relative links of a Markdown file (`[x](target)`, `![x](target)`, `[x]: target`) that leave the
 * repository or name nothing in it, as `path:line: target (why)`. `exists` says whether a
 * repo-relative path is a file or folder of the project.
 */
function brokenLinks(path: string, markdown: string, exists: (rel: string) => boolean): string[] {
  const found: string[] = [];
  proseOf(markdown).forEach((line, i) => {
    const targets = [
      ...[...line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
      ...[...line.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/g)].map((m) => m[1]!),
    ];
    for (const target of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue; // URL, mailto, anchor
      const file = decodeURIComponent(target.replace(/[#?].*$/, ''));
      const rel = normalize(file.startsWith('/') ? file.slice(1) : join(dirname(path), file))
        .split(sep)
        .join('/');
      const where = `${path}:${i + 1}: ${target}`;
      if (isAbsolute(rel) || rel === '..' || rel.startsWith('../')) found.push(`${where} (outside the repository)`);
      else if (!exists(rel)) found.push(`${where} (no such file in the repository)`);
    }
  });
  return found;
}

const files = projectFiles();
const known = new Set(files.map((f) => f.path));
const existsInRepo = (rel: string): boolean =>
  rel === '.' || known.has(rel) || [...known].some((p) => p.startsWith(`${rel.replace(/\/$/, '')}/`));

describe('the repository stands alone', () => {
  test('the scan sees the project (README, docs, harness, the reference)', () => {
    for (const p of ['README.md', 'docs/reference/README.md', 'docs/reference/bx310x-at.md', 'harness/errors.ts'])
      expect(known, p).toContain(p);
  });

  test('no file names a path outside the repository', () => {
    expect(files.flatMap((f) => outsideReferences(f.path, f.text))).toEqual([]);
  });

  test('every relative Markdown link resolves to a file in the repository', () => {
    const md = files.filter((f) => f.path.endsWith('.md'));
    expect(md.length).toBeGreaterThan(10);
    expect(md.flatMap((f) => brokenLinks(f.path, f.text, existsInRepo))).toEqual([]);
  });

  test('every docs/reference/<file> cited in code or docs exists', () => {
    const cited = files.flatMap((f) =>
      [...f.text.matchAll(/\bdocs\/reference\/([\w.-]+\.md)\b/g)].map((m) => ({ from: f.path, file: m[1]! })),
    );
    expect(cited.length).toBeGreaterThan(50); // the code cites the reference; a scan that sees none is broken
    expect(cited.filter((c) => !known.has(`docs/reference/${c.file}`))).toEqual([]);
  });

  test('a reference file is cited by its path, never by its bare name', () => {
    const names = [...known]
      .filter((p) => p.startsWith('docs/reference/') && p.endsWith('.md') && p !== 'docs/reference/README.md')
      .map((p) => p.slice('docs/reference/'.length));
    expect(names.length).toBeGreaterThanOrEqual(5); // the AT dialect, the broker rules, ...
    const bare = new RegExp(`(?<![\\w./-])(${names.map((n) => n.replace(/[.]/g, '\\.')).join('|')})`, 'g');
    const found = files
      .filter((f) => !f.path.startsWith('docs/reference/'))
      .flatMap((f) =>
        f.text.split('\n').flatMap((line, i) =>
          // In Markdown the text of a link may be the bare name: its target is the path.
          [...(f.path.endsWith('.md') ? line.replace(/\[[^\]]*\]\([^)]*\)/g, '') : line).matchAll(bare)].map(
            (m) => `${f.path}:${i + 1}: ${m[1]}`,
          ),
        ),
      );
    expect(found).toEqual([]);
  });

  test('the design and style notes are cited as docs/DESIGN.md and docs/STYLE.md outside docs/', () => {
    expect(known.has('docs/DESIGN.md') && known.has('docs/STYLE.md')).toBe(true);
    const bare = /(?<![\w./-])(DESIGN|STYLE)\.md/g;
    const found = files
      .filter((f) => !f.path.startsWith('docs/') && f.path !== 'CHANGELOG.md')
      .flatMap((f) =>
        f.text.split('\n').flatMap((line, i) => [...line.matchAll(bare)].map((m) => `${f.path}:${i + 1}: ${m[0]}`)),
      );
    expect(found).toEqual([]);
  });

  test('no tracker numbers: a comment says its reason, not the number of an issue in a tracker the reader lacks', () => {
    const tracker = /\bissues? #?\d+/i;
    const found = files
      .filter((f) => !f.path.startsWith('docs/reference/'))
      .flatMap((f) =>
        f.text.split('\n').flatMap((line, i) => (tracker.test(line) ? [`${f.path}:${i + 1}: ${line.trim()}`] : [])),
      );
    expect(found).toEqual([]);
  });

  test('the checks themselves: each kind of outside path and broken link is caught', () => {
    const dots = ['..', 'shared', 'reference', 'x.md'].join('/');
    expect(outsideReferences('a.ts', `// see ${dots}`)).toHaveLength(1);
    expect(outsideReferences('a.ts', `// see ${['shared', 'reference', 'x.md'].join('/')}`)).toHaveLength(1);
    expect(outsideReferences('a.ts', `// see ${['', 'work', 'shared', 'x.md'].join('/')}`)).toHaveLength(1);
    expect(outsideReferences('a.ts', '// see docs/guide/x.md and https://example.org/work/x')).toEqual([]);
    const exists = (rel: string) => rel === 'docs/guide/x.md' || rel === 'README.md';
    expect(brokenLinks('docs/a.md', '[x](guide/x.md#s) [r](../README.md) [u](https://e.org/y)', exists)).toEqual([]);
    expect(brokenLinks('docs/a.md', '[x](../../elsewhere/x.md)', exists)).toEqual([
      'docs/a.md:1: ../../elsewhere/x.md (outside the repository)',
    ]);
    expect(brokenLinks('docs/a.md', 'text\n[x](guide/y.md)', exists)).toEqual([
      'docs/a.md:2: guide/y.md (no such file in the repository)',
    ]);
    expect(brokenLinks('a.md', '[x]: docs/nope.md', exists)).toHaveLength(1);
    expect(brokenLinks('a.md', '```\n[x](nope.md)\n```\n`[y](nope.md)`', exists)).toEqual([]);
  });
});
