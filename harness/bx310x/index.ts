/**
 * The BX310x driver's public face (see docs/at-and-driver.md).
 */
export {
  Bx310x,
  StoreLedger,
  kmqttcfgCommand,
  parseBx310xOptions,
  parseSessionLine,
  type Bx310xEvents,
  type Bx310xOptions,
  type Bx310xState,
  type CertInfo,
  type MqttSessionConfig,
  type MqttSessionInfo,
  type ParsedBx310xOptions,
  type StoreSlot,
  type WifiCountry,
  type WifiMode,
} from './driver.ts';
export { MqttSessionError, ParameterError, ResponseParseError, WifiError } from './errors.ts';
export {
  KMQTT_IND,
  KMQTT_IND_MEANINGS,
  WIFI_REASONS,
  kmqttIndMeaning,
  toMqttInd,
  toMqttMessage,
  toWifiEvent,
  type MqttInd,
  type MqttMessage,
  type WifiEvent,
} from './urc.ts';
export { checkString, intIn, quoted, utf8AsLatin1 } from './params.ts';
