/**
 * The virtual BX310x module. Imports only the base files and `harness/link`; shares
 * no parser with `harness/at` or `harness/bx310x` (docs/DESIGN.md).
 */
export { createVirtualModule, parseHostTarget, VirtualModule, type VirtualModuleOptions } from './module.ts';
export {
  loadProfile,
  parseProfile,
  shippedProfiles,
  sourceOf,
  type KnownIssue,
  type Profile,
  type ProfileInput,
  type ShippedProfileName,
} from './profile.ts';
export { checkTimingText, isTimingPath, resolveTiming, type TimingSetting } from './timing.ts';
export { CAPABILITIES, capabilityNames, isCapability, type Capability } from './capabilities.ts';
export { defaultFaults, parseSimFaults, seededRandom, type SimFaults } from './faults.ts';
export { ModuleClock, type ClockSetting } from './clock.ts';
export { SimConnectError, SimError, type SimErrorCode } from './errors.ts';
export { type HostOverride, type MqttSession, type SessionConfig, type SessionState } from './net/session.ts';
export { connectSteps } from './net/connect-steps.ts';
export { commands, handlerFor } from './commands/index.ts';
export type { CommandHandler, Reply, SimContext } from './commands/types.ts';
export { serveModule, type SimServer, type ServeOptions } from './server.ts';
