/**
 * `bx-hil timing --device <uri> | --lab <file> [--device-id <id>] [--allow-writes] [--samples N] [--json]`:
 * time a module's safe operations and print a `timing:` block for the lab file (the logic is
 * harness/run/measure-timing.ts; docs/first-contact.md walks through it).
 *
 * stdout: the YAML block (or, with --json, the whole measurement); stderr: one line per figure.
 * Exit 0 when every step that ran measured; 1 when the module stopped answering (the block holds
 * what was measured before, stderr names the step); 2 on bad input (one line).
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { ConfigError } from '../errors.ts';
import { checkHostAddress, labFromDevice, loadLabFile, MEASURE_DEFAULTS, measureTiming } from '../run/index.ts';
import type { TimingMeasurement } from '../run/index.ts';
import { checkTarget, getVirtualModule, openTarget } from '../targets.ts';
import { oneLine, writeErr, writeOut } from './console.ts';

interface TimingCliOptions {
  device?: string;
  lab?: string;
  deviceId?: string;
  hostAddress?: string;
  allowWrites?: boolean;
  samples?: string;
  timeout?: string;
  json?: boolean;
}

function wholeNumber(flag: string, text: string | undefined, min: number, max: number, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max)
    throw new ConfigError(flag, text, `${flag} must be a whole number from ${min} to ${max}, not "${text}"`);
  return n;
}

/** The printable block: comment lines (what was measured, what not and why), then `timing:`. */
export function timingYaml(m: TimingMeasurement): string {
  const head = [
    `# bx-hil timing: ${m.uri}${m.model ? ` (${m.model}, firmware ${m.firmware})` : ''}`,
    '# Paste the timing: block under this device in the lab file (devices[i].timing); docs/first-contact.md.',
    ...m.steps.map((s) => `# ${s.name}: ${s.status === 'measured' ? '' : `${s.status}: `}${s.detail}`),
    ...(m.profile && m.profile.notMeasured.length > 0
      ? [
          `# Not measured, so left out: the lab file keeps profile ${m.profile.name}'s realistic values:`,
          ...m.profile.notMeasured.map((n) => `#   ${n.field}: ${n.value} ${n.source}`),
        ]
      : []),
  ].map((l) => oneLine(l));
  // The source tags last, as the shipped profiles write them.
  const { sources, ...values } = m.block;
  return `${head.join('\n')}\n${stringify({ timing: { ...values, sources } })}`;
}

export async function timingCommand(o: TimingCliOptions): Promise<number> {
  if (o.lab !== undefined && o.device !== undefined)
    throw new ConfigError('--device', o.device, 'give either --device or --lab (with --device-id), not both');
  if (o.deviceId !== undefined && o.lab === undefined)
    throw new ConfigError('--device-id', o.deviceId, '--device-id picks a device of a lab file: give --lab too');
  const samples = wholeNumber('--samples', o.samples, 1, 20, MEASURE_DEFAULTS.samples);
  const commandTimeoutMs = wholeNumber('--timeout', o.timeout, 100, 600_000, MEASURE_DEFAULTS.commandTimeoutMs);
  if (o.hostAddress !== undefined) checkHostAddress(o.hostAddress, '--host-address');
  let device;
  if (o.lab !== undefined) {
    const lab = await loadLabFile(o.lab);
    for (const w of lab.warnings) writeErr(`bx-hil: warning: ${w}\n`);
    if (o.deviceId === undefined && lab.devices.length > 1)
      throw new ConfigError(
        '--device-id',
        undefined,
        `${o.lab} lists ${lab.devices.length} devices: name one with --device-id (${lab.devices.map((d) => d.id).join(', ')})`,
      );
    device = o.deviceId === undefined ? lab.devices[0]! : lab.devices.find((d) => d.id === o.deviceId);
    if (!device)
      throw new ConfigError(
        '--device-id',
        o.deviceId,
        `--device-id ${o.deviceId}: no such device in ${o.lab} (${lab.devices.map((d) => d.id).join(', ')})`,
      );
    if (o.hostAddress !== undefined) device = { ...device, hostAddress: o.hostAddress };
  } else {
    const uri = o.device ?? process.env['BX_DEVICE'];
    if (uri === undefined)
      throw new ConfigError(
        '--device',
        undefined,
        'no device: give --device <uri> (e.g. serial:/dev/serial/by-id/...) or --lab <file>',
      );
    device = labFromDevice(uri, o.hostAddress !== undefined ? { hostAddress: o.hostAddress } : {}).devices[0]!;
  }
  await checkTarget(device.uri, o.lab !== undefined ? `${o.lab}: ${device.id}.uri` : '--device');
  const m = await measureTiming({
    device,
    targets: { open: openTarget, virtualModule: getVirtualModule },
    allowWrites: o.allowWrites === true,
    samples,
    commandTimeoutMs,
    log: (line) => writeErr(`bx-hil timing: ${oneLine(line)}\n`),
  });
  if (o.json) writeOut(`${JSON.stringify(m, null, 2)}\n`);
  else writeOut(timingYaml(m));
  if (m.failed) {
    writeErr(
      `bx-hil timing: stopped at step "${m.failed.name}": ${oneLine(m.failed.detail)}; the block holds what was measured before\n`,
    );
    return 1;
  }
  return 0;
}

export function register(program: Command): void {
  program
    .command('timing')
    .description(
      "measure a module's timing (line rate, boot, flash, TLS, MQTT, Wi-Fi) and print a lab-file timing: block",
    )
    .option('--device <uri>', 'the module: serial:/dev/serial/by-id/..., tcp://, rfc2217:// or sim:')
    .option('--lab <file>', 'lab file (docs/lab-file.md): the device, its Wi-Fi and host address')
    .option('--device-id <id>', 'with --lab: which device (needed when the lab file lists several)')
    .option(
      '--host-address <ip>',
      "the test host's address as the module sees it (the rig listens there; default the lab file's, else 127.0.0.1)",
    )
    .option(
      '--allow-writes',
      "also time what changes the module: AT+RST (boot; drops Wi-Fi and MQTT sessions), a throwaway certificate stored in and deleted from an EMPTY local slot (flash), the rig's root in an EMPTY root slot (TLS) and, with local slot 0 and key slot 0 empty, a client certificate and key (TLS sign). Slots that hold something are never touched",
    )
    .option('--samples <n>', `runs per figure, the median is kept (1-20, default ${MEASURE_DEFAULTS.samples})`)
    .option('--timeout <ms>', `bound on any one answer from the module (default ${MEASURE_DEFAULTS.commandTimeoutMs})`)
    .option('--json', 'print the whole measurement as JSON instead of the YAML block')
    .action(async (o: TimingCliOptions) => {
      process.exitCode = await timingCommand(o);
    });
}
