import { defineConfig } from 'vitest/config';
import { HIL_TEST_OPTIONS } from './harness/vitest-config.js';

/**
 * Two kinds of tests (docs/DESIGN.md "Layout"):
 * - `harness`: unit and integration tests of the harness itself, beside the code.
 * - `suites:<profile>`: the HIL suites, run against the virtual module once per shipped
 *   firmware profile (BX_DEVICE=sim:<profile>). Against hardware, `bx-hil run` drives the
 *   same suites with BX_DEVICE set to the real device.
 *
 * pool 'forks' is required: worker threads crash on real serial I/O (docs/reference/dependencies.md P1);
 * it and the timeouts come from harness/vitest-config.js (`bx-hil/vitest-config`).
 */
const profiles = ['2.6.3', 'legacy', 'reference'];

export default defineConfig({
  test: {
    // forks pool, no .only, the TLS/MQTT timeouts: the same as `bx-hil run` and users' configs.
    ...HIL_TEST_OPTIONS,
    // Most test files wait on sockets, child processes and guard times, not CPU: keep more files
    // in flight than the 2 cores of CI (Vitest's default there would be 1 worker). One value for
    // every project: Vitest refuses projects with different maxWorkers in the same group.
    maxWorkers: 3,
    reporters: ['default', 'json', 'junit', './scripts/skipped-reporter.ts'],
    outputFile: { json: 'reports/vitest.json', junit: 'reports/junit.xml' },
    projects: [
      {
        extends: true,
        test: { name: 'harness', include: ['harness/**/*.test.ts', 'bench/**/*.test.ts'] },
      },
      ...profiles.map((profile) => ({
        extends: true as const,
        test: {
          name: `suites:${profile}`,
          include: ['suites/**/*.test.ts'],
          env: { BX_DEVICE: `sim:${profile}` },
        },
      })),
    ],
  },
});
