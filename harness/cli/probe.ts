/**
 * `bx-hil probe --device <uri> --out <profile.json> [--allow-writes] [--slots local:<i>,...]
 * [--base <profile>] [--host-address <ip>] [--no-timing] [--samples <n>] [--force] [--json]`:
 * learn a firmware's AT dialect and its timing block from the module and write them as a draft
 * profile, with the evidence file beside it (docs/probe.md).
 *
 * Prints the differences from the base in words (`--json`: as data), then the count of
 * exchanges and their wire bytes with what they cost at 115200 baud. Exit 0 when every step ran;
 * 1 when the module stopped answering (the partial profile is written and the step named) or
 * is not a BX310x; 2 on bad input (an unwritable `--out`, a `--base` that does not exist, a bad
 * `--device`), checked before the device is opened.
 *
 * The timing block is measured here, not in harness/probe: the probe area may not import `run`
 * (harness/layering.test.ts), and `measureTiming` opens its own link through the targets, which
 * the CLI holds. So the CLI runs the probe, closes its link, runs `measureTiming` and hands the
 * figures to the probe's `withTiming`, which puts them in the draft and the diff.
 */
import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { checkOutputFile } from '../files.ts';
import { isIP } from 'node:net';
import {
  evidencePath,
  probe,
  ProbeRefusedError,
  uploadGuardMs,
  wireSeconds,
  withTiming,
  writeProbe,
  type BrokerReach,
  type ProbeResult,
} from '../probe/index.ts';
import { labFromDevice, MEASURE_DEFAULTS, measureTiming, type TimingMeasurement } from '../run/index.ts';
import { loadProfile, type Profile } from '../sim/index.ts';
import { checkTarget, getVirtualModule, openTarget } from '../targets.ts';
import { oneLine, writeErr, writeOut } from './console.ts';

interface ProbeCliOptions {
  device?: string;
  out: string;
  allowWrites?: boolean;
  slots?: string;
  base?: string;
  force?: boolean;
  json?: boolean;
  hostAddress?: string;
  /** `--no-timing` sets it false. */
  timing?: boolean;
  samples?: string;
}

/** The name a `sim:` device resolves to the probe's broker rigs (so its ClientHello shows SNI). */
const SIM_RIG_NAME = 'probe.bx-hil.test';

/**
 * Where the module reaches the broker rigs: a `sim:` device runs here (127.0.0.1, and a resolve
 * entry added to its URI for the rig name); any other device needs `--host-address`, the
 * address this host has on the module's network.
 */
function brokerReach(device: string, hostAddress: string | undefined): { uri: string; reach?: BrokerReach } {
  if (device.startsWith('sim:')) {
    const uri = `${device}${device.includes('?') ? '&' : '?'}resolve=${SIM_RIG_NAME}=127.0.0.1`;
    return { uri, reach: { address: '127.0.0.1', name: SIM_RIG_NAME } };
  }
  if (hostAddress === undefined) return { uri: device };
  if (isIP(hostAddress) === 0)
    throw new ConfigError(
      '--host-address',
      hostAddress,
      `--host-address must be an IP address of this host, not "${hostAddress}"`,
    );
  return { uri: device, reach: { address: hostAddress } };
}

function parseSlots(text: string | undefined): string[] {
  if (text === undefined) return [];
  const slots = text.split(',').map((s) => s.trim());
  for (const s of slots) {
    if (!/^(local:[0-2]|root:0)$/.test(s))
      throw new ConfigError(
        '--slots',
        text,
        `--slots takes local:<0-2> and root:0 items separated by commas, not "${s}"`,
      );
  }
  return slots;
}

function loadBase(name: string | undefined): Profile | undefined {
  if (name === undefined) return undefined;
  try {
    return loadProfile(name);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError('--base', name, `--base: ${err.message}`, { cause: err });
    throw err;
  }
}

