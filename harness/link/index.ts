/**
 * The link layer's public face: everyone imports byte links through this file.
 *
 * Importing it registers the built-in schemes with `openLink`: `serial:` (and bare `/dev/...`
 * paths), `tcp://` and `rfc2217://`. `sim:` is registered by `harness/targets.ts`.
 * See docs/link.md for URIs, options and error codes.
 */
import { ConfigError } from '../errors.ts';
import { registerLinkScheme } from './open.ts';
import { parseSerialOptions } from './options.ts';
import { openRfc2217Link, parseRfc2217Uri } from './rfc2217.ts';
import { openSerialLink, serialPathOf } from './serial.ts';
import { openTcpLink, parseTcpTarget } from './tcp.ts';

// Each scheme's check parses the whole URI without opening anything (checkLinkUri).
registerLinkScheme('serial', openSerialLink, (url, raw) => {
  const path = serialPathOf(url);
  if (path === '' || path === '/')
    throw new ConfigError(
      'device',
      raw,
      `no device path in "${raw}": use serial:/dev/ttyUSB0 or serial:/dev/serial/by-id/...`,
    );
  parseSerialOptions(url);
});
registerLinkScheme('tcp', openTcpLink, (url) => void parseTcpTarget(url));
registerLinkScheme('rfc2217', openRfc2217Link, (url) => void parseRfc2217Uri(url));

export type { LineSettings, Link, LinkEvents, LinkFactory, LinkSignals } from './types.ts';
export { LinkError, LinkOpenError, LinkUnsupportedError, ScriptPendingError, type LinkOpenReason } from './errors.ts';
export {
  checkLineSettings,
  defaultLineSettings,
  parseSerialOptions,
  type ParseSerialOptionsOptions,
} from './options.ts';
export { SerialLink, mapSerialOpenError, openSerialLink, serialPathOf } from './serial.ts';
export {
  DEFAULT_CONNECT_TIMEOUT_MS,
  connectTcp,
  mapConnectError,
  openTcpLink,
  parseTcpTarget,
  type TcpTarget,
} from './tcp.ts';
export {
  Rfc2217Link,
  TelnetDecoder,
  openRfc2217Link,
  parseRfc2217Options,
  parseRfc2217Uri,
  telnetEscape,
  type Rfc2217Options,
} from './rfc2217.ts';
export {
  checkLinkUri,
  openLink,
  parseLinkUri,
  registerLinkScheme,
  registeredSchemes,
  type LinkUriCheck,
} from './open.ts';
export { StreamLink, memoryLinkPair } from './stream.ts';
export {
  previewBytes,
  scriptedLink,
  type ExpectOptions,
  type ReplyBytes,
  type ReplyOptions,
  type ScriptedExpectation,
  type ScriptedLink,
  type ScriptedLinkOptions,
  type WriteMatcher,
} from './scripted.ts';
export { lineTimeMs, pacedLink, pacedMemoryLinkPair, parsePacedLinkOptions, type PacedLinkOptions } from './paced.ts';
