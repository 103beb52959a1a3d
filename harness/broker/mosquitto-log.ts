/**
 * Mosquitto's log, read as data: the shape of each line the rig acts on (`parseLogLine`) and
 * what a failure line tells (`LOG_RULES`, a table). Pure: no process, no I/O. Checked against
 * Mosquitto 2.0 (docs/reference/aws-iot-and-mosquitto.md §4.2 [MEASURED]).
 */
import type { VerdictCode } from './types.ts';

export interface LogRule {
  re: RegExp;
  code: VerdictCode;
  summary: (m: RegExpExecArray) => string;
}

/** Log line -> what it tells (§4.2 [MEASURED] and docs/reference/dependencies.md §2.8). First match wins. */
export const LOG_RULES: readonly LogRule[] = [
  {
    re: /peer did not return a certificate/,
    code: 'NO_CLIENT_CERT',
    summary: () => 'The device did not send a client certificate, and Mosquitto requires one.',
  },
  {
    re: /certificate verify failed/,
    code: 'CLIENT_CERT_UNTRUSTED',
    summary: () =>
      "Mosquitto could not verify the device certificate (untrusted CA, expired or not yet valid: Mosquitto's log does not say which).",
  },
  {
    re: /unsupported protocol|version too low/,
    code: 'TLS_VERSION_MISMATCH',
    summary: () => 'The device and Mosquitto have no TLS version in common.',
  },
  {
    re: /no shared cipher/,
    code: 'NO_SHARED_CIPHER',
    summary: () => 'The device and Mosquitto have no cipher suite in common.',
  },
  {
    re: /(?:sslv3|tlsv1|tlsv13) alert (unknown ca|bad certificate|certificate expired|certificate unknown|unsupported certificate|decrypt error)/,
    code: 'DEVICE_REJECTED_SERVER_CERT',
    summary: (m) => `The device rejected Mosquitto's certificate (alert ${m[1]!.replace(/ /g, '_')}).`,
  },
  {
    re: /wrong version number|http request|packet length too long|record layer failure/,
    code: 'PLAINTEXT_ON_TLS_PORT',
    summary: () => 'The device did not speak TLS on the TLS port.',
  },
  {
    re: /bad signature|digest check failed/,
    code: 'KEY_MISMATCH',
    summary: () => "The device's CertificateVerify failed: its key does not match its certificate.",
  },
  {
    re: /disconnected, not authori[sz]ed|not authori[sz]ed/,
    code: 'CONNECT_REFUSED',
    summary: () => 'Mosquitto refused the CONNECT (not authorised).',
  },
];

/** The verdict a log text decides by `LOG_RULES`, or undefined when no rule matches. */
export function logVerdict(text: string): { code: VerdictCode; summary: string } | undefined {
  for (const rule of LOG_RULES) {
    const m = rule.re.exec(text);
    if (m) return { code: rule.code, summary: rule.summary(m) };
  }
  return undefined;
}

/** One log line, by the shape the rig acts on. */
export type LogLine =
  /** `New connection from A:P on port N.`: a TCP accept. */
  | { kind: 'accept'; address: string; port: number }
  /** `Client connection from A failed: why`: a handshake that failed on its first record (no accept line). */
  | { kind: 'failed'; address: string; why: string }
  /** `New client connected from A:P as id (p2, c1, k60, u'name').`: CONNECT accepted. */
  | {
      kind: 'connected';
      address: string;
      port: number;
      clientId: string;
      protocolVersion: number;
      clean: boolean;
      keepalive: number;
      username?: string;
    }
  /** A client's connection ended; `by` who ended it. `<unknown>` = before CONNECT. */
  | { kind: 'gone'; clientId: string; by: 'client' | 'server' }
  | { kind: 'other' };

/** Parse a Mosquitto log line (its `<time>: ` prefix already removed). */
export function parseLogLine(line: string): LogLine {
  const accept = /^New connection from ([\d.:a-f]+?):(\d+) on port (\d+)/.exec(line);
  if (accept) return { kind: 'accept', address: accept[1]!, port: Number(accept[2]) };
  const failed = /^Client connection from (\S+) failed: (.*)$/.exec(line);
  if (failed) return { kind: 'failed', address: failed[1]!, why: failed[2]! };
  const connected =
    /^New client connected from ([\d.:a-f]+?):(\d+) as (\S+) \(p(\d), c(\d), k(\d+)(?:, u'([^']*)')?\)/.exec(line);
  if (connected) {
    const c: LogLine = {
      kind: 'connected',
      address: connected[1]!,
      port: Number(connected[2]),
      clientId: connected[3]!,
      // Mosquitto logs MQTT 3.1.1 as p2 (its protocol byte 4 is "MQTT v3.1.1").
      protocolVersion: Number(connected[4]) === 2 ? 4 : Number(connected[4]),
      clean: connected[5] === '1',
      keepalive: Number(connected[6]),
    };
    if (connected[7] !== undefined) c.username = connected[7];
    return c;
  }
  const gone =
    /^Client (\S+) (?:disconnected|closed its connection|has exceeded timeout)/.exec(line) ??
    /^Client (\S+) already connected, closing old connection/.exec(line);
  if (gone)
    return {
      kind: 'gone',
      clientId: gone[1]!,
      by: /closed its connection|disconnected\.$/.test(line) ? 'client' : 'server',
    };
  return { kind: 'other' };
}
