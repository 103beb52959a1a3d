/**
 * `bx-hil run [--device <uri> | --lab <file>] [--suite <name>...] [--out <dir>] [--baseline <results.json>] [--keylog] [--capture]`
 *
 * Runs the HIL suites (suites/*.test.ts) through Vitest's Node API against one device, or
 * against every device of a lab file in parallel (one child process per device, each with its
 * own broker rig on its own port; one device's failure does not stop the others), and writes
 * into `--out`: `junit.xml`, `results.json`, `evidence/<test>/` per test and the HTML report.
 * Progress is printed test by test, and during long waits the command being waited on (read
 * from the heartbeat files the suites' fixtures write).
 *
 * Exit code 0 when every outcome meets its expectation (harness/run/known-issues.ts), 1 when
 * one does not, the baseline comparison finds a regression or no test ran (the filters matched
 * none, or every selected test was skipped; `--allow-empty` makes that 0), 2 on bad input.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import type { Reporter, SerializedError, TestCase, TestModule } from 'vitest/node';
import { ConfigError } from '../errors.ts';
import { killOnExit } from '../processes.ts';
import { foldLabAlias, rigAlias } from './lab-option.ts';
import { redactSecrets } from '../secrets.ts';
import { oneLine, writeOut } from './console.ts';
import { namesOf } from './test-names.ts';
import { checkOutputDir, type OutputMarker } from '../files.ts';
import { type RunResults, OUTCOME_LABELS, readRunResults } from '../report/index.ts';
import {
  SUITE_ENV,
  type Heartbeat,
  type SuiteTestMeta,
  runDevice,
  type DeviceRunContext,
  type SuiteRunOutput,
  emptyRunProblem,
  judgeRecord,
  mergeRunResults,
  summarize,
  summaryLine,
  type RawTestRecord,
  loadLabFile,
  labFromDevice,
  type LabConfig,
  preflightWithDriver,
  finishReport,
  checkShardOptions,
  chooseProfile,
} from '../run/index.ts';
import { checkTarget, getVirtualModule, openTarget } from '../targets.ts';
import { HIL_TEST_OPTIONS } from '../vitest-config.js';
import { checkSuiteNames, checkSuitesCompile, findUserSuites, suiteNameOf } from './user-suites.ts';

const targets = { open: openTarget, virtualModule: getVirtualModule };

/** Vitest's JUnit reporter writes error messages as given: the one redaction pass over the file. */
async function redactFile(path: string): Promise<void> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text !== undefined) await writeFile(path, redactSecrets(text));
}

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SUITES_DIR = join(ROOT, 'suites');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

export interface RunOptions {
  device?: string;
  lab?: string;
  /** Internal: run only this device of the lab file (the per-device child). */
  labDevice?: string;
  suite?: string[];
  /** A user's test files: folders, files or globs (harness/cli/user-suites.ts). */
  suites?: string[];
  /** With `suites`: run the built-in suites too. */
  withBuiltin?: boolean;
  /** Only tests whose full name matches this regular expression. */
  test?: string;
  /** The test host's address as the module sees it (with --device; a lab file has its own). */
  hostAddress?: string;
  /** With --device: the firmware profile (shipped name or JSON file); default: matched by AT+CGMR. */
  profile?: string;
  out: string;
  baseline?: string;
  keylog?: boolean;
  capture?: boolean;
  preflight: boolean;
  strictFixed?: boolean;
  /** A run in which no test ran (nothing selected, or all skipped) exits 0 instead of 1. */
  allowEmpty?: boolean;
  /** With --baseline: a test that passed there and did not run here is not a regression. */
  allowRemoved?: boolean;
  /** `<i>/<n>`: run only shard i of n of the test list (harness/run/shard.ts). */
  shard?: string;
  /** A previous results.json whose durations balance the shards. */
  durations?: string;
  /** Internal: a child writes results.json only; the parent writes the report. */
  report: boolean;
}

/** Suite names available: the base names of suites/*.test.ts. */
export function suiteNames(): string[] {
  if (!existsSync(SUITES_DIR)) return [];
  return readdirSync(SUITES_DIR)
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => f.replace(/\.test\.ts$/, ''))
    .sort();
}

