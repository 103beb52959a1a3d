/**
 * `AT+KMQTTCFG` both ways: the 14 parameters of a session as a command, and the read form's
 * lines as sessions (docs/reference/bx310x-at.md §6.1). driver.ts re-exports it.
 */
import { parseParams } from '../at/index.ts';
import { ParameterError, ResponseParseError } from './errors.ts';
import { bit, intIn, optionalQuoted, quoted } from './params.ts';

/**
 * One MQTT session of `AT+KMQTTCFG` (docs/reference/bx310x-at.md §6.1): the 14 parameters in order.
 * Strings must not contain `"`, CR or LF (the module cannot carry them).
 */
export interface MqttSessionConfig {
  /** Param 1 `<secure>`: TLS (true) or plain TCP. Default false. The read form does not echo it, so `mqttSessions()` leaves it undefined. */
  secure?: boolean;
  /** Param 2 `<server>`: host name or IP. Required. */
  server: string;
  /** Param 3 `<port>`, 0..65535. Default 8883 when `secure`, else 1883. */
  port?: number;
  /** Param 4 `<version>`: 3 = MQTT 3.1, 4 = MQTT 3.1.1. Default 4. */
  version?: 3 | 4;
  /** Param 5 `<clientid>`. Required, non-empty. */
  clientId: string;
  /** Param 6 `<keepAlive>`, seconds, 0..65535. Default 60 (60 s). */
  keepAliveSeconds?: number;
  /** Param 7 `<cleanSession>`. Default true. */
  cleanSession?: boolean;
  /** Param 8 `<willFlag>`. Default false. */
  willFlag?: boolean;
  /** Param 9 `<willTopic>`. Default '' (sent as an empty field). */
  willTopic?: string;
  /** Param 10 `<willMessage>`. Default ''. */
  willMessage?: string;
  /** Param 11 `<willRetain>`. Default false. */
  willRetain?: boolean;
  /** Param 12 `<willQos>`, 0..2. Default 0. */
  willQos?: 0 | 1 | 2;
  /** Param 13 `<username>`. Default ''. */
  username?: string;
  /** Param 14 `<password>`. Default ''. Redacted from the transcript and the evidence. */
  password?: string;
}

/** One MQTT session as `AT+KMQTTCFG?` lists it: its id and configuration. */
export type MqttSessionInfo = Required<Omit<MqttSessionConfig, 'secure'>> & { id: number; secure?: boolean };

/** A session id, checked. */
export function sessionId(id: unknown): number {
  return intIn('id', id, 0, 65535, 'docs/reference/bx310x-at.md §6: session ids are 0..65535');
}

/** The `AT+KMQTTCFG=...` line for a session configuration (parameters checked, strings quoted). */
export function kmqttcfgCommand(cfg: MqttSessionConfig): string {
  if (cfg === null || typeof cfg !== 'object')
    throw new ParameterError('cfg', cfg, 'mqttConfigure needs a session config object');
  const secure = cfg.secure ?? false;
  const server = quoted('server', cfg.server);
  if (/[\s,]/.test(cfg.server))
    throw new ParameterError(
      'server',
      cfg.server,
      'server must be a bare host name or IP (no spaces, commas or paths)',
    );
  const port = intIn('port', cfg.port ?? (secure ? 8883 : 1883), 0, 65535, 'docs/reference/bx310x-at.md §6.1');
  const version = intIn('version', cfg.version ?? 4, 3, 4, 'docs/reference/bx310x-at.md §6.1: 3 = MQTT 3.1, 4 = 3.1.1');
  const clientId = quoted('clientId', cfg.clientId);
  const keepAlive = intIn('keepAliveSeconds', cfg.keepAliveSeconds ?? 60, 0, 65535, 'docs/reference/bx310x-at.md §6.1');
  const willQos = intIn('willQos', cfg.willQos ?? 0, 0, 2, 'docs/reference/bx310x-at.md §6.1');
  const params = [
    bit(secure),
    server,
    port,
    version,
    clientId,
    keepAlive,
    bit(cfg.cleanSession ?? true),
    bit(cfg.willFlag ?? false),
    optionalQuoted('willTopic', cfg.willTopic),
    optionalQuoted('willMessage', cfg.willMessage),
    bit(cfg.willRetain ?? false),
    willQos,
    optionalQuoted('username', cfg.username),
    optionalQuoted('password', cfg.password, { secret: true }),
  ];
  return `AT+KMQTTCFG=${params.join(',')}`;
}

/** `+KMQTTCFG: <id>,"<server>",<port>,<version>,"<clientid>",<ka>,<clean>,<will>,<wt>,<wm>,<wr>,<wq>,<user>,<pw>` [BX-T]. */
export function parseSessionLine(line: string): MqttSessionInfo {
  const p = parseParams(line.slice(line.indexOf(':') + 1).trim());
  const n = (i: number): number => {
    const v = p[i];
    if (typeof v !== 'number') throw new ResponseParseError('AT+KMQTTCFG?', line, `a number as parameter ${i + 1}`);
    return v;
  };
  const s = (i: number): string => Buffer.from(String(p[i] ?? ''), 'latin1').toString('utf8');
  if (p.length < 14) throw new ResponseParseError('AT+KMQTTCFG?', line, '14 fields: id and the 13 echoed parameters');
  return {
    id: n(0),
    server: s(1),
    port: n(2),
    version: n(3) as 3 | 4,
    clientId: s(4),
    keepAliveSeconds: n(5),
    cleanSession: n(6) === 1,
    willFlag: n(7) === 1,
    willTopic: s(8),
    willMessage: s(9),
    willRetain: n(10) === 1,
    willQos: n(11) as 0 | 1 | 2,
    username: s(12),
    password: s(13),
  };
}
