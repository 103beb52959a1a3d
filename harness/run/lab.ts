/**
 * The lab file (docs/lab-file.md), the bench of devices: which modules are attached, how to
 * reach them, what firmware each should run, and what is known to fail on it. ("Rig" names the
 * broker the harness starts, `BrokerRig`.) YAML or JSON, validated once at the edge into
 * a complete typed object (docs/STYLE.md §6); every error names the field (`devices[1].uri: ...`).
 *
 * Secrets: `wifi.password` is never put into an error, a log line or `describeLab()`.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.ts';
import { parseLinkUri } from '../link/index.ts';
import { checkExpectation, isExpectationProblem, type KnownIssue } from '../known-issue.ts';
import { parseLabNetwork, type LabNetworkConfig } from '../lab/index.ts';
import { resolveTiming, type Profile } from '../sim/index.ts';
import { INSTANT_TIMING, parseTiming, type Timing } from '../timing.ts';
import { loadProfileAs, resolveProfileSpec, userProfiles } from './device-profile.ts';

/** A shell command the runner executes before the suites, with a bound. */
export interface LabCommand {
  /** Run through `/bin/sh -c`. `{device}` and `{uri}` are replaced by the device's id and URI. */
  command: string;
  /** Killed (and the device marked failed) after this long. Default 60 000 ms (1 min). */
  timeoutMs: number;
}

export interface WifiCredentials {
  ssid: string;
  /** Never logged. */
  password: string;
}

export interface LabDevice {
  /** Unique id, used in reports and evidence paths. Default: derived from the URI. */
  id: string;
  /** Link URI: `/dev/serial/by-id/...` (recommended: stable across reboots), `serial:`, `tcp://`, `rfc2217://`, `sim:`. */
  uri: string;
  /** Firmware the module should report (AT+CGMR); a mismatch fails preflight as a rig problem. Optional. */
  firmware?: string;
  /** Wi-Fi the module joins before the suites. Absent: the module is assumed joined (or sim:). */
  wifi?: WifiCredentials;
  /**
   * The test host's address as the module sees it (the broker rig listens there and its
   * server certificate names it). Default: lab-level `hostAddress`, else 127.0.0.1 (sim only).
   */
  hostAddress: string;
  /** Run before the suites (e.g. a relay or a USB hub port toggle). */
  powerCycle?: LabCommand;
  /** Run before the suites, before the power cycle (e.g. the vendor's flashing tool). */
  flash?: LabCommand;
  /** Known issues of this device's firmware, added to the lab-level list. */
  knownIssues: KnownIssue[];
  /**
   * The firmware profile the device runs against: a shipped name (`2.6.3`, `legacy`,
   * `reference`) or a JSON file (resolved against the lab file's folder). Absent: chosen by the
   * module's AT+CGMR (harness/run/device-profile.ts). Not on `sim:` devices (the URI names it).
   */
  profile?: string;
  /**
   * How fast this module is (harness/timing.ts, docs/lab-file.md "Timing"): `realistic` (the
   * matched profile's timing block), `instant`, or an inline timing block (validated; applied
   * over the matched profile's block by `labDeviceTiming`). Absent: `realistic` for a real
   * module; a `sim:` device states its timing in its URI (`?timing=`) instead.
   */
  timing?: LabTiming;
}

/** A lab device's `timing:` as validated: a name, or an inline block (see `labDeviceTiming`). */
export type LabTiming = 'instant' | 'realistic' | { block: Record<string, unknown> };

export interface LabConfig {
  devices: LabDevice[];
  /** Known issues for every device. */
  knownIssues: KnownIssue[];
  /** Folder of user JSON profiles matched by AT+CGMR (resolved against the lab file's folder). */
  profiles?: string;
  /** Warnings found while validating (e.g. an unstable /dev/ttyUSB0 path). Not errors. */
  warnings: string[];
  /** The lab's network services (`network.dns`: the responder the modules' DHCP names); docs/lab.md. */
  network?: LabNetworkConfig;
}

/** Defaults merged into every lab (docs/STYLE.md §6). */
export const LAB_DEFAULTS = Object.freeze({
  hostAddress: '127.0.0.1',
  commandTimeoutMs: 60_000, // 1 min
});

/** Derive a report-friendly device id from a URI: `sim:2.6.3` → `sim-2.6.3`. */
export function deviceIdFromUri(uri: string): string {
  const id = uri
    .replace(/^\/dev\/serial\/by-id\//, '')
    .replace(/^[a-z0-9]+:(\/\/)?/i, (m) => m.replace(/:(\/\/)?$/, '-'))
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
  return id === '' ? 'device' : id.slice(0, 64);
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(o: Obj, field: string, allowed: readonly string[]): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(
        field === '' ? key : `${field}.${key}`,
        key,
        `${field === '' ? key : `${field}.${key}`}: unknown field; allowed here: ${allowed.join(', ')}`,
      );
    }
  }
}