function toRaw(test: TestCase): RawTestRecord {
  const result = test.result();
  const diag = test.diagnostic();
  const raw: RawTestRecord = {
    file: test.module.moduleId,
    names: namesOf(test),
    status: result.state === 'passed' ? 'passed' : result.state === 'failed' ? 'failed' : 'skipped',
    durationMs: diag?.duration ?? 0,
    attempts: (diag?.retryCount ?? 0) + 1,
    errors: (result.errors ?? []).map((e) => e.message ?? String(e)),
    meta: test.meta() as SuiteTestMeta,
  };
  if (result.state === 'skipped' && result.note) raw.skipNote = result.note;
  return raw;
}

/**
 * Collects raw records and prints one line per finished test; every `pollMs` it reads the
 * heartbeat directory and prints what a long-running test waits on.
 */
export class ProgressReporter implements Reporter {
  readonly records: RawTestRecord[] = [];
  readonly unhandled: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #announced = new Map<string, number>();
  readonly #write: (line: string) => void;
  readonly #heartbeatDir: string | undefined;
  readonly #prefix: string;

  readonly #dropFiltered: boolean;

  /** `dropFiltered`: tests deselected by `--test` are neither printed nor collected. */
  constructor(
    options: {
      write?: (line: string) => void;
      heartbeatDir?: string;
      prefix?: string;
      pollMs?: number;
      dropFiltered?: boolean;
    } = {},
  ) {
    this.#write = options.write ?? ((line) => writeOut(`${line}\n`));
    this.#dropFiltered = options.dropFiltered ?? false;
    this.#heartbeatDir = options.heartbeatDir;
    this.#prefix = options.prefix ?? '';
    if (this.#heartbeatDir) {
      this.#timer = setInterval(() => this.#poll(), options.pollMs ?? 1_000);
      this.#timer.unref();
    }
  }

