/**
 * `bx-hil doctor --at`: a fix line that quotes a command never shows its password:
 * the Wi-Fi password of `AT+SRWSTACFG` and the MQTT user name and password of `AT+KMQTTCFG`,
 * whatever the form of the line.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runDoctor } from './doctor.ts';

const dir = mkdtempSync(join(tmpdir(), 'bxhil-doctor-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function fixLines(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  writeFileSync(path, text);
  const r = await runDoctor([], { at: path });
  return JSON.stringify(r.findings);
}

describe('doctor --at masks passwords in every fix line', () => {
  test('typographic quotes around a Wi-Fi password: the fix line shows the command, not the password', async () => {
    const out = await fixLines('wifi.at', 'AT+SRWSTACFG=\u201Clabnet\u201D,\u201Cwifi-pw-77\u201D,1\r\n');
    expect(out).toContain('TYPOGRAPHIC_QUOTES');
    expect(out).toContain('AT+SRWSTACFG=\\"labnet\\",\\"***\\",1');
    expect(out).not.toContain('wifi-pw-77');
  });

  test('the MQTT user name and password are masked as before', async () => {
    const out = await fixLines(
      'mqtt.at',
      'AT+KMQTTCFG=1,\u201Chost\u201D,8883,4,\u201Cid\u201D,60,1,0,,,0,0,\u201Cbob\u201D,\u201Cmqtt-pw-9\u201D\r\n',
    );
    expect(out).toContain('TYPOGRAPHIC_QUOTES');
    expect(out).not.toContain('mqtt-pw-9');
    expect(out).not.toContain('bob');
  });

  test('a read form quoted in the file is masked too', async () => {
    const out = await fixLines('read.at', 'AT+SRWSTACFG?\u201Clabnet\u201D,\u201Cwifi-pw-77\u201D\r\n');
    expect(out).toContain('TYPOGRAPHIC_QUOTES');
    expect(out).not.toContain('wifi-pw-77');
  });
});
