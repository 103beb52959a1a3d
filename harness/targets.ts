/**
 * Wires the virtual module into the link registry: `sim:<profile>` opens an in-process
 * `VirtualModule` behind a `StreamLink` over a `duplexPair()`. This is the only place that
 * knows both the link layer and the simulator (docs/DESIGN.md module graph).
 *
 * URI: `sim:<profile>` (`2.6.3`, `legacy`, `reference`; `sim:` alone means `2.6.3`) or
 * `sim:<path.json>`, with query options:
 * - `resolve=<host>=<ip>[:<port>]` (repeatable): host override; SNI and the name check still
 *   use `<host>`.
 * - `clock=host|1970|<ISO date>`: the module clock.
 * - `dns=<ip>[:<port>]`: the DNS server the module got from DHCP; names without a `resolve=`
 *   override are looked up there with real queries (the lab's responder, `bx-hil dns`).
 * - `sntp=<ip>[:<port>]`: the SNTP server a profile with `clock.source: 'sntp'` [guess] sets its
 *   clock from (port 123 when absent).
 * - `echo=0|1`: echo after open. Default 1 (the profile's boot setting).
 * - `store=<file>`: keep the certificate/key stores in a JSON file, as flash would.
 * - `timing=instant|realistic|<file.json>`: how fast the module is (docs/sim.md §Timing). Default
 *   `instant`; `realistic` is the profile's timing block; a file holds a timing block parsed over
 *   the profile's. With a paced line the host end is paced too (paceReads off), as the OS
 *   serial driver paces a real port, so the harness is not flagged for overrunning the module.
 */
import { duplexPair } from 'node:stream';
import { ConfigError } from './errors.ts';
import { parseDnsAddress } from './lab/index.ts';
import { checkLinkUri, openLink, pacedLink, registerLinkScheme, StreamLink, type Link } from './link/index.ts';
import {
  checkTimingText,
  createVirtualModule,
  loadProfile,
  parseHostTarget,
  parseProfile,
  resolveTiming,
  SimError,
  type VirtualModule,
  type VirtualModuleOptions,
  type ClockSetting,
} from './sim/index.ts';

const modules = new WeakMap<Link, VirtualModule>();

/** The profile reference of a `sim:` URI. */
export const DEFAULT_SIM_PROFILE = '2.6.3';

export function parseClockSetting(text: string, field = 'clock'): ClockSetting {
  if (text === 'host' || text === '1970') return text;
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) {
    throw new ConfigError(
      field,
      text,
      `${field} must be host, 1970 or an ISO date such as 2026-01-01T00:00:00Z, not "${text}"`,
    );
  }
  return d;
}

/** `<host>=<ip>[:<port>]` → [host, override]. */
export function parseResolveArg(text: string, field = 'resolve'): [string, { host: string; port?: number }] {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1) {
    throw new ConfigError(
      field,
      text,
      `${field} must be <host>=<ip>[:<port>], e.g. abc-ats.iot.eu-west-1.amazonaws.com=127.0.0.1:8883, not "${text}"`,
    );
  }
  try {
    return [text.slice(0, eq), parseHostTarget(text.slice(eq + 1))];
  } catch (cause) {
    throw new ConfigError(field, text, `${field} "${text}": ${(cause as Error).message}`, { cause });
  }
}

