/**
 * `openLink(uri)`: the one entry point from a device URI to an open `Link`.
 *
 * Schemes register a factory here (`registerLinkScheme`). Built-ins register themselves when
 * their module is imported by `harness/link/index.ts`; `sim:` is registered by
 * `harness/targets.ts`, because the simulator is not part of the link layer.
 * A bare path starting with `/dev/` means `serial:`.
 *
 * A scheme may also register a `check`: it validates a URI without opening anything (no I/O,
 * no port taken), so a command can refuse a malformed device URI with exit 2 before it starts a
 * run (`checkLinkUri`). `openLink` runs the same check first: one parser per scheme.
 */
import { ConfigError } from '../errors.ts';
import type { Link, LinkFactory } from './types.ts';

/** Validates a parsed URI of one scheme; throws `ConfigError` naming the field and the fix. */
export type LinkUriCheck = (url: URL, raw: string) => void | Promise<void>;

const factories = new Map<string, LinkFactory>();
const checks = new Map<string, LinkUriCheck>();

/** Register a URI scheme (`sim:`, `mytransport://`) for `openLink`, with an optional check of its URIs. */
export function registerLinkScheme(scheme: string, factory: LinkFactory, check?: LinkUriCheck): void {
  const name = scheme.replace(/:$/, '');
  factories.set(name, factory);
  if (check) checks.set(name, check);
  else checks.delete(name);
}

/** The URI schemes `openLink` knows. */
export function registeredSchemes(): string[] {
  return [...factories.keys()].sort();
}

/** Parse a device URI; a bare `/dev/...` path becomes `serial:/dev/...`. */
export function parseLinkUri(raw: string): URL {
  const text = raw.trim();
  if (text === '') {
    throw new ConfigError(
      'device',
      raw,
      'no device given: set BX_DEVICE=serial:/dev/ttyUSB0, tcp://host:port or sim:2.6.3',
    );
  }
  const normalised = text.startsWith('/dev/') ? `serial:${text}` : text;
  try {
    return new URL(normalised);
  } catch (cause) {
    throw new ConfigError(
      'device',
      raw,
      `"${raw}" is not a device URI: use serial:/dev/ttyUSB0?baud=115200, tcp://host:port, rfc2217://host:port or sim:<profile>`,
      { cause },
    );
  }
}

function factoryFor(url: URL, raw: string): { scheme: string; factory: LinkFactory } {
  const scheme = url.protocol.replace(/:$/, '');
  const factory = factories.get(scheme);
  if (!factory) {
    throw new ConfigError(
      'device',
      raw,
      `unknown device scheme "${scheme}:" in "${raw}": known schemes are ${registeredSchemes()
        .map((s) => `${s}:`)
        .join(', ')}`,
    );
  }
  return { scheme, factory };
}

/**
 * Validate a device URI completely without opening it: syntax, a known scheme, and the scheme's
 * own options (a port, a path, `?baud=`...). Throws `ConfigError` (exit 2 at the CLI).
 */
export async function checkLinkUri(raw: string): Promise<URL> {
  const url = parseLinkUri(raw);
  const { scheme } = factoryFor(url, raw);
  await checks.get(scheme)?.(url, raw);
  return url;
}

/** Open a link from a device URI: `/dev/...` or `serial:` (serial port), `tcp://host:port`, `rfc2217://host:port`, or a registered scheme such as `sim:`. */
export async function openLink(raw: string): Promise<Link> {
  const url = await checkLinkUri(raw);
  return factoryFor(url, raw).factory(url, raw);
}
