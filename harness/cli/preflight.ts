/**
 * `bx-hil preflight [--lab <file> | --device <uri>] [--tap [file]]`: per device, the port opens,
 * AT answers, the firmware is read (and is the expected one), Wi-Fi is joined and the broker is
 * reachable. Each failure is labelled a rig problem or a firmware failure. `--tap` writes TAP
 * (stdout, or a file), which `tap-junit` turns into JUnit for CI dashboards:
 * `npx bx-hil preflight --lab lab.yaml --tap | npx tap-junit -o reports -n preflight.xml`.
 *
 * Exit code 0 when every device passed, 1 otherwise, 2 on bad input.
 */
import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { oneLine, writeErr, writeOut } from './console.ts';
import { checkOutputFile, writeFileAtomic } from '../files.ts';
import { preflightFailure, preflightToTap, preflightWithDriver, loadLabFile, labFromDevice } from '../run/index.ts';
import { checkTarget, getVirtualModule, openTarget } from '../targets.ts';

const targets = { open: openTarget, virtualModule: getVirtualModule };
import { foldLabAlias, rigAlias } from './lab-option.ts';

interface PreflightCliOptions {
  lab?: string;
  device?: string;
  tap?: string | boolean;
  hostAddress?: string;
}

export async function preflightCommand(o: PreflightCliOptions): Promise<number> {
  if (o.lab && o.device) throw new ConfigError('--device', o.device, 'give either --device or --lab, not both');
  const lab = o.lab
    ? await loadLabFile(o.lab)
    : labFromDevice(
        o.device ?? process.env['BX_DEVICE'] ?? 'sim:2.6.3',
        o.hostAddress ? { hostAddress: o.hostAddress } : {},
      );
  for (const w of lab.warnings) process.stderr.write(`bx-hil: warning: ${w}\n`);
  // A malformed device URI is bad input (exit 2), not a "rig problem" found by a probe.
  for (const [i, d] of lab.devices.entries())
    await checkTarget(d.uri, o.lab ? `${o.lab}: devices[${i}].uri` : '--device');
  // The TAP file's folder is checked now, not after every check has run.
  const tapFile = typeof o.tap === 'string' ? checkOutputFile(o.tap, '--tap') : undefined;
  // Devices in parallel: each probe broker listens on its own port.
  const dns = lab.network?.dns;
  const results = await Promise.all(lab.devices.map((d) => preflightWithDriver(d, targets, dns ? { dns } : {})));
  const tapToStdout = o.tap === true;
  // Step titles, details and the firmware string come from the module: oneLine() escapes their
  // control characters, so a module cannot forge an "ok" line or drive the terminal.
  const say = (line: string) => (tapToStdout ? writeErr : writeOut)(`${line}\n`);
  for (const r of results) {
    for (const s of r.steps)
      say(
        `${r.device}: ${s.status === 'ok' ? 'ok  ' : s.status === 'skip' ? 'skip' : 'FAIL'} ${oneLine(s.title)}${s.status === 'ok' ? '' : ` (${oneLine(s.detail)})`}`,
      );
    const f = preflightFailure(r);
    say(
      f
        ? `${r.device}: NOT READY: ${f.category === 'rig' ? 'rig problem' : 'firmware failure'} at "${oneLine(f.title)}"`
        : `${r.device}: ready${r.firmware ? ` (firmware ${oneLine(r.firmware)})` : ''}`,
    );
  }
  if (o.tap !== undefined && o.tap !== false) {
    const tap = preflightToTap(results);
    if (tapFile) writeFileAtomic(tapFile, tap);
    else writeOut(tap);
  }
  return results.every((r) => r.ok) ? 0 : 1;
}

export function register(program: Command): void {
  program
    .command('preflight')
    .description(
      'check each device is ready (port, AT, firmware, Wi-Fi, broker reachable); tells rig problems from firmware failures',
    )
    .option('--lab <file>', 'lab file (YAML or JSON) listing devices; see docs/lab-file.md')
    .addOption(rigAlias())
    .option('--device <uri>', 'one device URI (default sim:2.6.3)')
    .option('--host-address <ip>', "with --device: the test host's address as the module sees it")
    .option('--tap [file]', 'write TAP to stdout (or the file), for tap-junit')
    .action(async (o: PreflightCliOptions & { rig?: string }) => {
      process.exitCode = await preflightCommand(foldLabAlias(o));
    });
}
