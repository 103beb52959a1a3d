/**
 * In-process conformance of the virtual module's serial side against docs/reference/bx310x-at.md, over a
 * `duplexPair()` with raw bytes (no driver, no sockets).
 *
 * Glossary: module = the VirtualModule under test; host = the RawClient end of the pair, playing
 * the test host that types AT commands.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { duplexPair } from 'node:stream';
import { afterEach, describe, expect, test } from 'vitest';
import { EvidenceBus, EvidenceRecorder } from '../evidence.ts';
import { createVirtualModule, type VirtualModule, type VirtualModuleOptions } from './index.ts';
import { RawClient } from './raw-client.ts';

const open: VirtualModule[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((m) => m.close()));
});

async function fresh(profile = '2.6.3', extra: Partial<VirtualModuleOptions> = {}, echoOff = true) {
  const module = createVirtualModule({ profile, ...extra });
  open.push(module);
  const [host, device] = duplexPair();
  module.attach(device);
  const at = new RawClient(host);
  if (echoOff) expect(await at.cmd('ATE0')).toBe('ATE0\r\r\nOK\r\n');
  return { module, at, host };
}

const OK = '\r\nOK\r\n';
const ERROR = '\r\nERROR\r\n';
const CME = (n: number) => `\r\n+CME ERROR: ${n}\r\n`;
const PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';

/** Upload through data mode; returns the final result after +++. */
async function upload(at: RawClient, command: string, data: string | Buffer): Promise<string> {
  expect(await at.cmd(command)).toBe('\r\nCONNECT\r\n');
  at.send(data);
  await new Promise((r) => setTimeout(r, 80)); // guard time before +++ [BX-L 100 ms]
  at.send('+++');
  return at.until(/\r\n(OK|ERROR|\+CME ERROR: \d+)\r\n/, 3_000);
}

describe('framing [BX-T, BX-L] §1', () => {
  test('echo is on after boot, ATE0/ATE1 switch it, CR ends a command, LF is ignored', async () => {
    const { at } = await fresh('2.6.3', {}, false);
    expect(await at.cmd('AT')).toBe(`AT\r${OK}`);
    expect(await at.cmd('ATE0')).toBe(`ATE0\r${OK}`);
    expect(await at.cmd('AT')).toBe(OK);
    at.send('AT\r\n');
    expect(await at.until(OK)).toBe(OK);
    expect(await at.drainAfter(50)).toBe('');
    expect(await at.cmd('ATE1')).toBe(OK);
    expect(await at.cmd('at')).toBe(`at\r${OK}`);
  });

  test('identity: ATI, AT+FMM, AT+CGMR per profile; AT+MACADDR?', async () => {
    const { at } = await fresh('legacy');
    expect(await at.cmd('ATI')).toBe(`\r\nBX3105\r\n${OK}`);
    expect(await at.cmd('AT+FMM')).toBe(`\r\nBX310x\r\n${OK}`);
    expect(await at.cmd('AT+CGMR')).toBe(`\r\n1.3.0\r\n${OK}`);
    expect(await at.cmd('AT+MACADDR?')).toMatch(/^\r\n\+MACADDR: "([0-9a-f]{2}:){5}[0-9a-f]{2}"\r\n\r\nOK\r\n$/);
  });

  test('unknown commands, garbage lines and +++ outside data mode answer ERROR; junk before AT is skipped', async () => {
    const { at } = await fresh();
    expect(await at.cmd('AT+NOPE')).toBe(ERROR);
    expect(await at.cmd('HELLO')).toBe(ERROR);
    expect(await at.cmd('+++')).toBe(ERROR);
    at.send('+++');
    await at.drainAfter(120);
    expect(await at.cmd('AT')).toBe(OK); // "+++AT" still runs AT
    at.send(Buffer.from([0x00, 0xff, 0x81, 0x1b, 0x0d]));
    expect(await at.until(/\r\n(OK|ERROR)\r\n/)).toBe(ERROR);
    expect(await at.cmd('AT')).toBe(OK);
  });

  test('a line longer than the profile buffer answers ERROR and the next command works', async () => {
    const { at, module } = await fresh('legacy');
    const limit = module.profile.framing.lineBytes;
    expect(await at.cmd(`AT+KMQTTCFG=0,${'a'.repeat(limit)},1883,4,x`)).toBe(ERROR);
    expect(await at.cmd('AT')).toBe(OK);
    const justFits = `AT+KMQTTCFG=0,h,1883,4,${'c'.repeat(limit - 'AT+KMQTTCFG=0,h,1883,4,'.length)}`;
    expect(justFits.length).toBe(limit);
    expect(await at.cmd(justFits)).toBe(`\r\n+KMQTTCFG: 1\r\n${OK}`);
  });

  test('AT+RST and AT&F answer OK then READY; echo returns; stores survive, sessions do not', async () => {
    const { at } = await fresh('reference');
    expect(await upload(at, 'AT+KCERTSTORE=0', PEM.replace('MIIBfake', 'x'))).toBe(CME(930)); // reference parses PEM
    const { at: at2 } = await fresh('2.6.3');
    expect(await upload(at2, `AT+KCERTSTORE=0,${PEM.length}`, PEM)).toBe(OK);
    expect(await at2.cmd('AT+KMQTTCFG=0,h,1883,4,x')).toContain('+KMQTTCFG: 1');
    at2.send('AT+RST\r');
    expect(await at2.until('\r\nREADY\r\n', 3_000)).toBe(`${OK}\r\nREADY\r\n`);
    expect(await at2.cmd('AT')).toBe(`AT\r${OK}`); // echo back on after boot
    expect(await at2.cmd('ATE0')).toBe(`ATE0\r${OK}`);
    expect(await at2.cmd('AT+KCERTSTORE?')).toBe(`\r\n+KCERTSTORE\r\nroot_cert,0,${PEM.length}\r\n${PEM}\r\n${OK}`);
    expect(await at2.cmd('AT+KMQTTCFG?')).toBe(OK);
    at2.send('AT&F\r');
    expect(await at2.until('\r\nREADY\r\n', 3_000)).toBe(`${OK}\r\nREADY\r\n`);
  });
});