function str(o: Obj, key: string, field: string, required: true): string;
function str(o: Obj, key: string, field: string, required?: false): string | undefined;
function str(o: Obj, key: string, field: string, required = false): string | undefined {
  const v = o[key];
  const path = `${field}.${key}`;
  if (v === undefined || v === null) {
    if (required) throw new ConfigError(path, v, `${path}: required (a non-empty string)`);
    return undefined;
  }
  // YAML reads `firmware: 2.6` as a number; accept numbers where a version string is meant.
  if (typeof v === 'number' && key === 'firmware') return String(v);
  if (typeof v === 'number' || typeof v === 'boolean') {
    // YAML turned the text into a value (`ssid: 0042` is the number 42): the text is lost.
    throw new ConfigError(path, v, `${path}: expected a string, got the YAML ${typeof v} ${String(v)}; quote it`);
  }
  if (typeof v !== 'string' || v.trim() === '') {
    throw new ConfigError(path, v, `${path}: expected a non-empty string, got ${JSON.stringify(v)}`);
  }
  checkNoControl(v, path);
  return v.trim();
}

/**
 * Lab strings reach AT commands, TAP lines, the console and reports: a CR or LF in an SSID
 * would forge a TAP line, an ESC would drive the terminal. Refuse every control character
 * (`allow` lists the ones a field may hold, e.g. the line breaks of a multi-line shell command).
 * `secret`: the value is never quoted.
 */
export function checkNoControl(value: string, path: string, options: { allow?: string; secret?: boolean } = {}): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 || (c >= 0x7f && c <= 0x9f)) && !(options.allow ?? '').includes(value[i]!)) {
      throw new ConfigError(
        path,
        options.secret ? '<redacted>' : value,
        `${path}: contains the control character \\x${c.toString(16).padStart(2, '0')} at position ${i + 1}; remove it (a line break or escape here would forge report and console lines)`,
      );
    }
  }
}

/** An IP address or a DNS host name: where the broker rig listens, as the module dials it. */
export function checkHostAddress(value: string, path: string): string {
  const label = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
  const hostName = new RegExp(`^(?=.{1,253}$)${label}(?:\\.${label})*\\.?$`);
  // A name whose last label is all digits is a mistyped IPv4 address (999.1.1.1), not a name.
  const lastLabel = value.replace(/\.$/, '').split('.').pop() ?? '';
  if (isIP(value) === 0 && (!hostName.test(value) || /^\d+$/.test(lastLabel))) {
    throw new ConfigError(
      path,
      value,
      `${path}: "${value}" is neither an IP address nor a host name; give an address such as 192.168.1.10 or a name such as bench-pc.local`,
    );
  }
  return value;
}

function parseCommand(v: unknown, field: string): LabCommand | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') {
    checkNoControl(v, field, { allow: '\n\t' });
    return { command: v, timeoutMs: LAB_DEFAULTS.commandTimeoutMs };
  }
  if (!isObj(v)) throw new ConfigError(field, v, `${field}: expected a command string or { command, timeoutMs }`);
  checkKeys(v, field, ['command', 'timeoutMs']);
  const command = v['command'];
  if (typeof command !== 'string' || command.trim() === '')
    throw new ConfigError(`${field}.command`, command, `${field}.command: required (a non-empty string)`);
  checkNoControl(command, `${field}.command`, { allow: '\n\t' });
  const t = v['timeoutMs'] ?? LAB_DEFAULTS.commandTimeoutMs;
  if (typeof t !== 'number' || !Number.isInteger(t) || t <= 0 || t > 3_600_000) {
    throw new ConfigError(
      `${field}.timeoutMs`,
      t,
      `${field}.timeoutMs: expected whole milliseconds in 1..3600000 (1 h), got ${JSON.stringify(t)}`,
    );
  }
  return { command: command.trim(), timeoutMs: t };
}

function parseWifi(v: unknown, field: string): WifiCredentials | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) throw new ConfigError(field, '<redacted>', `${field}: expected { ssid, password }`);
  checkKeys(v, field, ['ssid', 'password']);
  const ssid = str(v, 'ssid', field, true);
  const pw = v['password'];
  if (pw === undefined || pw === null) return { ssid, password: '' };
  if (typeof pw !== 'string') {
    // The value is a secret: never quote it. A YAML number has already lost its text
    // (`00000000` is 0, `0123456789` is 123456789), so it cannot be turned back into a password.
    throw new ConfigError(
      `${field}.password`,
      '<redacted>',
      `${field}.password: expected a string, got a YAML ${typeof pw}; quote it (password: "...")`,
    );
  }
  checkNoControl(pw, `${field}.password`, { secret: true });
  return { ssid, password: pw };
}

