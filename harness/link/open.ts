/**
 * `openLink(uri)`: the one entry point from a device URI to an open `Link`.
 *
 * Schemes register a factory here (`registerLinkScheme`). Built-ins register themselves when
 * their module is imported by `harness/link/index.ts`; `sim:` is registered by
 * `harness/targets.ts`, because the simulator is not part of the link layer.
 * A bare path starting with `/dev/` means `serial:`.
 */
import { ConfigError } from '../errors.ts';
import type { Link, LinkFactory } from './types.ts';

const factories = new Map<string, LinkFactory>();

export function registerLinkScheme(scheme: string, factory: LinkFactory): void {
  factories.set(scheme.replace(/:$/, ''), factory);
}

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

export async function openLink(raw: string): Promise<Link> {
  const url = parseLinkUri(raw);
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
  return factory(url, raw);
}