function parseSamples(text: string | undefined): number {
  if (text === undefined) return MEASURE_DEFAULTS.samples;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 20)
    throw new ConfigError('--samples', text, `--samples must be a whole number from 1 to 20, not "${text}"`);
  return n;
}

/**
 * The timing block, measured by `bx-hil timing`'s `measureTiming` on a link of its own (the
 * probe's is closed by now). Writes (AT+RST, a throwaway certificate, the rig's root) only with
 * `--allow-writes`, and only into slots it finds empty: `--slots` does not reach it.
 */
async function measure(
  device: string,
  reach: BrokerReach | undefined,
  result: ProbeResult,
  o: { allowWrites: boolean; samples: number; log?: (line: string) => void },
): Promise<TimingMeasurement> {
  const hardware = !device.startsWith('sim:');
  return measureTiming({
    device: labFromDevice(device, hardware && reach ? { hostAddress: reach.address } : {}).devices[0]!,
    targets: { open: openTarget, virtualModule: getVirtualModule },
    allowWrites: o.allowWrites,
    samples: o.samples,
    // The guard the probe's own uploads kept with this module.
    guardTimeMs: uploadGuardMs(result.base),
    ...(hardware && !reach
      ? { noRigs: 'no --host-address: the module has no address of this host to reach a broker rig at' }
      : {}),
    ...(o.log ? { log: o.log } : {}),
  });
}

export async function probeCommand(o: ProbeCliOptions): Promise<number> {
  const device = o.device ?? process.env['BX_DEVICE'] ?? 'sim:2.6.3';
  // Bad input first, before anything is opened (docs/exit-codes.md).
  const out = checkOutputFile(o.out, '--out');
  checkOutputFile(evidencePath(out), '--out (its evidence file)');
  const slots = parseSlots(o.slots);
  if (slots.length > 0 && !o.allowWrites)
    throw new ConfigError('--slots', o.slots, '--slots names slots to overwrite: it needs --allow-writes');
  const base = loadBase(o.base);
  const samples = parseSamples(o.samples);
  await checkTarget(device, '--device');
  const { uri, reach } = brokerReach(device, o.hostAddress);

  const started = performance.now();
  const link = await openTarget(uri);
  let result: ProbeResult;
  try {
    result = await probe(link, {
      ...(base ? { base } : {}),
      allowWrites: o.allowWrites ?? false,
      slots,
      force: o.force ?? false,
      ...(reach ? { broker: reach } : {}),
      // Notes as they come: the slot an upload will write is said before it is written.
      ...(o.json ? {} : { onNote: (n: string) => writeOut(`  note: ${oneLine(n)}\n`) }),
    });
  } finally {
    await link.close();
  }
  if (result.error instanceof ProbeRefusedError) {
    writeErr(`bx-hil probe: ${oneLine(result.error.message)}; nothing written\n`);
    return 1;
  }
  // A module that stopped answering is not timed; the partial draft keeps the base's timing.
  let timing: TimingMeasurement | undefined;
  let timingSeconds = 0;
  if (o.timing !== false && !result.failedStep) {
    const t0 = performance.now();
    timing = await measure(device, reach, result, {
      allowWrites: o.allowWrites ?? false,
      samples,
      ...(o.json ? {} : { log: (line: string) => writeOut(`  timing: ${oneLine(line)}\n`) }),
    });
    timingSeconds = (performance.now() - t0) / 1000;
    result = withTiming(result, timing);
  }
  const files = writeProbe(out, result);
  const bytes = result.txBytes + result.rxBytes;
  const wallSeconds = (performance.now() - started) / 1000;
  const timingWire = timing?.wire;
  if (o.json) {
    writeOut(
      `${JSON.stringify(
        {
          profile: files.profile,
          evidence: files.evidence,
          base: result.base.name,
          firmware: result.firmware,
          learned: result.learned.map((l) => l.field),
          ...(result.timing
            ? {
                timing: {
                  measured: result.timing.values,
                  steps: result.timing.measurement.steps,
                  ...(timing?.failed ? { failed: timing.failed } : {}),
                  wire: { ...timingWire, wallSeconds: timingSeconds },
                },
              }
            : {}),
          differences: result.differences,
          notes: result.notes,
          ...(result.failedStep ? { failedStep: result.failedStep, error: result.error?.message } : {}),
          wire: { exchanges: result.exchanges.length, bytes, secondsAt115200: wireSeconds(bytes), wallSeconds },
        },
        null,
        2,
      )}\n`,
    );
  } else {
    writeOut(
      `bx-hil probe: ${oneLine(result.device)} firmware ${oneLine(result.firmware)}, base ${oneLine(result.base.name)}\n`,
    );
    writeOut(`learned ${result.learned.length} values: ${result.learned.map((l) => l.field).join(', ')}\n`);
    if (result.timing)
      writeOut(
        `measured ${result.timing.values.length} timing values: ${result.timing.values.map((v) => v.field).join(', ') || 'none'}\n`,
      );
    if (result.differences.length === 0) writeOut(`no difference from ${oneLine(result.base.name)}\n`);
    for (const d of result.differences) writeOut(`  differs: ${oneLine(d.words)}\n`);
    writeOut(`wrote ${files.profile} and ${files.evidence}\n`);
    const timed = timingWire
      ? `; timing ${timingWire.writes} writes, ${timingWire.txBytes + timingWire.rxBytes} wire bytes, ${timingSeconds.toFixed(1)} s`
      : '';
    writeOut(
      `${result.exchanges.length} exchanges, ${bytes} wire bytes (${result.txBytes} sent, ${result.rxBytes} received): ${wireSeconds(bytes).toFixed(2)} s at 115200 baud${timed}; the probe took ${wallSeconds.toFixed(1)} s\n`,
    );
  }
  if (result.failedStep) {
    writeErr(
      `bx-hil probe: stopped at step ${result.failedStep}: ${oneLine(result.error?.message ?? '')}; wrote the partial profile (${result.learned.length} values learned)\n`,
    );
    return 1;
  }
  if (timing?.failed) {
    writeErr(
      `bx-hil probe: timing stopped at step ${timing.failed.name}: ${oneLine(timing.failed.detail)}; wrote the draft with the timing values measured before\n`,
    );
    return 1;
  }
  return 0;
}

