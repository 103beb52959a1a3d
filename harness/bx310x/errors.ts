/**
 * Errors of the BX310x driver (docs/STYLE.md §4). Engine errors (`CmeError`, `AtTimeoutError`, ...)
 * pass through unchanged; these are the driver's own.
 *
 * Codes:
 * - `BXHIL_PARAM`: a parameter refused BEFORE anything was sent (`ParameterError`).
 * - `BXHIL_MQTT_ABORTED`: `+KMQTT_IND: <id>,0` or `,5` where success was expected (`MqttSessionError`).
 * - `BXHIL_WIFI`: the station did not join (`+SRWSTASTATUS: 0,<reason>`) (`WifiError`).
 * - `BXHIL_PARSE`: a read form the driver could not parse (`ResponseParseError`).
 * Wrong-state calls throw the base `StateError` (`BXHIL_STATE`); in state `broken` its `cause`
 * is the error that broke the rig.
 */
import { HarnessError } from '../errors.ts';
import { redactSecrets } from '../secrets.ts';
import { kmqttIndMeaning } from './urc.ts';

/** A command parameter out of range or malformed, refused before anything is sent (`BXHIL_PARAM`, the parameter named). */
export class ParameterError extends HarnessError {
  /** The parameter's name, e.g. `payload` or `port`. */
  readonly param: string;
  /** The offending value (never a password: those are shown as `<<redacted>>`). */
  readonly value: unknown;

  constructor(param: string, value: unknown, message: string) {
    super('BXHIL_PARAM', message);
    this.param = param;
    this.value = value;
  }
}

/** An MQTT session command failed or the module aborted the session (`BXHIL_MQTT_ABORTED` with the `+KMQTT_IND` code as `indCode`). */
export class MqttSessionError extends HarnessError {
  readonly sessionId: number;
  /** The `+KMQTT_IND` code received (0 = connection aborted, 5 = generic error, docs/reference/bx310x-at.md §6.7). */
  readonly indCode: number;
  /** What the driver was waiting for, e.g. `connect` or `publish`. */
  readonly operation: string;

  constructor(sessionId: number, indCode: number, operation: string) {
    super(
      'BXHIL_MQTT_ABORTED',
      `MQTT ${operation} on session ${sessionId} failed: +KMQTT_IND: ${sessionId},${indCode} (${kmqttIndMeaning(indCode)}); ` +
        'check the broker address and port, the TLS material (root CA in root_cert slot 0, client certificate and key) and the credentials; the broker log and the TLS evidence say which side refused',
    );
    this.sessionId = sessionId;
    this.indCode = indCode;
    this.operation = operation;
  }
}

/** A Wi-Fi command failed or the module did not join within its bound. */
export class WifiError extends HarnessError {
  /** The disconnect reason of `+SRWSTASTATUS: 0,<reason>` (ESP-IDF reason codes [BX-L]). */
  readonly reason: number | undefined;

  constructor(reason: number | undefined, meaning: string) {
    super(
      'BXHIL_WIFI',
      `the Wi-Fi station did not join: reason ${reason ?? 'unknown'} (${meaning}); check the SSID, the password and the country setting`,
    );
    this.reason = reason;
  }
}

/** The module answered a line the driver cannot read for this command (the line is quoted, secrets redacted). */
export class ResponseParseError extends HarnessError {
  readonly command: string;
  readonly line: string;

  /** `line` is quoted redacted (harness/secrets.ts): a read form may carry a password or key material. */
  constructor(command: string, line: string, expected: string) {
    const shown = redactSecrets(line);
    super(
      'BXHIL_PARSE',
      `${command}: cannot parse ${JSON.stringify(shown)} (expected ${expected}); the firmware's read form differs from docs/reference/bx310x-at.md`,
    );
    this.command = command;
    this.line = shown;
  }
}
