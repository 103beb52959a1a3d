/**
 * harness/vitest's public face, the package's `bx-hil/vitest`: Vitest's `test` with the HIL
 * fixtures and the `hil()` wrapper (scenario tag, capabilities, known issues). The built-in
 * suites (`suites/fixtures.ts`) and users' own test files import these same names
 * (docs/writing-tests.md).
 */
export {
  capabilityReason,
  hasTool,
  hil,
  securityFailure,
  tag,
  test,
  testIdOf,
  testIf,
  type HilContext,
  type HilFixtures,
  type HilTestOptions,
  type RigFactory,
  type ScenarioOptions,
  type StagedScenario,
  type TargetInfo,
  type TestEvidence,
  type VirtualModule,
} from './fixtures.ts';
