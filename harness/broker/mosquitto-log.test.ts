/**
 * Mosquitto's log as data: each line shape the rig acts on, and each failure text the verdict
 * table maps, as tables of Mosquitto 2.0 lines. No process.
 */
import { describe, expect, test } from 'vitest';
import { LOG_RULES, logVerdict, parseLogLine } from './mosquitto-log.ts';

describe('parseLogLine (a table)', () => {
  test.each([
    ['New connection from 127.0.0.1:43210 on port 8883.', { kind: 'accept', address: '127.0.0.1', port: 43210 }],
    ['New connection from ::1:43211 on port 8883.', { kind: 'accept', address: '::1', port: 43211 }],
    [
      'Client connection from 127.0.0.1 failed: error:0A000412:SSL routines::sslv3 alert bad certificate.',
      { kind: 'failed', address: '127.0.0.1', why: 'error:0A000412:SSL routines::sslv3 alert bad certificate.' },
    ],
    [
      "New client connected from 127.0.0.1:43210 as dev-1 (p2, c1, k60, u'CN=bx-hil client').",
      {
        kind: 'connected',
        address: '127.0.0.1',
        port: 43210,
        clientId: 'dev-1',
        protocolVersion: 4,
        clean: true,
        keepalive: 60,
        username: 'CN=bx-hil client',
      },
    ],
    [
      'New client connected from 127.0.0.1:5000 as v5dev (p5, c0, k30).',
      {
        kind: 'connected',
        address: '127.0.0.1',
        port: 5000,
        clientId: 'v5dev',
        protocolVersion: 5,
        clean: false,
        keepalive: 30,
      },
    ],
    ['Client dev-1 disconnected.', { kind: 'gone', clientId: 'dev-1', by: 'client' }],
    ['Client dev-1 closed its connection.', { kind: 'gone', clientId: 'dev-1', by: 'client' }],
    ['Client <unknown> closed its connection.', { kind: 'gone', clientId: '<unknown>', by: 'client' }],
    ['Client dev-1 has exceeded timeout, disconnecting.', { kind: 'gone', clientId: 'dev-1', by: 'server' }],
    ['Client dev-1 already connected, closing old connection.', { kind: 'gone', clientId: 'dev-1', by: 'server' }],
    ['Client <unknown> disconnected, not authorised.', { kind: 'gone', clientId: '<unknown>', by: 'server' }],
    ['mosquitto version 2.0.11 running', { kind: 'other' }],
    ['Opening ipv4 listen socket on port 8883.', { kind: 'other' }],
    ['OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed', { kind: 'other' }],
  ] as const)('%s', (line, expected) => {
    expect(parseLogLine(line)).toEqual(expected);
  });
});

describe('LOG_RULES (a table)', () => {
  const CASES = [
    ['OpenSSL Error[0]: error:0A0000C7:SSL routines::peer did not return a certificate', 'NO_CLIENT_CERT'],
    ['OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed', 'CLIENT_CERT_UNTRUSTED'],
    ['OpenSSL Error[0]: error:0A000102:SSL routines::unsupported protocol', 'TLS_VERSION_MISMATCH'],
    ['error:0A00018A:SSL routines::version too low', 'TLS_VERSION_MISMATCH'],
    ['OpenSSL Error[0]: error:0A0000C1:SSL routines::no shared cipher', 'NO_SHARED_CIPHER'],
    ['error:0A000418:SSL routines::tlsv1 alert unknown ca', 'DEVICE_REJECTED_SERVER_CERT'],
    ['error:0A000412:SSL routines::sslv3 alert bad certificate.', 'DEVICE_REJECTED_SERVER_CERT'],
    ['error:0A00042E:SSL routines::tlsv13 alert decrypt error', 'DEVICE_REJECTED_SERVER_CERT'],
    ['error:0A00010B:SSL routines::wrong version number', 'PLAINTEXT_ON_TLS_PORT'],
    ['error:0A00009C:SSL routines::http request', 'PLAINTEXT_ON_TLS_PORT'],
    ['error:0A0000C6:SSL routines::packet length too long', 'PLAINTEXT_ON_TLS_PORT'],
    ['error:0A000139:SSL routines::record layer failure', 'PLAINTEXT_ON_TLS_PORT'],
    ['error:02000068:rsa routines::bad signature', 'KEY_MISMATCH'],
    ['error:0A00007B:SSL routines::digest check failed', 'KEY_MISMATCH'],
    ['Client <unknown> disconnected, not authorised.', 'CONNECT_REFUSED'],
    ['Client dev-1 disconnected, not authorized.', 'CONNECT_REFUSED'],
    ['Client dev-1 disconnected.', undefined],
    ['error:0A00045C:SSL routines::tlsv13 alert certificate required', undefined],
    ['mosquitto version 2.0.11 running', undefined],
  ] as const;

  test.each(CASES)('%s -> %s', (text, code) => {
    expect(logVerdict(text)?.code).toBe(code);
  });

  test("the device's alert is named in the summary, spaces as underscores", () => {
    expect(logVerdict('error:0A000418:SSL routines::tlsv1 alert unknown ca')?.summary).toBe(
      "The device rejected Mosquitto's certificate (alert unknown_ca).",
    );
  });

  test('every rule is the first match of some line (none is shadowed by an earlier one)', () => {
    const reached = new Set(CASES.map(([text]) => LOG_RULES.find((r) => r.re.test(text))));
    for (const rule of LOG_RULES) expect(reached.has(rule), String(rule.re)).toBe(true);
  });
});
