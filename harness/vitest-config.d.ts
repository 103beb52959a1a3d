/** Options of {@link hilVitestConfig}. */
export interface HilVitestConfigOptions {
  /** Test files, as Vitest globs. Default `['**\/*.test.ts']`. */
  include?: string[];
  /** The device under test (`BX_DEVICE`): `sim:2.6.3`, `/dev/serial/by-id/...`, `tcp://`, `rfc2217://`. Default `$BX_DEVICE`, else `sim:2.6.3`. */
  device?: string;
  /** Where the JUnit file goes. Default `reports`. */
  reportsDir?: string;
  /** Write each test's evidence bundle here (`BX_HIL_EVIDENCE_DIR`). Default: none (`bx-hil run` writes them). */
  evidenceDir?: string;
  /** More Vitest `test` options, applied last. */
  test?: Record<string, unknown>;
}

/** What {@link hilVitestConfig} returns: a `defineConfig()` argument. */
export interface HilVitestConfig {
  test: Record<string, unknown> & typeof HIL_TEST_OPTIONS;
}

/** Settings every HIL run uses: the forks pool (serial I/O), no `.only`, and the timeouts of TLS and MQTT round trips. */
export declare const HIL_TEST_OPTIONS: Readonly<{
  pool: 'forks';
  allowOnly: false;
  testTimeout: number;
  hookTimeout: number;
  teardownTimeout: number;
}>;

/** A Vitest config for HIL tests: `defineConfig(hilVitestConfig({ include: ['hil/**\/*.test.ts'] }))`. */
export declare function hilVitestConfig(options?: HilVitestConfigOptions): HilVitestConfig;
