/**
 * The `sim:` link scheme (harness/targets.ts): URI options, the module behind the link, and the
 * link contract's close behaviour.
 */
import { describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import { INSTANT_TIMING } from '../timing.ts';
import { loadProfile } from './index.ts';
import { checkTarget, getVirtualModule, openTarget, parseSimUri } from '../targets.ts';
import { RawClient } from './raw-client.ts';
import { Duplex } from 'node:stream';
import type { Link } from '../link/index.ts';

/** A RawClient over a Link (the link is not a Duplex). */
function clientOf(link: Link): RawClient {
  const duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      link.write(chunk).then(() => done(), done);
    },
  });
  link.on('data', (d) => duplex.push(d));
  return new RawClient(duplex);
}

describe('sim: URIs', () => {
  test('sim:<profile> opens a link to a module of that profile; close closes the module', async () => {
    const link = await openTarget('sim:legacy?echo=0');
    const vm = getVirtualModule(link)!;
    expect(vm.profile.name).toBe('legacy');
    const at = clientOf(link);
    expect(await at.cmd('AT+CGMR')).toBe('\r\n1.3.0\r\n\r\nOK\r\n');
    await link.close();
    expect(() => vm.reset()).toThrow(expect.objectContaining({ code: 'BXHIL_SIM_CLOSED' }));
  });

  test('sim: alone is 2.6.3; other links have no module', async () => {
    const link = await openTarget('sim:');
    expect(getVirtualModule(link)?.profile.name).toBe('2.6.3');
    await link.close();
  });

  test('options: repeatable resolve, clock, store', () => {
    const { options, echo } = parseSimUri(
      new URL(
        'sim:reference?resolve=a.example=127.0.0.1:8883&resolve=b.example=10.0.0.1&clock=1970&store=.tmp/x.json&echo=1',
      ),
    );
    expect(options).toMatchObject({
      profile: 'reference',
      resolve: { 'a.example': { host: '127.0.0.1', port: 8883 }, 'b.example': { host: '10.0.0.1' } },
      clock: '1970',
      storePath: '.tmp/x.json',
    });
    expect(echo).toBe(true);
    expect(parseSimUri(new URL('sim:2.6.3?clock=2030-01-01T00:00:00Z')).options.clock).toEqual(
      new Date('2030-01-01T00:00:00Z'),
    );
  });

  test.each([
    ['sim:2.6.3?resolve=nohost', 'device.resolve'],
    ['sim:2.6.3?resolve=a=127.0.0.1:99999', 'device.resolve'],
    ['sim:2.6.3?clock=yesterday', 'device.clock'],
    ['sim:2.6.3?echo=2', 'device.echo'],
    ['sim:2.6.3?colour=blue', 'device.colour'],
    ['sim:2.6.3?timing=fast', 'device.timing'],
  ])('%s is refused naming %s', (uri, field) => {
    expect(() => parseSimUri(new URL(uri))).toThrow(expect.objectContaining({ code: 'BXHIL_CONFIG', field }));
  });

  test('timing: instant by default, realistic is the profile block, a file is parsed over it', async () => {
    const instant = await openTarget('sim:2.6.3');
    expect(getVirtualModule(instant)!.timing).toBe(INSTANT_TIMING);
    await instant.close();
    const real = await openTarget('sim:legacy?timing=realistic&clock=1970');
    const vm = getVirtualModule(real)!;
    expect(vm.timing).toBe(loadProfile('legacy').timing);
    expect(vm.clock.now().getUTCFullYear()).toBe(1970); // slow AND wrong
    await real.close();
    const dir = mkdtempSync(join(tmpdir(), 'bxhil-timing-'));
    try {
      const file = join(dir, 'bench.timing.json');
      writeFileSync(
        file,
        JSON.stringify({
          tls: { signMs: { rsa2048: 900 } },
          sources: { 'tls.signMs.rsa2048': '[measured 2026-01-05]' },
        }),
      );
      const link = await openTarget(`sim:2.6.3?timing=${encodeURIComponent(file)}`);
      const t = getVirtualModule(link)!.timing;
      expect(t.name).toBe(file);
      expect(t.tls.signMs.rsa2048).toBe(900);
      expect(t.bootMs).toBe(loadProfile('2.6.3').timing.bootMs);
      await link.close();
      writeFileSync(file, JSON.stringify({ tls: { signMs: { rsa4096: -1 } } }));
      await expect(checkTarget(`sim:2.6.3?timing=${file}`, 'devices[0].uri')).rejects.toMatchObject({
        code: 'BXHIL_CONFIG',
        message: expect.stringContaining('device.timing.tls.signMs.rsa4096'),
      });
      await expect(openTarget(`sim:2.6.3?timing=${join(dir, 'none.json')}`)).rejects.toMatchObject({
        code: 'BXHIL_CONFIG',
        field: 'device.timing',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an unknown profile fails at open with BXHIL_CONFIG', async () => {
    await expect(openTarget('sim:9.9')).rejects.toMatchObject({ code: 'BXHIL_CONFIG', field: 'profile' });
  });

  // checkTarget: what a command runs before anything starts (exit 2, no report written).
  test.each([
    ['sim:nope', /unknown profile "nope"/],
    ['sim://2.6.3', /no host/],
    ['sim:2.6.3?bogus=1', /unknown sim: option "bogus"/],
    ['sim:2.6.3?clock=xyz', /clock must be/],
    ['sim:./no-such-profile.json', /does not exist/],
    ['tcp://127.0.0.1:0', /port 0/],
    ['foo://x', /unknown device scheme/],
  ])('checkTarget(%s) is one ConfigError naming the flag', async (uri, message) => {
    const err = (await checkTarget(uri, '--device').catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({ code: 'BXHIL_CONFIG', field: '--device' });
    expect(err.message).toMatch(/^--device "/);
    expect(err.message).toMatch(message);
  });

  test('checkTarget refuses an invalid profile file and a store file that is not a module store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bxhil-target-'));
    try {
      writeFileSync(join(dir, 'p.json'), JSON.stringify({ extends: '2.6.3', tls: { minVersion: 'TLSv9' } }));
      writeFileSync(join(dir, 'store.json'), '{not json');
      writeFileSync(join(dir, 'old.json'), '{"version":7}');
      await expect(checkTarget(`sim:${join(dir, 'p.json')}`)).rejects.toMatchObject({ code: 'BXHIL_CONFIG' });
      for (const f of ['store.json', 'old.json']) {
        const err = (await checkTarget(`sim:2.6.3?store=${join(dir, f)}`).catch((e: unknown) => e)) as ConfigError;
        expect(err).toMatchObject({ code: 'BXHIL_CONFIG', field: 'device' });
        expect((err.cause as ConfigError).field).toBe('device.store');
      }
      // The same store file also fails the open as bad input, not as a module error.
      await expect(openTarget(`sim:2.6.3?store=${join(dir, 'store.json')}`)).rejects.toMatchObject({
        code: 'BXHIL_CONFIG',
        field: 'device.store',
      });
      await expect(checkTarget('sim:2.6.3?clock=1970&echo=0')).resolves.toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
