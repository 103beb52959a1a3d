/**
 * The link layer's public face: everyone imports byte links through this file.
 *
 * Importing it registers the built-in schemes with `openLink`: `serial:` (and bare `/dev/...`
 * paths), `tcp://` and `rfc2217://`. `sim:` is registered by `harness/targets.ts`.
 * See docs/link.md for URIs, options and error codes.
 */
export type { LineSettings, Link, LinkEvents, LinkFactory, LinkSignals } from './types.ts';
export { LinkError, LinkUnsupportedError, ScriptPendingError } from './errors.ts';
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
