/**
 * The list of `bx-hil` commands. One line per command file; each exports `register(program)`.
 *
 * Command modules are loaded lazily: `bx-hil compare` must not pay for loading Vitest (run),
 * aedes (broker) or the simulator. Only `bx-hil --help` loads them all, to list them.
 */
import type { Command } from 'commander';

export interface CommandModule {
  register(program: Command): void;
}

export const commandLoaders: Record<string, () => Promise<CommandModule>> = {
  run: () => import('./run.ts'),
  preflight: () => import('./preflight.ts'),
  sim: () => import('./sim.ts'),
  dns: () => import('./dns.ts'),
  sntp: () => import('./sntp.ts'),
  broker: () => import('./broker.ts'),
  scenarios: () => import('./scenarios.ts'),
  certs: () => import('./certs.ts'),
  doctor: () => import('./doctor.ts'),
  probe: () => import('./probe.ts'),
  compare: () => import('./compare.ts'),
  merge: () => import('./merge.ts'),
  init: () => import('./init.ts'),
  timing: () => import('./timing.ts'),
};
