/**
 * The `sim:` link scheme (harness/targets.ts): URI options, the module behind the link, and the
 * link contract's close behaviour.
 */
import { describe, expect, test } from 'vitest';
import { getVirtualModule, openTarget, parseSimUri } from '../targets.ts';
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
  ])('%s is refused naming %s', (uri, field) => {
    expect(() => parseSimUri(new URL(uri))).toThrow(expect.objectContaining({ code: 'BXHIL_CONFIG', field }));
  });

  test('an unknown profile fails at open with BXHIL_CONFIG', async () => {
    await expect(openTarget('sim:9.9')).rejects.toMatchObject({ code: 'BXHIL_CONFIG', field: 'profile' });
  });
});
