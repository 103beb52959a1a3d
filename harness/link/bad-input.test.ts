/**
 * Bad input at the link edge: each case is ONE error with a stable code (and reason), a
 * message naming the fix, within its bound, leaving no handle or timer behind.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkLinkUri, mapSerialOpenError, openLink, parseSerialOptions, type Link } from './index.ts';
import { freePort, hasTool, socatPtyPair, type PtyPair } from './testing.ts';

/** Run `fn`, return what it threw (or fail), and check that it left no resource behind. */
async function failure(fn: () => Promise<unknown>, boundMs = 5_000): Promise<Error & Record<string, unknown>> {
  const before = process.getActiveResourcesInfo().length;
  const t0 = Date.now();
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected an error').toBeInstanceOf(Error);
  expect(Date.now() - t0).toBeLessThan(boundMs);
  await new Promise((r) => setTimeout(r, 30));
  expect(process.getActiveResourcesInfo().length).toBeLessThanOrEqual(before);
  return caught as Error & Record<string, unknown>;
}

describe('device URIs', () => {
  test('empty device: BXHIL_CONFIG telling how to name one', async () => {
    const err = await failure(() => openLink('  '));
    expect(err).toMatchObject({ code: 'BXHIL_CONFIG', field: 'device' });
    expect(err.message).toContain('BX_DEVICE=');
  });

  test('unknown scheme: BXHIL_CONFIG listing the known schemes', async () => {
    const err = await failure(() => openLink('usb://thing'));
    expect(err).toMatchObject({ code: 'BXHIL_CONFIG', field: 'device' });
    expect(err.message).toMatch(/serial:.*tcp:|tcp:.*serial:/);
    expect(err.message).toContain('rfc2217:');
  });

  test('bad line options: BXHIL_CONFIG naming the field and quoting the value', () => {
    const cases: Array<[string, string, string]> = [
      ['serial:/dev/ttyUSB0?baud=fast', 'baud', 'fast'],
      ['serial:/dev/ttyUSB0?baud=-9600', 'baud', '-9600'],
      ['serial:/dev/ttyUSB0?databits=9', 'databits', '9'],
      ['serial:/dev/ttyUSB0?parity=maybe', 'parity', 'maybe'],
      ['serial:/dev/ttyUSB0?stopbits=3', 'stopbits', '3'],
      ['serial:/dev/ttyUSB0?rtscts=sometimes', 'rtscts', 'sometimes'],
      ['serial:/dev/ttyUSB0?buad=9600', 'buad', '9600'],
    ];
    for (const [uri, field, value] of cases) {
      let caught: unknown;
      try {
        parseSerialOptions(uri);
      } catch (err) {
        caught = err;
      }
      expect(caught, uri).toMatchObject({ code: 'BXHIL_CONFIG', field, value });
      expect((caught as Error).message, uri).toContain(value);
    }
  });

  test('line options parse with defaults 115200 8N1', () => {
    expect(parseSerialOptions('serial:/dev/ttyUSB0')).toEqual({
      baudRate: 115200,
      dataBits: 8,
      parity: 'none',
      stopBits: 1,
      rtscts: false,
    });
    expect(parseSerialOptions('serial:/dev/ttyUSB0?baud=9600&databits=7&parity=e&stopbits=1.5&rtscts=1')).toEqual({
      baudRate: 9600,
      dataBits: 7,
      parity: 'even',
      stopBits: 1.5,
      rtscts: true,
    });
  });

  test('tcp:// without a port: BXHIL_CONFIG field port', async () => {
    const err = await failure(() => openLink('tcp://127.0.0.1'));
    expect(err).toMatchObject({ code: 'BXHIL_CONFIG', field: 'port' });
  });

  // checkLinkUri: the whole URI is validated without opening anything (a CLI refuses it, exit 2).
  test.each([
    ['tcp://', 'host'],
    ['tcp://127.0.0.1:0', 'port'],
    ['rfc2217://127.0.0.1:0', 'port'],
    ['rfc2217://127.0.0.1:4001?baud=fast', 'baud'],
    ['tcp://127.0.0.1:4001?bogus=1', 'bogus'],
    ['serial:', 'device'],
    ['serial:/dev/ttyUSB0?parity=maybe', 'parity'],
    ['foo://x', 'device'],
  ])('checkLinkUri(%s): BXHIL_CONFIG field %s, before any I/O', async (uri, field) => {
    const err = await failure(() => checkLinkUri(uri), 1_000);
    expect(err).toMatchObject({ code: 'BXHIL_CONFIG', field });
  });

  test('checkLinkUri accepts what can be opened, without opening it', async () => {
    // Nothing listens on these and no such device exists: only the syntax is checked.
    for (const uri of ['tcp://127.0.0.1:1', 'rfc2217://127.0.0.1:1?baud=9600', '/dev/ttyBXHIL-absent']) {
      await expect(checkLinkUri(uri)).resolves.toBeInstanceOf(URL);
    }
  });
});

