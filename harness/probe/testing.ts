/**
 * The probe's test helpers (imported only by tests and bench/): a virtual module serving any
 * profile object, in process, behind a `StreamLink` (what `sim:` does for a file or a name).
 */
import { duplexPair } from 'node:stream';
import type { EvidenceBus } from '../evidence.ts';
import { StreamLink, type Link } from '../link/index.ts';
import {
  createVirtualModule,
  parseProfile,
  seededRandom,
  type ProfileInput,
  type VirtualModule,
} from '../sim/index.ts';

export function simLink(
  profile: ProfileInput,
  options: { bus?: EvidenceBus; resolve?: Record<string, { host: string; port?: number }> } = {},
): { link: Link; module: VirtualModule; close: () => Promise<void> } {
  const module = createVirtualModule({ profile: parseProfile(profile, 'test profile'), ...options });
  const [host, device] = duplexPair();
  module.attach(device);
  const link = new StreamLink(`sim:${String(profile.name ?? 'test')}`, host);
  return {
    link,
    module,
    close: async () => {
      await link.close();
      await module.close();
    },
  };
}

/** A seeded pseudo-random generator (the sim's mulberry32): the same seed, the same sequence. */
export const seeded = seededRandom;