/** Turn a `sim:` URL into module options (+ the echo setting). */
export function parseSimUri(url: URL): { options: VirtualModuleOptions; echo?: boolean } {
  if (url.host !== '' || url.href.startsWith('sim://')) {
    throw new ConfigError(
      'device',
      url.href,
      `a sim: URI has no host; write sim:<profile>, e.g. sim:2.6.3 or sim:./my-profile.json`,
    );
  }
  const profile = decodeURIComponent(url.pathname) || DEFAULT_SIM_PROFILE;
  const options: VirtualModuleOptions = { profile };
  let echo: boolean | undefined;
  for (const [key, value] of url.searchParams) {
    switch (key) {
      case 'resolve': {
        const [host, target] = parseResolveArg(value, 'device.resolve');
        options.resolve = { ...options.resolve, [host]: target };
        break;
      }
      case 'clock':
        options.clock = parseClockSetting(value, 'device.clock');
        break;
      case 'dns': {
        const { host, port } = parseDnsAddress(value, 'device.dns');
        options.dns = `${host}:${port}`;
        break;
      }
      case 'sntp': {
        const { host, port } = parseDnsAddress(value, 'device.sntp', 123);
        options.sntp = `${host}:${port}`;
        break;
      }
      case 'echo':
        if (value !== '0' && value !== '1')
          throw new ConfigError('device.echo', value, `echo must be 0 or 1, not "${value}"`);
        echo = value === '1';
        break;
      case 'timing':
        checkTimingText(value, 'device.timing');
        options.timing = value;
        break;
      case 'store':
        if (!value)
          throw new ConfigError(
            'device.store',
            value,
            'store needs a file path, e.g. sim:2.6.3?store=.tmp/module.json',
          );
        options.storePath = value;
        break;
      default:
        throw new ConfigError(
          `device.${key}`,
          value,
          `unknown sim: option "${key}": use resolve, dns, sntp, clock, echo, store or timing`,
        );
    }
  }
  return { options, echo };
}

/**
 * `createVirtualModule` for options a user gave (a `sim:` URI, `bx-hil sim`): a store file that
 * cannot be read is bad input (the user named it), so `BXHIL_SIM_STORE` becomes a
 * `ConfigError` naming `storeField`; a timing file is read here so its errors name
 * `timingField` (`device.timing.tls.signMs.rsa4096`, `--timing.line.baudRate`).
 */
export function createSimModule(
  options: VirtualModuleOptions,
  storeField = 'device.store',
  timingField = 'device.timing',
): VirtualModule {
  let opts = options;
  if (typeof options.timing === 'string' && options.timing !== 'instant' && options.timing !== 'realistic') {
    const profile = typeof options.profile === 'string' ? loadProfile(options.profile) : parseProfile(options.profile);
    opts = { ...options, profile, timing: resolveTiming(options.timing, profile, timingField) };
  }
  try {
    return createVirtualModule(opts);
  } catch (err) {
    if (err instanceof SimError && err.code === 'BXHIL_SIM_STORE')
      throw new ConfigError(storeField, options.storePath, `${storeField}: ${err.message}`, { cause: err });
    throw err;
  }
}

function simModule(url: URL): { module: VirtualModule; echo?: boolean } {
  const { options, echo } = parseSimUri(url);
  return { module: createSimModule(options), echo };
}

registerLinkScheme(
  'sim',
  async (url, raw) => {
    const { module, echo } = simModule(url);
    if (echo !== undefined) module.echo = echo;
    const [host, device] = duplexPair();
    module.attach(device);
    const stream = new StreamLink(raw, host);
    stream.once('close', () => void module.close());
    // A paced module gets a paced host: the OS serial driver of a real port sends no faster
    // than the line, so the harness must not look like a host that overruns the module.
    const { baudRate, bitsPerByte } = module.timing.line;
    const link = baudRate > 0 ? pacedLink(stream, { baudRate, bitsPerByte, paceReads: false }) : stream;
    modules.set(link, module);
    return link;
  },
  // The check builds the module (profile, clock, store) and closes it at once: the same code
  // as the open, so nothing that passes the check fails the open on its URI.
  (url) => simModule(url).module.close(),
);

/** The virtual module behind a `sim:` link (host overrides, fault knobs), or undefined for other links. */
export function getVirtualModule(link: Link): VirtualModule | undefined {
  return modules.get(link);
}

/** Open any target URI (`sim:`, `serial:`, `tcp://`, `rfc2217://`) with `sim:` registered. */
export function openTarget(uri: string): Promise<Link> {
  return openLink(uri);
}

/**
 * Validate a target URI completely before anything starts (no port opened, no report written):
 * a malformed URI, an unknown `sim:` option or profile, a bad store file. Throws one
 * `ConfigError` whose message starts with `field` (`--device`, `devices[1].uri`).
 */
export async function checkTarget(uri: string, field = 'device'): Promise<void> {
  try {
    await checkLinkUri(uri);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError(field, uri, `${field} "${uri}": ${err.message}`, { cause: err });
  }
}
