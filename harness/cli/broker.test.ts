/**
 * `bx-hil broker`: material written, AT commands printed, one verdict line per connection
 * (JSON with the ClientHello), never key material. Glossary: "device" = mqtt.js or s_client
 * standing in for the module; "session" = what the command starts.
 */
import { readFileSync, statSync } from 'node:fs';
import mqtt from 'mqtt';
import { afterEach, describe, expect, test } from 'vitest';
import { hasTool, killAllClients, runClient, tempFiles } from '../broker/testing.ts';
import { startBrokerSession, type BrokerSession } from './broker.ts';

let session: BrokerSession | undefined;
let dir: ReturnType<typeof tempFiles> | undefined;
afterEach(async () => {
  killAllClients();
  await session?.close();
  session = undefined;
  dir?.remove();
});

describe('bx-hil broker', () => {
  test('writes CA/server/client/key, prints address and AT commands, then a JSON verdict line with the ClientHello; no key material printed', async () => {
    dir = tempFiles({});
    const lines: string[] = [];
    session = await startBrokerSession({ port: 0, out: dir.dir, json: true }, (l) => lines.push(l));
    const { rig, files } = session;
    expect(Object.keys(files)).toEqual(
      expect.arrayContaining(['ca.pem', 'server.pem', 'client.pem', 'client.key', 'upload.at']),
    );
    expect(statSync(files['client.key']!).mode & 0o777).toBe(0o600);
    const head = lines.join('\n');
    expect(head).toContain(rig.url);
    expect(head).toMatch(/AT\+KCERTSTORE=0,\d+/);
    expect(head).toMatch(/AT\+KPRIVKSTORE=0,\d+/);
    expect(head).toContain(`AT+KMQTTCFG=1,"localhost",${rig.port},4,`);
    const key = readFileSync(files['client.key']!, 'utf8');
    const c = await mqtt.connectAsync(rig.url, {
      ca: readFileSync(files['ca.pem']!, 'utf8'),
      cert: readFileSync(files['client.pem']!, 'utf8'),
      key,
      servername: 'localhost',
      reconnectPeriod: 0,
    });
    await c.endAsync();
    await rig.waitForVerdict();
    const json = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(json).toHaveLength(1);
    expect(json[0]!.code).toBe('OK');
    expect((json[0]!.clientHello as { sni: string }).sni).toBe('localhost');
    const all = lines.join('\n');
    expect(all).not.toContain('PRIVATE KEY');
    expect(all).not.toContain(key.split('\n')[1]!);
  });

  test.skipIf(!hasTool('openssl'))('plain-text lines name the verdict and what to change', async () => {
    dir = tempFiles({});
    const lines: string[] = [];
    session = await startBrokerSession({ port: 0, out: dir.dir }, (l) => lines.push(l));
    await runClient(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${session.rig.port}`,
        '-servername',
        'bench.example',
        '-CAfile',
        session.files['ca.pem']!,
      ],
      { holdStdinMs: 300, timeoutMs: 5000 },
    );
    await session.rig.waitForVerdict();
    const line = lines.find((l) => l.startsWith('conn-1'))!;
    expect(line).toContain('NO_CLIENT_CERT');
    expect(line).toContain('SNI bench.example');
    expect(line).toContain('what to change:');
  });

  test('--scenario S1 wires the catalogue material into the rig', async () => {
    dir = tempFiles({});
    const lines: string[] = [];
    session = await startBrokerSession({ port: 0, out: dir.dir, scenario: 'S1' }, (l) => lines.push(l));
    expect(lines.join('\n')).toContain('scenario S1');
    expect(Object.values(session.files).length).toBeGreaterThan(2);
    expect(lines.join('\n')).not.toContain('PRIVATE KEY');
  });

  test('bad input: unknown profile or port -> BXHIL_CONFIG naming the flag', async () => {
    await expect(startBrokerSession({ profile: 'nope' }, () => undefined)).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: '--profile',
    });
    await expect(startBrokerSession({ port: 'x' }, () => undefined)).rejects.toMatchObject({
      code: 'BXHIL_CONFIG',
      field: '--port',
    });
  });
});
