/**
 * Wires the virtual module into the link registry: `sim:<profile>` opens an in-process
 * `VirtualModule` behind a `StreamLink` over a `duplexPair()`. This is the only place that
 * knows both the link layer and the simulator (DESIGN.md module graph).
 *
 * URI: `sim:<profile>` (`2.6.3`, `legacy`, `reference`; `sim:` alone means `2.6.3`) or
 * `sim:<path.json>`, with query options:
 * - `resolve=<host>=<ip>[:<port>]` (repeatable): host override; SNI and the name check still
 *   use `<host>`.
 * - `clock=host|1970|<ISO date>`: the module clock.
 * - `echo=0|1`: echo after open. Default 1 (the profile's boot setting).
 * - `store=<file>`: keep the certificate/key stores in a JSON file, as flash would.
 */
import { duplexPair } from 'node:stream';
import { ConfigError } from './errors.ts';
import { openLink, registerLinkScheme, StreamLink, type Link } from './link/index.ts';
import { createVirtualModule, parseHostTarget, type VirtualModule, type VirtualModuleOptions } from './sim/index.ts';
import type { ClockSetting } from './sim/clock.ts';

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
      case 'echo':
        if (value !== '0' && value !== '1')
          throw new ConfigError('device.echo', value, `echo must be 0 or 1, not "${value}"`);
        echo = value === '1';
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
          `unknown sim: option "${key}": use resolve, clock, echo or store`,
        );
    }
  }
  return { options, echo };
}

registerLinkScheme('sim', async (url, raw) => {
  const { options, echo } = parseSimUri(url);
  const module = createVirtualModule(options);
  if (echo !== undefined) module.echo = echo;
  const [host, device] = duplexPair();
  module.attach(device);
  const link = new StreamLink(raw, host);
  link.once('close', () => void module.close());
  modules.set(link, module);
  return link;
});

/** The virtual module behind a `sim:` link (host overrides, fault knobs), or undefined for other links. */
export function getVirtualModule(link: Link): VirtualModule | undefined {
  return modules.get(link);
}

/** Open any target URI (`sim:`, `serial:`, `tcp://`, `rfc2217://`) with `sim:` registered. */
export function openTarget(uri: string): Promise<Link> {
  return openLink(uri);
}
