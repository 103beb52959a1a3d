/**
 * Preflight wired to the real driver and broker rig. Until those layers land, preflight checks
 * only that the device URI parses (the suites' fixtures then fail fast on a broken rig).
 */
import { parseLinkUri } from '../link/open.ts';
import { preflightDevice, type PreflightResult } from './preflight.ts';
import type { RigDevice } from './rig.ts';

export async function preflightWithDriver(device: RigDevice): Promise<PreflightResult> {
  parseLinkUri(device.uri);
  return { device: device.id, uri: device.uri, ok: true, steps: [] };
}

export { preflightDevice };
