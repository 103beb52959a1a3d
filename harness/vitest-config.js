// @ts-check
/**
 * `bx-hil/vitest-config`: the Vitest settings the HIL fixtures need, for a user's
 * `vitest.config.ts` and for `bx-hil run`, said once here.
 *
 * Plain JavaScript on purpose: Vite loads a `vitest.config.ts` by bundling it and leaves the
 * packages it imports to Node, and Node 20 cannot load TypeScript from node_modules
 * (ERR_UNKNOWN_FILE_EXTENSION). Everything else of the package is TypeScript that Vitest
 * transforms (it inlines `.ts` files even from node_modules) or tsx runs (the CLI).
 * Types: vitest-config.d.ts beside it.
 */

/** Settings every HIL run uses (`bx-hil run` and a user's config alike). */
export const HIL_TEST_OPTIONS = Object.freeze({
  // Worker threads crash on real serial I/O (docs/reference/dependencies.md P1).
  pool: /** @type {const} */ ('forks'),
  allowOnly: false,
  testTimeout: 30_000, // 30 s: TLS + MQTT round trips with real peers
  hookTimeout: 60_000, // 1 min: key generation and broker start-up
  teardownTimeout: 10_000, // 10 s
});

/**
 * A Vitest config for HIL tests: `defineConfig(hilVitestConfig({ include: ['hil/**\/*.test.ts'] }))`.
 *
 * @param {import('./vitest-config.d.ts').HilVitestConfigOptions} [options]
 * @returns {import('./vitest-config.d.ts').HilVitestConfig}
 */
export function hilVitestConfig(options = {}) {
  // An empty BX_DEVICE is unset (CI templates often export it empty).
  const device = options.device || process.env.BX_DEVICE || 'sim:2.6.3';
  const reports = options.reportsDir ?? 'reports';
  /** @type {Record<string, string>} */
  const env = { BX_DEVICE: device };
  if (options.evidenceDir) env.BX_HIL_EVIDENCE_DIR = options.evidenceDir;
  return {
    test: {
      ...HIL_TEST_OPTIONS,
      include: options.include ?? ['**/*.test.ts'],
      exclude: ['**/node_modules/**'],
      // A real module is one serial port: one file at a time; the virtual module lives in each worker.
      ...(device.startsWith('sim:') ? {} : { maxWorkers: 1, fileParallelism: false }),
      env,
      reporters: ['default', 'junit'],
      outputFile: { junit: `${reports}/junit.xml` },
      ...options.test,
    },
  };
}