export function register(program: Command): void {
  program
    .command('probe')
    .description("learn a firmware's AT dialect from the module and write it as a draft profile (docs/probe.md)")
    .option('--device <uri>', 'the module: serial:, tcp://, rfc2217:// or sim: (default $BX_DEVICE, else sim:2.6.3)')
    .requiredOption('--out <profile.json>', 'the draft profile; the evidence goes beside it (<name>.evidence.json)')
    .option(
      '--allow-writes',
      'allow throwaway certificate uploads into one empty local slot (deleted at the end); for the timing block also AT+RST, flash stores and the TLS root, in empty slots only',
    )
    .option(
      '--slots <list>',
      'with --allow-writes: slots that may be overwritten although they hold something, e.g. local:2,root:0',
    )
    .option(
      '--base <profile>',
      'where unlearned values come from: a shipped name or a JSON file (default: the nearest shipped)',
    )
    .option(
      '--host-address <ip>',
      "this host's address on the module's network: the broker rigs listen there (not needed for sim:)",
    )
    .option('--no-timing', "skip the timing block (bx-hil timing's measurement; the draft keeps the base's)")
    .option('--samples <n>', `timing: runs per figure, the median is kept (1-20, default ${MEASURE_DEFAULTS.samples})`)
    .option('--force', 'probe a device whose ATI answer is not a BX310x')
    .option('--json', 'print the differences and figures as JSON')
    .action(async (o: ProbeCliOptions) => {
      process.exitCode = await probeCommand(o);
    });
}