describe('serial open failures', () => {
  test('a path that does not exist: BXHIL_LINK_OPEN ENOENT naming cable and by-id', async () => {
    const err = await failure(() => openLink('/dev/ttyBXHIL-does-not-exist'));
    expect(err).toMatchObject({ code: 'BXHIL_LINK_OPEN', reason: 'ENOENT' });
    expect(err.message).toContain('/dev/serial/by-id/');
  });

  test('a file that is not a tty: BXHIL_LINK_OPEN ENOTTY', async () => {
    const err = await failure(() => openLink('serial:/dev/null'));
    expect(err).toMatchObject({ code: 'BXHIL_LINK_OPEN', reason: 'ENOTTY' });
  });

  test('EACCES (emulated: root cannot be denied) maps to the dialout fix', () => {
    // bindings-cpp gives text only; node fs errors give a code. Both must map.
    for (const cause of [
      new Error('Error: Permission denied, cannot open /dev/ttyUSB0'),
      Object.assign(new Error('x'), { code: 'EACCES' }),
    ]) {
      const err = mapSerialOpenError('serial:/dev/ttyUSB0', '/dev/ttyUSB0', cause);
      expect(err).toMatchObject({ code: 'BXHIL_LINK_OPEN', reason: 'EACCES' });
      expect(err.message).toContain('usermod -aG dialout');
      expect(err.cause).toBe(cause);
    }
  });
});

describe.skipIf(!hasTool('socat'))(
  'serial over a PTY (socat; skipped without it: apt-get install socat): busy port, signals, settings',
  () => {
    let pty: PtyPair;
    let link: Link;
    beforeAll(async () => {
      pty = await socatPtyPair();
      link = await openLink(`serial:${pty.a}`);
    });
    afterAll(async () => {
      await link?.close();
      await pty?.close();
    });

    test('a second opener gets BXHIL_LINK_OPEN EBUSY naming the other program', async () => {
      const err = await failure(() => openLink(`serial:${pty.a}`));
      expect(err).toMatchObject({ code: 'BXHIL_LINK_OPEN', reason: 'EBUSY' });
      expect(err.message).toContain('another program');
    });

    test('setSignals on a PTY: BXHIL_LINK_UNSUPPORTED (no modem-control lines, P9)', async () => {
      await expect(link.setSignals!({ dtr: false, rts: true })).rejects.toMatchObject({
        code: 'BXHIL_LINK_UNSUPPORTED',
        operation: 'setSignals',
      });
      expect(link.isOpen).toBe(true);
    });

    test('updateSettings changes the baud rate of the open port (stty sees it); parity needs a reopen', async () => {
      await link.updateSettings!({ baudRate: 19_200 });
      const speed = execFileSync('stty', ['-F', pty.a, 'speed'], { encoding: 'utf8', timeout: 5_000 }).trim();
      expect(Number(speed)).toBe(19_200);
      await expect(link.updateSettings!({ parity: 'even' })).rejects.toMatchObject({
        code: 'BXHIL_LINK_UNSUPPORTED',
        operation: 'updateSettings',
      });
      await expect(link.updateSettings!({ baudRate: 0 })).rejects.toMatchObject({
        code: 'BXHIL_CONFIG',
        field: 'baudRate',
      });
    });
  },
);

describe('tcp open failures', () => {
  test('a closed port: BXHIL_LINK_OPEN ECONNREFUSED asking whether ser2net / sim runs', async () => {
    const port = await freePort();
    const err = await failure(() => openLink(`tcp://127.0.0.1:${port}`));
    expect(err).toMatchObject({ code: 'BXHIL_LINK_OPEN', reason: 'ECONNREFUSED' });
    expect(err.message).toContain(`nothing listens on 127.0.0.1:${port}`);
    expect(err.message).toContain('ser2net');
  });

  test('rfc2217:// to a closed port: the same ECONNREFUSED, naming the telnet(rfc2217) accepter', async () => {
    const port = await freePort();
    const err = await failure(() => openLink(`rfc2217://127.0.0.1:${port}`));
    expect(err).toMatchObject({ code: 'BXHIL_LINK_OPEN', reason: 'ECONNREFUSED' });
    expect(err.message).toContain('telnet(rfc2217)');
  });
});