  #poll(): void {
    if (!this.#heartbeatDir || !existsSync(this.#heartbeatDir)) return;
    const now = Date.now();
    for (const f of readdirSync(this.#heartbeatDir)) {
      let hb: Heartbeat;
      try {
        hb = JSON.parse(readFileSync(join(this.#heartbeatDir, f), 'utf8')) as Heartbeat;
      } catch {
        continue; // being rewritten
      }
      const waited = now - hb.since;
      const key = `${hb.test}\u0000${hb.waitingOn}\u0000${hb.since}`;
      const last = this.#announced.get(key);
      // First note after 3 s of waiting, then every 10 s.
      if (waited >= 3_000 && (last === undefined || now - last >= 10_000)) {
        this.#announced.set(key, now);
        this.#write(
          `${this.#prefix}        ... ${oneLine(hb.test)}: waiting on ${oneLine(hb.waitingOn)} (${Math.round(waited / 1000)} s)`,
        );
      }
    }
  }

  onTestCaseResult(test: TestCase): void {
    const result = test.result();
    if (this.#dropFiltered && result.state === 'skipped' && !result.note && test.options.mode === 'skip') return;
    const raw = toRaw(test);
    this.records.push(raw);
    // The same reading as results.json (a known issue excuses only the failure it expects).
    const { id, outcome, knownIssue, error } = judgeRecord(raw, []);
    const secs = (raw.durationMs / 1000).toFixed(1);
    let line = `${this.#prefix}  ${OUTCOME_LABELS[outcome].tag.padEnd(5)} ${id} (${secs} s)`;
    // Reasons, errors and verdicts quote the module and the network: oneLine() escapes them.
    if (outcome === 'skip') line += `: ${oneLine(raw.meta.skipReason ?? raw.skipNote ?? 'skipped')}`;
    if (outcome === 'expected-fail') line += `: known issue (${knownIssue?.source ?? '?'})`;
    if (outcome === 'fixed') line += `: the known issue (${knownIssue?.source ?? '?'}) did not occur; it looks fixed`;
    if (outcome === 'fail')
      line += `\n${this.#prefix}        ${(raw.meta.securityFailure ? 'SECURITY FAILURE: ' : '') + oneLine((error ?? '').split('\n')[0]!)}`;
    // The rig's verdict in words, where the test recorded one (the TLS scenarios do).
    const verdict = raw.meta.verdict;
    if (verdict && outcome !== 'skip')
      line += `\n${this.#prefix}        verdict ${oneLine(verdict.code)}: ${oneLine(verdict.summary)}`;
    this.#write(line);
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    if (this.#timer) clearInterval(this.#timer);
    for (const m of modules) {
      for (const e of m.errors()) this.unhandled.push(`${relative(ROOT, m.moduleId)}: ${e.message}`);
    }
    for (const e of unhandledErrors) this.unhandled.push(e.message ?? String(e));
  }
}

/** What a run's Vitest includes: the built-in suites, a user's files (absolute), or both. */
interface SuiteSelection {
  builtin: boolean;
  userFiles: string[];
}

function selectionOf(opts: RunOptions): SuiteSelection {
  const userFiles = opts.suites?.length ? findUserSuites(opts.suites) : [];
  return { builtin: userFiles.length === 0 || (opts.withBuiltin ?? false), userFiles };
}

/** Vitest's include globs and the file filters of `--suite` for a selection. */
function vitestFiles(sel: SuiteSelection, suite: ReadonlyArray<string>): { include: string[]; filters: string[] } {
  return {
    include: [...(sel.builtin ? ['suites/**/*.test.ts'] : []), ...sel.userFiles],
    filters: suite.flatMap((s) => {
      const own = sel.userFiles.filter((f) => suiteNameOf(f) === s);
      return own.length > 0 ? own : [`suites/${s}.test.ts`];
    }),
  };
}

/**
 * Whether this run serves the lab's DNS itself: the lab-dns suite binds `network.dns.listen`
 * during its tests (suites/lab-dns.test.ts), so preflight checks that address by serving it.
 */
function servesLabDns(opts: RunOptions): boolean {
  return selectionOf(opts).builtin && (!opts.suite?.length || opts.suite.includes('lab-dns'));
}

/** Run the suites for one device through Vitest; returns the raw records. */
async function runSuitesWithVitest(ctx: DeviceRunContext, opts: RunOptions, prefix: string): Promise<SuiteRunOutput> {
  const outDir = resolve(ctx.outDir);
  // A fresh folder of our own, outside --out: nothing of the user's can share its name.
  const heartbeatDir = mkdtempSync(join(tmpdir(), 'bx-hil-heartbeat-'));
  const progress = new ProgressReporter({
    heartbeatDir,
    prefix,
    dropFiltered: opts.test !== undefined || opts.shard !== undefined,
  });
  const env: Record<string, string> = {
    [SUITE_ENV.device]: ctx.device.uri,
    [SUITE_ENV.evidenceDir]: join(outDir, 'evidence'),
    [SUITE_ENV.heartbeatDir]: heartbeatDir,
  };
  if (opts.lab) {
    env[SUITE_ENV.labFile] = resolve(opts.lab);
    env[SUITE_ENV.labDevice] = ctx.device.id;
  } else {
    if (opts.hostAddress) env[SUITE_ENV.hostAddress] = opts.hostAddress;
    if (ctx.device.profile !== undefined) env[SUITE_ENV.profile] = ctx.device.profile;
  }
  if (opts.keylog) env[SUITE_ENV.keylog] = '1';
  if (opts.capture) env[SUITE_ENV.capture] = '1';
  const { include, filters } = vitestFiles(selectionOf(opts), opts.suite ?? []);
  // Vitest is loaded only when tests run: bad input is refused without paying for it.
  const { startVitest } = await import('vitest/node');
  const namePattern = opts.shard
    ? await (
        await import('./collect.ts')
      ).shardNamePattern({
        ...opts,
        shard: opts.shard,
        filters,
        include,
        env,
        log: (l) => process.stdout.write(`${prefix}${l}\n`),
      })
    : opts.test;
  const vitest = await startVitest(
    'test',
    filters,
    {
      config: false,
      root: ROOT,
      watch: false,
      include,
      pool: HIL_TEST_OPTIONS.pool,
      // The virtual module lives inside each worker, so files run in parallel (the work is mostly
      // waiting on sockets and guard times, not CPU). A real module is one serial port: one file at a time.
      ...(ctx.device.uri.startsWith('sim:') ? { maxWorkers: 3 } : { maxWorkers: 1, fileParallelism: false }),
      allowOnly: HIL_TEST_OPTIONS.allowOnly,
      testTimeout: HIL_TEST_OPTIONS.testTimeout,
      hookTimeout: HIL_TEST_OPTIONS.hookTimeout,
      teardownTimeout: HIL_TEST_OPTIONS.teardownTimeout,
      env,
      ...(namePattern ? { testNamePattern: namePattern } : {}),
      reporters: [progress, ['junit', { outputFile: join(outDir, 'junit.xml'), suiteName: `bx-hil ${ctx.device.id}` }]],
    },
    { logLevel: 'warn' },
  );
  try {
    await vitest.close();
    await redactFile(join(outDir, 'junit.xml'));
  } finally {
    await rm(heartbeatDir, { recursive: true, force: true });
  }
  return { records: progress.records, unhandled: progress.unhandled };
}

async function runOneDevice(
  lab: LabConfig,
  deviceId: string,
  opts: RunOptions,
  outDir: string,
  prefix = '',
): Promise<RunResults> {
  const device = lab.devices.find((d) => d.id === deviceId)!;
  const log = (line: string) => process.stdout.write(`${prefix}${line}\n`);
  log(`bx-hil run: ${device.id} (${device.uri}) -> ${outDir}`);
  return runDevice(
    { device, lab, outDir },
    {
      harnessVersion: pkg.version,
      log,
      ...(opts.preflight
        ? {
            preflight: (d) =>
              preflightWithDriver(
                d,
                targets,
                lab.network?.dns ? { dns: lab.network.dns, dnsServedByRun: servesLabDns(opts) } : {},
              ),
          }
        : {}),
      profileFor: (d, firmware) =>
        chooseProfile({
          uri: d.uri,
          ...(d.profile !== undefined ? { profile: d.profile } : {}),
          ...(lab.profiles ? { profilesDir: lab.profiles } : {}),
          ...(firmware !== undefined ? { firmware } : {}),
        }).info,
      runSuites: (ctx) => runSuitesWithVitest(ctx, opts, prefix),
    },
  );
}

/** Run each device in its own child process (own Vitest, own rigs, own ports); merge. */
async function runDevicesInParallel(lab: LabConfig, opts: RunOptions, out: string): Promise<RunResults> {
  const bin = join(ROOT, 'bin', 'bx-hil.js');
  const runs = await Promise.all(
    lab.devices.map(async (device) => {
      const dir = join(out, 'devices', device.id);
      const args = [bin, 'run', '--lab', resolve(opts.lab!), '--lab-device', device.id, '--out', dir, '--no-report'];
      for (const s of opts.suite ?? []) args.push('--suite', s);
      // The user's files as this process found them (absolute: the child resolves nothing again).
      const sel = selectionOf(opts);
      if (sel.userFiles.length > 0) args.push('--suites', ...sel.userFiles);
      if (sel.userFiles.length > 0 && sel.builtin) args.push('--with-builtin');
      if (opts.test) args.push('--test', opts.test);
      if (opts.shard) args.push('--shard', opts.shard);
      if (opts.durations) args.push('--durations', resolve(opts.durations));
      if (!opts.preflight) args.push('--no-preflight');
      if (opts.keylog) args.push('--keylog');
      if (opts.capture) args.push('--capture');
      const code = await new Promise<number>((resolveCode) => {
        const child = killOnExit(
          spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env }),
        );
        const relay = (stream: NodeJS.ReadableStream, to: NodeJS.WriteStream) => {
          let buf = '';
          stream.on('data', (c: Buffer) => {
            buf += c.toString('utf8');
            const lines = buf.split('\n');
            buf = lines.pop()!;
            for (const l of lines) to.write(`[${device.id}] ${l}\n`);
          });
        };
        relay(child.stdout, process.stdout);
        relay(child.stderr, process.stderr);
        child.on('close', (c) => resolveCode(c ?? 1));
      });
      try {
        const r = JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as RunResults;
        for (const t of r.tests) if (t.evidenceDir) t.evidenceDir = join('devices', device.id, t.evidenceDir);
        return r;
      } catch {
        const now = new Date().toISOString();
        return {
          schema: 'bx-hil/results@1',
          startedAt: now,
          finishedAt: now,
          harnessVersion: pkg.version,
          devices: [{ id: device.id, uri: device.uri, firmware: device.firmware ?? 'unknown' }],
          tests: [
            {
              id: 'run/device',
              suite: 'run',
              title: 'device run',
              device: device.id,
              firmware: device.firmware ?? 'unknown',
              status: 'failed',
              outcome: 'fail',
              durationMs: 0,
              attempts: 1,
              error: `the run for ${device.id} ended with exit code ${code} and wrote no results.json`,
            },
          ],
        } satisfies RunResults;
      }
    }),
  );
  return mergeRunResults(runs, pkg.version);
}

/** The file that makes a folder an earlier bx-hil report (docs/report.md "The report folder"). */
export const REPORT_MARKER: OutputMarker = {
  name: '.bx-hil-report',
  text: 'This folder is a bx-hil report. bx-hil run --out clears what an earlier run wrote here (docs/report.md).',
  what: 'an earlier bx-hil report',
};
/** What a run writes into --out, removed from an earlier report before the run starts. */
export const REPORT_ENTRIES: readonly string[] = ['evidence', 'devices', 'results.json', 'junit.xml', 'index.html'];

/** `--test` is a regular expression (Vitest's testNamePattern): refuse one that does not compile. */
export function checkTestPattern(pattern: string): void {
  try {
    new RegExp(pattern);
  } catch (cause) {
    throw new ConfigError(
      '--test',
      pattern,
      `--test "${pattern}" is not a regular expression (${(cause as Error).message.replace(/^Invalid regular expression: /, '')}); escape special characters, e.g. "S5 \\(" for a literal "S5 ("`,
      { cause },
    );
  }
}

/** The flags that chose the tests, as a user would type them, for the empty-run message. */
function selectingFlags(opts: RunOptions): string[] {
  const flags: string[] = [];
  if (opts.suite?.length) flags.push(`--suite ${opts.suite.join(' ')}`);
  if (opts.test !== undefined) flags.push(`--test ${JSON.stringify(opts.test)}`);
  if (opts.shard !== undefined) flags.push(`--shard ${opts.shard}`);
  return flags;
}

export async function runCommand(opts: RunOptions): Promise<number> {
  if (opts.device && opts.lab)
    throw new ConfigError('--device', opts.device, 'give either --device or --lab, not both');
  if (opts.profile !== undefined && opts.lab)
    throw new ConfigError(
      '--profile',
      opts.profile,
      '--profile is for one --device; with --lab give each device its profile: in the lab file',
    );
  await checkShardOptions(opts);
  if (opts.withBuiltin && !opts.suites?.length)
    throw new ConfigError(
      '--with-builtin',
      'true',
      '--with-builtin adds the built-in suites to --suites <dir>; without --suites the built-in suites run anyway',
    );
  // A user's files are found, named apart and compiled before anything starts: bad input is exit 2.
  const sel = selectionOf(opts);
  checkSuiteNames(sel.userFiles, sel.userFiles.length > 0 && sel.builtin ? suiteNames() : []);
  await checkSuitesCompile(sel.userFiles);
  const known = [...(sel.builtin ? suiteNames() : []), ...sel.userFiles.map(suiteNameOf)];
  for (const s of opts.suite ?? []) {
    if (!known.includes(s))
      throw new ConfigError('--suite', s, `unknown suite "${s}": choose from ${known.join(', ')}`);
  }
  if (opts.test !== undefined) checkTestPattern(opts.test);
  const lab = opts.lab
    ? await loadLabFile(opts.lab)
    : labFromDevice(opts.device ?? process.env[SUITE_ENV.device] ?? 'sim:2.6.3', {
        ...(opts.hostAddress ? { hostAddress: opts.hostAddress } : {}),
        ...(opts.profile !== undefined ? { profile: opts.profile } : {}),
      });
  for (const w of lab.warnings) process.stderr.write(`bx-hil: warning: ${w}\n`);
  // Every device URI and the baseline are checked before anything starts or is written: bad
  // input is exit 2 with one line, not a "rig problem" in a report.
  for (const [i, d] of lab.devices.entries())
    await checkTarget(d.uri, opts.lab ? `${opts.lab}: devices[${i}].uri` : '--device');
  if (opts.baseline) await readRunResults(opts.baseline);
  if (opts.baseline) {
    // The report folder is cleared below: a baseline inside what is cleared would be lost.
    const rel = relative(resolve(opts.out), resolve(opts.baseline));
    if (!rel.startsWith('..') && !isAbsolute(rel) && REPORT_ENTRIES.includes(rel.split(/[\\/]/)[0]!))
      throw new ConfigError(
        '--baseline',
        opts.baseline,
        `--baseline ${opts.baseline} is inside --out ${opts.out}, which this run clears; copy it elsewhere first`,
      );
  }
  const out = checkOutputDir(opts.out, '--out', { marker: REPORT_MARKER, clear: REPORT_ENTRIES });

  let results: RunResults;
  if (opts.labDevice) {
    if (!lab.devices.some((d) => d.id === opts.labDevice)) {
      throw new ConfigError('--lab-device', opts.labDevice, `no device "${opts.labDevice}" in ${opts.lab}`);
    }
    results = await runOneDevice(lab, opts.labDevice, opts, out);
  } else if (lab.devices.length === 1) {
    results = await runOneDevice(lab, lab.devices[0]!.id, opts, out);
  } else {
    results = await runDevicesInParallel(lab, opts, out);
  }

  await writeFile(join(out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const summary = summarize(results, { strictFixed: opts.strictFixed ?? false });
  let code = summary.ok ? 0 : 1;
  if (opts.report) {
    const r = await finishReport(
      out,
      results,
      opts.baseline ? { baseline: opts.baseline, compare: { allowRemoved: opts.allowRemoved ?? false } } : {},
    );
    for (const line of r.lines) writeOut(`${line}\n`);
    if (r.regression) code = 1;
    process.stdout.write(`${summaryLine(summary)}\n`);
    // "0 passed" is not a pass: a filter that matched nothing must not open the gate.
    const empty = opts.allowEmpty ? undefined : emptyRunProblem(summary, selectingFlags(opts));
    if (empty) {
      process.stderr.write(`bx-hil run: ${empty}\n`);
      code = 1;
    }
  }
  return code;
}

export function register(program: Command): void {
  program
    .command('run')
    .description(
      'run the HIL suites against a device (default sim:2.6.3) or every device of a lab file, and write the report',
    )
    .option(
      '--device <uri>',
      'device URI: sim:<profile>, /dev/serial/by-id/..., serial:, tcp://, rfc2217:// (default sim:2.6.3)',
    )
    .option('--lab <file>', 'lab file (YAML or JSON) listing devices; see docs/lab-file.md')
    .addOption(rigAlias())
    .option(
      '--suite <name...>',
      `suites to run (default all): ${suiteNames().join(', ')}, or a --suites file's base name`,
    )
    .option(
      '--suites <dir|file|glob...>',
      "your own test files (docs/writing-tests.md) instead of the built-in suites, e.g. hil/ or 'hil/**/*.test.ts'",
    )
    .option('--with-builtin', 'with --suites: run the built-in suites too')
    .option(
      '--host-address <ip>',
      "with --device: the test host's address as the module sees it (the broker listens there)",
    )
    .option(
      '--profile <name|file>',
      'with --device: the firmware profile the module runs against (2.6.3, legacy, reference or a JSON file); default: the one whose identity.cgmr matches AT+CGMR, else reference',
    )
    .option('--test <pattern>', 'only tests whose name matches this regular expression (e.g. "S5 ")')
    .option('--out <dir>', 'report directory', 'bx-hil-report')
    .option('--baseline <results.json>', 'compare with an earlier run; a regression makes the exit code 1')
    .option('--keylog', 'keep TLS key logs in the evidence bundles (secret: handle with care)')
    .option('--capture', 'keep a packet capture per test (needs tshark)')
    .option('--no-preflight', 'skip the preflight checks before the suites')
    .option('--strict-fixed', 'treat a known issue that passes ("fixed") as a failure')
    .option(
      '--allow-removed',
      'with --baseline: a test that passed there and did not run here (e.g. filtered out) is not a regression',
    )
    .option('--allow-empty', 'exit 0 when no test ran (the filters matched none, or all were skipped); default exit 1')
    .option('--shard <i/n>', 'run only shard i of n of the test list, e.g. 1/2 and 2/2 on two identical benches')
    .option('--durations <results.json>', 'with --shard: balance the shards by the durations of an earlier run')
    .addOption(new Option('--lab-device <id>', 'run only this device of the lab file').hideHelp())
    .addOption(new Option('--no-report', 'write results.json only').hideHelp())
    .action(async (o: RunOptions & { rig?: string }) => {
      process.exitCode = await runCommand(foldLabAlias(o));
    });
}
