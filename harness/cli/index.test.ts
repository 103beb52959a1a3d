import { describe, expect, test } from 'vitest';
import { commandLoaders } from './commands.ts';
import { buildProgram } from './index.ts';

describe('bx-hil program', () => {
  test('--help lists every command', async () => {
    const program = await buildProgram(['node', 'bx-hil', '--help']);
    const names = program.commands.map((c) => c.name()).sort();
    expect(names).toEqual([
      'broker',
      'certs',
      'compare',
      'dns',
      'doctor',
      'init',
      'merge',
      'preflight',
      'probe',
      'run',
      'scenarios',
      'sim',
      'sntp',
      'timing',
    ]);
    expect(names).toEqual(Object.keys(commandLoaders).sort());
  });

  test('running one command loads only that command', async () => {
    const program = await buildProgram(['node', 'bx-hil', 'compare', 'a.json', 'b.json']);
    expect(program.commands.map((c) => c.name())).toEqual(['compare']);
  });
});
