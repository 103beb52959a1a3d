/**
 * The built-in suites' fixtures: the same ones a user's test files get from `bx-hil/vitest`
 * (harness/vitest/, docs/writing-tests.md), so what the suites check is what users run.
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
} from '../harness/vitest/index.ts';
