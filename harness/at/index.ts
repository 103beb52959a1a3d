/**
 * The AT engine's public face: the driver and other areas import from here.
 * See docs/at-and-driver.md.
 */
export {
  AtEngine,
  parseAtEngineOptions,
  systemTimers,
  type AtEngineOptions,
  type AtResponse,
  type AtTimers,
  type CommandOptions,
  type DataModeOptions,
  type ExpectOptions,
  type ParsedAtEngineOptions,
  type UrcPattern,
} from './engine.ts';
export {
  AtClosedError,
  AtCommandError,
  AtError,
  AtProtocolError,
  AtResyncError,
  AtTimeoutError,
  CmeError,
  ModuleResetError,
  SecretEchoError,
} from './errors.ts';
export { CME_MEANINGS, cmeMeaning } from './cme.ts';
export {
  AtFramer,
  DelimiterFramer,
  LineFramer,
  finalKindOf,
  type AtFramerOptions,
  type DelimiterFramerOptions,
  type FinalKind,
  type Frame,
  type LineFramerOptions,
} from './framer.ts';
export {
  DEFAULT_TRANSCRIPT_MAX_BYTES,
  Transcript,
  escapeBytes,
  secretMarker,
  type TranscriptEntry,
  type TranscriptOptions,
} from './transcript.ts';
export {
  UrcRegistry,
  commandPrefix,
  defaultUrcRegistry,
  linePrefix,
  parseParams,
  type AtParam,
  type Urc,
  type UrcDefinition,
} from './urc.ts';