describe('certificate and key stores [BX-T] §3', () => {
  test('empty stores read back exactly', async () => {
    const { at } = await fresh('legacy');
    expect(await at.cmd('AT+KCERTSTORE?')).toBe(`\r\n+KCERTSTORE\r\n${OK}`);
    expect(await at.cmd('AT+KPRIVKSTORE?')).toBe(`\r\n+KPRIVKSTORE\r\n${OK}`);
  });

  test('store, read back (PEM echoed, key never), delete', async () => {
    const { at } = await fresh('legacy');
    const key = '-----BEGIN RSA PRIVATE KEY-----\nsecretbytes\n-----END RSA PRIVATE KEY-----\n';
    expect(await upload(at, `AT+KCERTSTORE=0,${PEM.length}`, PEM)).toBe(OK);
    expect(await upload(at, `AT+KCERTSTORE=1,,2`, PEM)).toBe(OK); // NbData optional [BX-T]
    expect(await upload(at, `AT+KPRIVKSTORE=1,${key.length}`, key)).toBe(OK);
    expect(await at.cmd('AT+KCERTSTORE?')).toBe(
      `\r\n+KCERTSTORE\r\nroot_cert,0,${PEM.length}\r\n${PEM}\r\nlocal_cert,2,${PEM.length}\r\n${PEM}\r\n${OK}`,
    );
    const keys = await at.cmd('AT+KPRIVKSTORE?');
    expect(keys).toBe(`\r\n+KPRIVKSTORE\r\nprivate_key,1,${key.length}\r\n${OK}`);
    expect(keys).not.toContain('secret');
    expect(await at.cmd('AT+KCERTDELETE=1,2')).toBe(OK);
    expect(await at.cmd('AT+KCERTDELETE=0')).toBe(OK);
    expect(await at.cmd('AT+KPRIVKDELETE=1')).toBe(OK);
    expect(await at.cmd('AT+KCERTSTORE?')).toBe(`\r\n+KCERTSTORE\r\n${OK}`);
    expect(await at.cmd('AT+KPRIVKSTORE?')).toBe(`\r\n+KPRIVKSTORE\r\n${OK}`);
  });

  test('2.6.3: AT+KPRIVKSTORE? answers +CME ERROR: 918 [report]', async () => {
    const { at } = await fresh('2.6.3');
    expect(await at.cmd('AT+KPRIVKSTORE?')).toBe(CME(918));
  });

  // [BX-T KCERTSTORE_0001, KCERTDELETE_0001, KPRIVKSTORE_0001, KPRIVKDELETE_0001]
  const cases: Array<[string, string]> = [
    ['AT+KCERTSTORE=?', ERROR],
    ['AT+KCERTSTORE', ERROR],
    ['AT+KCERTSTORE=', CME(917)],
    ['AT+KCERTSTORE=1', CME(917)],
    ['AT+KCERTSTORE=1,100', CME(917)],
    ['AT+KCERTSTORE=0,1,1,1', CME(915)],
    ['AT+KCERTSTORE=-1', CME(916)],
    ['AT+KCERTSTORE=2', CME(916)],
    ['AT+KCERTSTORE=a', CME(916)],
    ['AT+KCERTSTORE=0,0', CME(916)],
    ['AT+KCERTSTORE=0,3001', CME(916)],
    ['AT+KCERTSTORE=0,-1', CME(916)],
    ['AT+KCERTSTORE=0,1,3', CME(916)],
    ['AT+KCERTSTORE=1,10,-1', CME(916)],
    ['AT+KCERTDELETE=?', ERROR],
    ['AT+KCERTDELETE', ERROR],
    ['AT+KCERTDELETE?', ERROR],
    ['AT+KCERTDELETE=', CME(917)],
    ['AT+KCERTDELETE=,1', CME(916)],
    ['AT+KCERTDELETE=2', CME(916)],
    ['AT+KCERTDELETE=1,-1', CME(918)],
    ['AT+KCERTDELETE=1,3', CME(918)],
    ['AT+KCERTDELETE=1,3001', CME(918)],
    ['AT+KCERTDELETE=1,a', CME(916)],
    ['AT+KCERTDELETE=0,0,1', CME(915)],
    ['AT+KCERTDELETE=1,0,1', CME(915)],
    ['AT+KPRIVKSTORE=?', ERROR],
    ['AT+KPRIVKSTORE', ERROR],
    ['AT+KPRIVKSTORE=', CME(917)],
    ['AT+KPRIVKSTORE=1', CME(917)],
    ['AT+KPRIVKSTORE=0,100,1', CME(915)],
    ['AT+KPRIVKSTORE=3,100', CME(916)],
    ['AT+KPRIVKSTORE=-1,100', CME(916)],
    ['AT+KPRIVKSTORE=0,0', CME(916)],
    ['AT+KPRIVKSTORE=0,3001', CME(916)],
    ['AT+KPRIVKDELETE=?', ERROR],
    ['AT+KPRIVKDELETE', ERROR],
    ['AT+KPRIVKDELETE?', ERROR],
    ['AT+KPRIVKDELETE=', CME(917)],
    ['AT+KPRIVKDELETE=0,1', CME(915)],
    ['AT+KPRIVKDELETE=-1', ERROR],
    ['AT+KPRIVKDELETE=3', ERROR],
    ['AT+KPRIVKDELETE=3001', ERROR],
    ['AT+KPRIVKDELETE=a', ERROR],
  ];
  test.each(cases)('%s', async (command, expected) => {
    const { at } = await fresh('legacy');
    expect(await at.cmd(command)).toBe(expected);
  });
});