function parseKnownIssues(v: unknown, field: string): KnownIssue[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v))
    throw new ConfigError(field, v, `${field}: expected a list of { test, reason, source, expects }`);
  return v.map((item, i) => {
    const f = `${field}[${i}]`;
    if (!isObj(item)) throw new ConfigError(f, item, `${f}: expected { test, reason, source, expects }`);
    checkKeys(item, f, ['test', 'reason', 'source', 'expects']);
    const issue = {
      test: str(item, 'test', f, true),
      reason: str(item, 'reason', f, true),
      source: str(item, 'source', f, true),
    };
    // How the test fails (harness/known-issue.ts): required, so no entry excuses every failure.
    const expects = checkExpectation(item['expects']);
    if (isExpectationProblem(expects)) {
      const sub = expects.key === undefined ? `${f}.expects` : `${f}.expects.${expects.key}`;
      throw new ConfigError(sub, item['expects'], `${sub}: ${expects.why}`);
    }
    return { ...issue, expects };
  });
}

function validateUri(uri: string, field: string, warnings: string[]): void {
  let url: URL;
  try {
    url = parseLinkUri(uri);
  } catch (cause) {
    throw new ConfigError(field, uri, `${field}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  const path = url.protocol === 'serial:' ? url.pathname : '';
  if (/^\/dev\/tty(USB|ACM)\d+$/.test(path)) {
    warnings.push(`${field}: ${path} may name another adapter after a reboot; prefer its /dev/serial/by-id/... link`);
  }
}

function parseLabTiming(v: unknown, field: string, uri: string, profile: string | undefined): LabTiming | undefined {
  if (v === undefined || v === null) return undefined;
  if (uri.startsWith('sim:')) {
    throw new ConfigError(
      field,
      v,
      `${field}: a sim: device states its timing in its URI (sim:2.6.3?timing=realistic); remove timing:`,
    );
  }
  if (v === 'instant' || v === 'realistic') return v;
  if (!isObj(v)) {
    throw new ConfigError(field, v, `${field}: expected instant, realistic or a timing block { line, tls, ... }`);
  }
  // Checked now over the named profile's block (or instant, when the module's AT+CGMR will
  // choose it), so a bad field is refused before anything starts.
  parseTiming(v, field, profile === undefined ? INSTANT_TIMING : loadProfileAs(profile, field).timing);
  return { block: v };
}

/**
 * The timing of a lab device once its profile is chosen (harness/run/device-profile.ts): what
 * the runner scales its waits by. A `sim:` device's is its URI's `timing=` (instant by default);
 * a real module's is `timing:` of the lab file, `realistic` when absent, an inline block applied
 * over the profile's realistic block.
 */
export function labDeviceTiming(device: LabDevice, profile: Profile, field = `devices.${device.id}.timing`): Timing {
  if (device.uri.startsWith('sim:')) {
    const setting = new URL(device.uri).searchParams.get('timing') ?? 'instant';
    return resolveTiming(setting, profile, field);
  }
  const t = device.timing ?? 'realistic';
  if (t === 'instant' || t === 'realistic') return resolveTiming(t, profile, field);
  return parseTiming(t.block, field, { ...profile.timing, name: `lab ${device.id}` });
}

/**
 * Validate a parsed lab document (from YAML or JSON) into a complete `LabConfig`. Profile paths
 * (`profile:`, `profiles:`) are resolved against `baseDir` (the lab file's folder) and loaded
 * here, so a bad one is refused before anything starts.
 */
export function parseLab(doc: unknown, baseDir = '.'): LabConfig {
  if (!isObj(doc)) throw new ConfigError('(root)', doc, 'lab file: expected a mapping with a `devices` list');
  checkKeys(doc, '', ['version', 'hostAddress', 'devices', 'knownIssues', 'profiles', 'network']);
  if (doc['version'] !== undefined && doc['version'] !== 1) {
    throw new ConfigError(
      'version',
      doc['version'],
      `version: only version 1 is understood, got ${JSON.stringify(doc['version'])}`,
    );
  }
  const rootHost = str(doc, 'hostAddress', '(root)');
  const hostAddress = rootHost === undefined ? LAB_DEFAULTS.hostAddress : checkHostAddress(rootHost, 'hostAddress');
  const list = doc['devices'];
  if (!Array.isArray(list) || list.length === 0) {
    throw new ConfigError('devices', list, 'devices: required, a non-empty list of { uri, ... }');
  }
  const warnings: string[] = [];
  const ids = new Set<string>();
  const devices = list.map((item, i): LabDevice => {
    const f = `devices[${i}]`;
    if (typeof item === 'string') item = { uri: item };
    if (!isObj(item)) throw new ConfigError(f, item, `${f}: expected { uri, ... } or a URI string`);
    checkKeys(item, f, [
      'id',
      'uri',
      'firmware',
      'profile',
      'wifi',
      'hostAddress',
      'powerCycle',
      'flash',
      'knownIssues',
      'timing',
    ]);
    const uri = str(item, 'uri', f, true);
    validateUri(uri, `${f}.uri`, warnings);
    const id = str(item, 'id', f) ?? deviceIdFromUri(uri);
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) {
      throw new ConfigError(
        `${f}.id`,
        id,
        `${f}.id: use 1-64 letters, digits, '.', '_' or '-' (it names report directories)`,
      );
    }
    if (ids.has(id))
      throw new ConfigError(`${f}.id`, id, `${f}.id: "${id}" is used by another device; give each device a unique id`);
    ids.add(id);
    const device: LabDevice = {
      id,
      uri,
      hostAddress: checkHostAddress(str(item, 'hostAddress', f) ?? hostAddress, `${f}.hostAddress`),
      knownIssues: parseKnownIssues(item['knownIssues'], `${f}.knownIssues`),
    };
    const firmware = str(item, 'firmware', f);
    if (firmware !== undefined) device.firmware = firmware;
    const profile = str(item, 'profile', f);
    if (profile !== undefined) {
      if (uri.startsWith('sim:')) {
        throw new ConfigError(
          `${f}.profile`,
          profile,
          `${f}.profile: ${uri} already names its profile (sim:<profile>); remove profile: or write the profile into the URI`,
        );
      }
      device.profile = resolveProfileSpec(profile, baseDir);
      loadProfileAs(device.profile, `${f}.profile`);
    }
    const timing = parseLabTiming(item['timing'], `${f}.timing`, uri, device.profile);
    if (timing) device.timing = timing;
    const wifi = parseWifi(item['wifi'], `${f}.wifi`);
    if (wifi) device.wifi = wifi;
    const powerCycle = parseCommand(item['powerCycle'], `${f}.powerCycle`);
    if (powerCycle) device.powerCycle = powerCycle;
    const flash = parseCommand(item['flash'], `${f}.flash`);
    if (flash) device.flash = flash;
    return device;
  });
  const lab: LabConfig = { devices, knownIssues: parseKnownIssues(doc['knownIssues'], 'knownIssues'), warnings };
  const network = parseLabNetwork(doc['network']);
  if (network) lab.network = network;
  const profiles = str(doc, 'profiles', '(root)');
  if (profiles !== undefined) {
    lab.profiles = resolve(baseDir, profiles);
    userProfiles(lab.profiles);
  }
  return lab;
}

/** Parse lab file text; JSON when it starts with `{`, else YAML (YAML is a superset anyway). */
export function parseLabText(text: string, source = 'lab file', baseDir = '.'): LabConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true });
  } catch (cause) {
    throw new ConfigError(
      '(file)',
      source,
      `${source}: not valid YAML/JSON: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
  return parseLab(doc, baseDir);
}

export async function loadLabFile(path: string): Promise<LabConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(
      '--lab',
      path,
      `cannot read lab file ${path}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}; check the path`,
      { cause },
    );
  }
  return parseLabText(text, path, dirname(path));
}

/** A lab for one `--device <uri>` (what `bx-hil run` without `--lab` uses); `profile` is `--profile`. */
export function labFromDevice(uri: string, options: { hostAddress?: string; profile?: string } = {}): LabConfig {
  try {
    return parseLab({
      devices: [
        {
          uri,
          ...(options.hostAddress ? { hostAddress: options.hostAddress } : {}),
          ...(options.profile !== undefined ? { profile: options.profile } : {}),
        },
      ],
    });
  } catch (err) {
    // The lab has one device made of flags: name the flag, not `devices[0].profile`.
    if (err instanceof ConfigError && err.field.startsWith('devices[0].profile')) {
      const message = err.message
        .replace(/^devices\[0\]\.profile: /, '')
        .replace('remove profile:', 'remove --profile');
      throw new ConfigError('--profile', options.profile, `--profile: ${message}`, { cause: err });
    }
    throw err;
  }
}

/** The lab as printable JSON, with Wi-Fi passwords replaced by `***`. */
export function describeLab(lab: LabConfig): string {
  return JSON.stringify(lab, (key, value: unknown) => (key === 'password' ? '***' : value), 2);
}
