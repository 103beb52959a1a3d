/**
 * The link layer's public face: everyone imports byte links through this file.
 *
 * Importing it registers the built-in schemes with `openLink`: `serial:` (and bare `/dev/...`
 * paths), `tcp://` and `rfc2217://`. `sim:` is registered by `harness/targets.ts`.
 * See docs/link.md for URIs, options and error codes.
 */
import { registerLinkScheme } from './open.ts';
import { openRfc2217Link } from './rfc2217.ts';
import { openSerialLink } from './serial.ts';
import { openTcpLink } from './tcp.ts';

registerLinkScheme('serial', openSerialLink);
registerLinkScheme('tcp', openTcpLink);
registerLinkScheme('rfc2217', openRfc2217Link);

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
  telnetEscape,
  type Rfc2217Options,
} from './rfc2217.ts';
export { freePort, hasTool, socatPtyPair, startSer2net, type PtyPair, type Ser2net } from './testing.ts';
export { openLink, parseLinkUri, registerLinkScheme, registeredSchemes } from './open.ts';
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