describe('data mode §4', () => {
  test('bytes stored are exactly those between CONNECT and +++ (LF, no trailing LF)', async () => {
    const { at, module } = await fresh('2.6.3');
    const noTrail = PEM.trimEnd();
    expect(await upload(at, 'AT+KCERTSTORE=0', noTrail)).toBe(OK);
    expect(module.stores.root?.toString('latin1')).toBe(noTrail);
  });

  test('the PEM may arrive in the same write as the command (it waits for data mode)', async () => {
    const { at, module } = await fresh('2.6.3');
    at.send(`AT+KCERTSTORE=0,${PEM.length}\r${PEM}`);
    expect(await at.until('\r\nCONNECT\r\n')).toBe('\r\nCONNECT\r\n');
    await new Promise((r) => setTimeout(r, 80));
    at.send('+++');
    expect(await at.until(/\r\n(OK|ERROR)\r\n/)).toBe(OK);
    expect(module.stores.root?.toString('latin1')).toBe(PEM);
  });

  test('line endings per profile: CR-only answers ERROR on 2.6.3 [report], CRLF is refused on legacy', async () => {
    const cr = PEM.replace(/\n/g, '\r');
    const crlf = PEM.replace(/\n/g, '\r\n');
    const a = await fresh('2.6.3');
    expect(await upload(a.at, 'AT+KCERTSTORE=0', cr)).toBe(ERROR);
    expect(await upload(a.at, 'AT+KCERTSTORE=0', crlf)).toBe(OK);
    const b = await fresh('legacy');
    expect(await upload(b.at, 'AT+KCERTSTORE=0', crlf)).toBe(ERROR);
    expect(await upload(b.at, 'AT+KCERTSTORE=0', PEM)).toBe(OK);
  });

  test('more than 3000 bytes answers 931; NbData mismatch is ignored on 2.6.3, 931 on reference', async () => {
    const big = `-----BEGIN CERTIFICATE-----\n${'A'.repeat(3_000)}\n-----END CERTIFICATE-----\n`;
    const a = await fresh('2.6.3');
    expect(await upload(a.at, 'AT+KCERTSTORE=0', big)).toBe(CME(931));
    expect(a.module.stores.root).toBeUndefined();
    expect(await upload(a.at, 'AT+KCERTSTORE=0,1', PEM)).toBe(OK);
    const r = await fresh('reference');
    expect(await upload(r.at, `AT+KPRIVKSTORE=0,${PEM.length + 5}`, PEM)).toBe(CME(931));
  });

  test('content checks: 2.6.3 checks the armor (930), legacy stores anything', async () => {
    const a = await fresh('2.6.3');
    expect(await upload(a.at, 'AT+KCERTSTORE=0', '123456789\n')).toBe(CME(930));
    const b = await fresh('legacy');
    expect(await upload(b.at, 'AT+KCERTSTORE=0', '123456789\n')).toBe(OK);
  });

  test('a "+++" inside the data does not end it; URCs wait until data mode ends', async () => {
    const { at, module } = await fresh('2.6.3');
    expect(await at.cmd('AT+KCERTSTORE=0')).toBe('\r\nCONNECT\r\n');
    at.send('-----BEGIN CERTIFICATE-----\n+++');
    await new Promise((r) => setTimeout(r, 10));
    at.send('abc\n-----END CERTIFICATE-----\n');
    module.wifiDrop(200);
    expect(await at.drainAfter(120)).toBe('');
    at.send('+++');
    expect(await at.until(OK)).toBe(OK);
    expect(await at.until('+SRWSTASTATUS: 0,200\r\n')).toBe('\r\n+SRWSTASTATUS: 0,200\r\n');
    expect(module.stores.root?.toString()).toBe('-----BEGIN CERTIFICATE-----\n+++abc\n-----END CERTIFICATE-----\n');
  });

  test('stores can be kept in a file (mode 0600) and are there for a new module', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bxhil-sim-'));
    try {
      const storePath = join(dir, 'flash.json');
      const a = await fresh('2.6.3', { storePath });
      expect(await upload(a.at, 'AT+KCERTSTORE=0', PEM)).toBe(OK);
      expect(statSync(storePath).mode & 0o777).toBe(0o600);
      expect(readFileSync(storePath, 'utf8')).not.toContain('BEGIN'); // base64, not a PEM to grep
      const b = await fresh('2.6.3', { storePath });
      expect(await b.at.cmd('AT+KCERTSTORE?')).toContain(`root_cert,0,${PEM.length}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('MQTT configuration [BX-T KMQTTCFG_0001, KMQTTCLOSE_0001] §6', () => {
  test('ids from 1, reuse after delete, read form with defaults and quoting', async () => {
    const { at } = await fresh('2.6.3');
    expect(await at.cmd('AT+KMQTTCFG?')).toBe(OK);
    expect(await at.cmd('AT+KMQTTCFG=0,broker,1883,4,"test_id"')).toBe(`\r\n+KMQTTCFG: 1\r\n${OK}`);
    expect(
      await at.cmd('AT+KMQTTCFG=0,"srv",1883,4,"BX_DUT",60,1,1,"TMA/DUT/status","OFFLINE",0,0,"user","pass"'),
    ).toBe(`\r\n+KMQTTCFG: 2\r\n${OK}`);
    expect(await at.cmd('AT+KMQTTCFG=0,broker.hivemq.com,1883,4,euler@123')).toBe(`\r\n+KMQTTCFG: 3\r\n${OK}`);
    expect(await at.cmd('AT+KMQTTCFG?')).toBe(
      '\r\n+KMQTTCFG: 1,"broker",1883,4,"test_id",60,1,0,,,0,0,,' +
        '\r\n+KMQTTCFG: 2,"srv",1883,4,"BX_DUT",60,1,1,"TMA/DUT/status","OFFLINE",0,0,"user","pass"' +
        `\r\n+KMQTTCFG: 3,"broker.hivemq.com",1883,4,"euler@123",60,1,0,,,0,0,,\r\n${OK}`,
    );
    expect(await at.cmd('AT+KMQTTDEL=1')).toBe(OK);
    expect(await at.cmd('AT+KMQTTCFG=0,again,1883,3,x')).toBe(`\r\n+KMQTTCFG: 1\r\n${OK}`);
    expect(await at.cmd('AT+KMQTTDEL=9')).toBe(CME(910));
  });

  test('2.6.3 accepts a trailing comma after the client id [report]', async () => {
    const { at } = await fresh('2.6.3');
    expect(await at.cmd('AT+KMQTTCFG=1,"abc123-ats.iot.eu-west-1.amazonaws.com",8883,4,"BX_one",')).toBe(
      `\r\n+KMQTTCFG: 1\r\n${OK}`,
    );
  });

  test('legacy echoes an unquoted will topic unquoted [BX-T, low confidence]', async () => {
    const { at } = await fresh('legacy');
    await at.cmd('AT+KMQTTCFG=0,b,1883,4,"id",60,1,1,euler,,0,0');
    expect(await at.cmd('AT+KMQTTCFG?')).toBe(`\r\n+KMQTTCFG: 1,"b",1883,4,"id",60,1,1,euler,,0,0,,\r\n${OK}`);
  });

  test('the session limit answers 912 once all ids are used', async () => {
    const { at, module } = await fresh('2.6.3');
    for (let i = 1; i <= module.profile.mqtt.sessions; i++)
      expect(await at.cmd('AT+KMQTTCFG=0,b,1883,4,x')).toContain(`+KMQTTCFG: ${i}\r\n`);
    expect(await at.cmd('AT+KMQTTCFG=0,b,1883,4,x')).toBe(CME(912));
  });

  const cfgCases: Array<[string, string]> = [
    ['AT+KMQTTCFG=?', ERROR],
    ['AT+KMQTTCFG', ERROR],
    ['AT+KMQTTCFG=', CME(917)],
    ['AT+KMQTTCFG=0', CME(917)],
    ['AT+KMQTTCFG=0,srv', CME(917)],
    ['AT+KMQTTCFG=0,srv,1883', CME(917)],
    ['AT+KMQTTCFG=0,srv,1883,4', CME(917)],
    ['AT+KMQTTCFG=0,srv,1883,4,id,60,1,0,,,0,0,u,p,15', CME(915)],
    ['AT+KMQTTCFG=2,srv,1883,4,id', CME(916)],
    ['AT+KMQTTCFG=-1,srv,1883,4,id', CME(916)],
    ['AT+KMQTTCFG=a,srv,1883,4,id', CME(916)],
    ['AT+KMQTTCFG=0,broker.hivemq.com/space%20here.html,1883,4,id', CME(916)],
    ['AT+KMQTTCFG=0,"broker.hivemq.com"-1-1-1-1,1883,4,id', CME(916)],
    ['AT+KMQTTCFG=0,srv,65536,4,id', CME(916)],
    ['AT+KMQTTCFG=0,srv,-1,4,id', CME(916)],
    ['AT+KMQTTCFG=0,srv,0,4,id', `\r\n+KMQTTCFG: 1\r\n${OK}`],
    ['AT+KMQTTCFG=0,srv,1883,5,id', CME(916)],
    ['AT+KMQTTCFG=0,srv,1883,2,id', CME(916)],
    ['AT+KMQTTCFG=0,srv,1883,4,euler"', ERROR],
    ['AT+KMQTTCFG=0,srv,1883,4,""euler@123"', ERROR],
    ['AT+KMQTTCFG=0,srv,1883,4,"Euler/Test', ERROR],
    ['AT+KMQTTCFG=0,srv,1883,4,"[]!@#"', `\r\n+KMQTTCFG: 1\r\n${OK}`],
    ['AT+KMQTTCFG=0,srv,1883,4,id,65536', CME(916)],
    ['AT+KMQTTCFG=0,srv,1883,4,id,60,2', CME(916)],
    ['AT+KMQTTCFG=0,srv,1883,4,id,60,1,0,t,m,0,3', CME(916)],
    ['AT+KMQTTCFG=0,srv,1883,4,id,60,1,0,t,m,0,-1', CME(916)],
  ];
  test.each(cfgCases)('%s', async (command, expected) => {
    const { at } = await fresh('legacy');
    expect(await at.cmd(command)).toBe(expected);
  });

  const sessionCases: Array<[string, string]> = [
    ['AT+KMQTTCLOSE=1', CME(922)],
    ['AT+KMQTTCLOSE=0', CME(910)],
    ['AT+KMQTTCLOSE=2', CME(910)],
    ['AT+KMQTTCLOSE=65535', CME(910)],
    ['AT+KMQTTCLOSE=-1', CME(916)],
    ['AT+KMQTTCLOSE=65536', CME(916)],
    ['AT+KMQTTCLOSE=a', CME(916)],
    ['AT+KMQTTCLOSE=', CME(917)],
    ['AT+KMQTTCLOSE=1,1', CME(915)],
    ['AT+KMQTTCLOSE=2,1', CME(910)], // 910 before 915 [BX-T KTCPCLOSE]
    ['AT+KMQTTCLOSE=?', ERROR],
    ['AT+KMQTTCLOSE', ERROR],
    ['AT+KMQTTCLOSE?', ERROR],
    ['AT+KMQTTPUB=2,"t",0,0,"m"', CME(910)],
    ['AT+KMQTTPUB=-1,"t",0,0,"m"', CME(916)],
    ['AT+KMQTTPUB=1,"t",3,0,"m"', CME(916)],
    ['AT+KMQTTPUB=1,"t",-1,0,"m"', CME(916)],
    ['AT+KMQTTPUB=1,"t",0,3,"m"', CME(916)],
    ['AT+KMQTTPUB=1,"t",0,0', CME(917)],
    ['AT+KMQTTPUB=1,"t",0,0,"m",1', CME(915)],
    ['AT+KMQTTPUB=1,"t",0,0,"{"alert":1}"', ERROR],
    ['AT+KMQTTPUB=1,"t,0,0,"m"', ERROR],
    ['AT+KMQTTPUB=1,"t",0,0,"m"', CME(922)],
    ['AT+KMQTTPUB?', ERROR],
    ['AT+KMQTTPUB=?', ERROR],
    ['AT+KMQTTPUB', ERROR],
    ['AT+KMQTTSUB=1,"t",3', CME(916)],
    ['AT+KMQTTSUB=1,"t"', CME(917)],
    ['AT+KMQTTSUB=1,"t",0', CME(922)],
    ['AT+KMQTTUNSUB=1,"t"', CME(922)],
    ['AT+KMQTTUNSUB=1,"t",1', CME(915)],
    ['AT+KMQTTCNX=', CME(917)],
    ['AT+KMQTTCNX=3', CME(910)],
    ['AT+KMQTTCNX=1,1', CME(915)],
    ['AT+KMQTTCNX=x', CME(916)],
    ['AT+KMQTTDEL=', CME(917)],
    ['AT+KMQTTDEL=1,1', CME(915)],
  ];
  test.each(sessionCases)('with session 1 configured: %s', async (command, expected) => {
    const { at } = await fresh('legacy');
    expect(await at.cmd('AT+KMQTTCFG=0,127.0.0.1,1,4,x')).toContain('+KMQTTCFG: 1');
    expect(await at.cmd(command)).toBe(expected);
  });

  test('KMQTTCNX to a port nobody listens on: OK, then +KMQTT_IND: 1,0 with the tcp step recorded', async () => {
    const { at, module } = await fresh('2.6.3');
    await at.cmd('AT+KMQTTCFG=0,127.0.0.1,1,4,x');
    expect(await at.cmd('AT+KMQTTCNX=1')).toBe(OK);
    expect(await at.until('+KMQTT_IND: 1,0\r\n', 5_000)).toBe('\r\n+KMQTT_IND: 1,0\r\n');
    expect(module.session(1)?.lastConnectError?.step).toBe('tcp');
  });

  test('a host with no override is never looked up in tests: +KMQTT_IND: 1,0, reason NO_HOST_OVERRIDE', async () => {
    const { at, module } = await fresh('2.6.3');
    await at.cmd('AT+KMQTTCFG=1,"abc123-ats.iot.eu-west-1.amazonaws.com",8883,4,"BX_one"');
    expect(await at.cmd('AT+KMQTTCNX=1')).toBe(OK);
    await at.until('+KMQTT_IND: 1,0\r\n');
    expect(module.session(1)?.lastConnectError?.reason).toBe('NO_HOST_OVERRIDE');
  });
});

describe('Wi-Fi and clock §8', () => {
  test('SRWCFG/SRWSTACFG read forms, SRWSTACON join and leave URCs; KMQTTCNX while not joined answers 921', async () => {
    const { at, module } = await fresh('2.6.3');
    expect(await at.cmd('AT+SRWCFG=1,3')).toBe(OK);
    expect(await at.cmd('AT+SRWCFG?')).toMatch(
      /^\r\n\+SRWCFG: 1,3,"([0-9a-f]{2}:){5}[0-9a-f]{2}","([0-9a-f]{2}:){5}[0-9a-f]{2}"\r\n\r\nOK\r\n$/,
    );
    expect(await at.cmd('AT+SRWCFG=4')).toBe(CME(916));
    expect(await at.cmd('AT+SRWSTACFG="lab","pw",1')).toBe(OK);
    expect(await at.cmd('AT+SRWSTACFG?')).toBe(`\r\n+SRWSTACFG: "lab","pw",1\r\n${OK}`);
    expect(await at.cmd('AT+SRWSTACON=0')).toBe(OK);
    expect(await at.until('+SRWSTASTATUS: 0,8\r\n')).toBe('\r\n+SRWSTASTATUS: 0,8\r\n');
    expect(module.wifiJoined).toBe(false);
    await at.cmd('AT+KMQTTCFG=0,127.0.0.1,1,4,x');
    expect(await at.cmd('AT+KMQTTCNX=1')).toBe(CME(921));
    expect(await at.cmd('AT+SRWSTACON=1')).toBe(OK);
    expect(await at.until(/\+SRWSTAIP: "[\d.]+","[\d.]+","[\d.]+"\r\n/)).toMatch(
      /^\r\n\+SRWSTASTATUS: 1,"lab","[0-9a-f:]+",\d+,\d+\r\n\r\n\+SRWSTAIP: /,
    );
    expect(module.wifiJoined).toBe(true);
  });

  test('AT+CCLK exists only where the profile says clock.settable (reference) and sets the module clock', async () => {
    const r = await fresh('reference', { clock: '1970' });
    expect(await r.at.cmd('AT+CCLK?')).toMatch(/^\r\n\+CCLK: "70\/01\/01,00:00:0\d\+00"\r\n\r\nOK\r\n$/);
    expect(await r.at.cmd('AT+CCLK="26/11/28,12:34:56+00"')).toBe(OK);
    expect(r.module.clock.now().toISOString().slice(0, 16)).toBe('2026-11-28T12:34');
    expect(await r.at.cmd('AT+CCLK="26/02/30,12:34:56+00"')).toBe(CME(916));
    const a = await fresh('2.6.3');
    expect(await a.at.cmd('AT+CCLK?')).toBe(ERROR);
  });
});

describe('fault knobs', () => {
  test('responseDelayMs delays the final result', async () => {
    const { at, module } = await fresh('2.6.3');
    module.setFaults({ responseDelayMs: 150 });
    const t0 = performance.now();
    expect(await at.cmd('AT')).toBe(OK);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });

  test('spuriousUrcEveryMs emits the configured URC', async () => {
    const { at, module } = await fresh('2.6.3');
    module.setFaults({ spuriousUrcEveryMs: 30, spuriousUrc: '+KMQTT_IND: 7,5' });
    expect(await at.until('\r\n+KMQTT_IND: 7,5\r\n', 2_000)).toContain('+KMQTT_IND: 7,5');
    module.setFaults({ spuriousUrcEveryMs: 0 });
  });

  test('resetAtCommand resets instead of answering, once', async () => {
    const { at, module } = await fresh('2.6.3');
    module.setFaults({ resetAtCommand: 'AT+KMQTTCFG' });
    at.send('AT+KMQTTCFG=0,h,1883,4,x\r');
    expect(await at.until('\r\nREADY\r\n', 3_000)).toBe('\r\nREADY\r\n');
    expect(await at.cmd('AT+KMQTTCFG=0,h,1883,4,x')).toContain('+KMQTTCFG: 1');
  });

  test('dropRate loses bytes reproducibly for a given seed', async () => {
    const run = async () => {
      const { at, module } = await fresh('2.6.3');
      module.setFaults({ dropRate: 0.3, direction: 'tx', seed: 42 });
      at.send('AT+CGMR\r');
      return at.drainAfter(150);
    };
    const a = await run();
    const b = await run();
    expect(a).toBe(b);
    expect(a.length).toBeLessThan('\r\n2.6.3\r\n\r\nOK\r\n'.length);
  });

  test('corruptRate on rx garbles commands so they fail', async () => {
    const { at, module } = await fresh('2.6.3');
    module.setFaults({ corruptRate: 1, direction: 'rx' });
    at.send('AT+CGMR\r');
    expect(await at.drainAfter(120)).not.toContain('2.6.3');
  });
});

describe('module API', () => {
  test('attach twice throws BXHIL_SIM_ATTACHED; after close, BXHIL_SIM_CLOSED; close is idempotent', async () => {
    const { module } = await fresh('2.6.3');
    const [, other] = duplexPair();
    expect(() => module.attach(other)).toThrow(expect.objectContaining({ code: 'BXHIL_SIM_ATTACHED' }));
    await module.close();
    await module.close();
    expect(() => module.reset()).toThrow(expect.objectContaining({ code: 'BXHIL_SIM_CLOSED' }));
  });

  test('module.reset() reboots as AT+RST would, without its OK: READY, sessions gone, stores kept', async () => {
    const { module, at } = await fresh('2.6.3');
    module.stores.preload({ root: PEM });
    await at.cmd('AT+KMQTTCFG=0,h,1883,4,x');
    module.reset();
    expect(await at.until('\r\nREADY\r\n', 3_000)).toBe('\r\nREADY\r\n');
    expect(await at.cmd('AT+KMQTTCFG?')).toBe(`AT+KMQTTCFG?\r${OK}`);
    expect(module.stores.root?.toString()).toBe(PEM);
  });

  test('a bad fault knob is refused with the field named', async () => {
    const { module } = await fresh('2.6.3');
    expect(() => module.setFaults({ dropRate: 2 })).toThrow(
      expect.objectContaining({ code: 'BXHIL_CONFIG', field: 'faults.dropRate' }),
    );
  });

  test('evidence: commands by name only (no password), URCs, and the failed connect step go to the bus', async () => {
    const bus = new EvidenceBus();
    const rec = new EvidenceRecorder(bus);
    const { at } = await fresh('2.6.3', { bus });
    await at.cmd('AT+KMQTTCFG=0,127.0.0.1,1,4,"id",60,1,0,,,0,0,"user","s3cret-pw"');
    await at.cmd('AT+KMQTTCNX=1');
    await at.until('+KMQTT_IND: 1,0\r\n', 5_000);
    rec.stop();
    expect(JSON.stringify(rec.events)).not.toContain('s3cret-pw');
    expect(rec.events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ source: 'sim', kind: 'command', summary: 'AT+KMQTTCFG → OK' }),
        expect.objectContaining({
          source: 'sim',
          kind: 'connect-failed',
          scope: 'session-1',
          data: expect.objectContaining({ step: 'tcp' }),
        }),
        expect.objectContaining({ source: 'sim', kind: 'urc', summary: '+KMQTT_IND: 1,0' }),
      ]),
    );
  });
});
