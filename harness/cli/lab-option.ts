/**
 * `--lab <file>`, the lab file of devices (docs/lab-file.md), for `bx-hil run` and `bx-hil
 * preflight`. Its old name `--rig` (before "rig" came to mean only the broker) still works,
 * hidden from the help, and warns once per process.
 */
import { Option } from 'commander';
import { ConfigError } from '../errors.ts';

let warned = false;

/** The hidden alias `--rig <file>`, added next to `--lab <file>`. */
export function rigAlias(): Option {
  return new Option('--rig <file>', 'old name of --lab').hideHelp();
}

/**
 * Fold `--rig` into `--lab` (warning once) and return the options without it. Both given with
 * different files is bad input.
 */
export function foldLabAlias<T extends { lab?: string; rig?: string }>(options: T): Omit<T, 'rig'> {
  const { rig, ...rest } = options;
  if (rig === undefined) return rest;
  if (rest.lab !== undefined && rest.lab !== rig)
    throw new ConfigError('--rig', rig, '--rig is the old name of --lab: give --lab only');
  if (!warned) {
    warned = true;
    process.stderr.write('bx-hil: warning: --rig is now --lab (the lab file of devices); --rig still works for now\n');
  }
  return { ...rest, lab: rig };
}
