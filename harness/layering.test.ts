/**
 * Imports only point down (DESIGN.md "The data path", STYLE.md §1). This test reads every
 * production file's imports and fails on an edge the table below does not allow.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = dirname(fileURLToPath(import.meta.url));

/** Which harness areas each area may import. `base` = the top-level files of harness/. */
const allowed: Record<string, string[]> = {
  base: ['base'],
  link: ['base', 'link'],
  at: ['base', 'link', 'at'],
  bx310x: ['base', 'link', 'at', 'bx310x'],
  // The simulator implements the link contract but shares no parsing code with at/bx310x.
  sim: ['base', 'link', 'sim'],
  pki: ['base', 'pki'],
  // The judgement (evidence -> verdict) sits below the broker, which records and asks it; it
  // reads the module's lines through the AT parser and the driver's URC table.
  diagnose: ['base', 'link', 'at', 'bx310x', 'diagnose'],
  broker: ['base', 'pki', 'diagnose', 'broker'],
  // Lab services (the DNS responder) sit beside the broker: base and evidence, never the driver.
  lab: ['base', 'diagnose', 'lab'],
  report: ['base', 'diagnose', 'report'],
  cli: ['base', 'link', 'at', 'bx310x', 'sim', 'pki', 'broker', 'lab', 'diagnose', 'report', 'cli', 'run'],
  run: ['base', 'link', 'at', 'bx310x', 'sim', 'pki', 'broker', 'lab', 'diagnose', 'report', 'run'],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return files(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.contract.ts') ? [p] : [];
  });
}

function areaOf(file: string): string {
  const rel = relative(root, file).split(/[\\/]/);
  if (rel.length === 1) {
    // Top-level wiring files may import the areas they wire; everything else is base.
    return rel[0] === 'targets.ts' ? 'cli' : 'base';
  }
  return rel[0]!;
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs: string[] = [];
  for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    specs.push((m[1] ?? m[2])!);
  }
  return specs;
}

describe('layering', () => {
  const all = files(root);

  test('finds the production files', () => {
    expect(all.length).toBeGreaterThan(3);
  });

  test('no upward or sideways imports between harness areas', () => {
    const violations: string[] = [];
    for (const file of all) {
      const from = areaOf(file);
      for (const spec of importsOf(file)) {
        // The CLI may start Vitest through its Node API (`bx-hil run`); nothing may use its test API.
        const vitestNodeApi = spec === 'vitest/node' && from === 'cli';
        if (((spec === 'vitest' || spec.startsWith('vitest/')) && !vitestNodeApi) || spec.includes('/suites/')) {
          violations.push(`${relative(root, file)} imports ${spec}: harness/ must not depend on Vitest or suites/`);
          continue;
        }
        if (!spec.startsWith('.')) continue;
        const target = resolve(dirname(file), spec);
        if (!target.startsWith(root)) {
          violations.push(`${relative(root, file)} imports ${spec}, outside harness/`);
          continue;
        }
        const to = areaOf(target);
        if (!(allowed[from] ?? []).includes(to)) {
          violations.push(`${relative(root, file)} (${from}) imports ${spec} (${to})`);
        }
      }
    }
    expect(violations).toEqual([]);
  });
});
