/**
 * A test's evidence and broker rigs without Vitest fixtures: under `--keylog` each rig writes
 * its scratch key log where `BrokerRig.keylogPath` says, the bundle keeps it (mode 0600) and
 * the scratch file is gone; the AT transcript and meta land in the bundle.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { EvidenceBus } from '../evidence.ts';
import { createBasicPki, KeyPool } from '../pki/index.ts';
import { SUITE_ENV, type SuiteTestMeta } from './meta.ts';
import type { SuiteSession } from './suite-session.ts';
import { testRigs } from './suite-session.ts';
import { collectTestEvidence, transcriptOf } from './test-evidence.ts';

const dir = mkdtempSync(join(tmpdir(), 'bxhil-evidence-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('test evidence and rigs', () => {
  test('--keylog: the rig key log is read into the bundle (0600) and its scratch file removed', async () => {
    const env = { [SUITE_ENV.evidenceDir]: dir, [SUITE_ENV.keylog]: '1' };
    const bus = new EvidenceBus();
    const pki = await createBasicPki({ pool: new KeyPool(), serverNames: ['127.0.0.1'] });
    const suite = {
      target: { brokerName: '127.0.0.1', bindHost: '127.0.0.1' },
      pki,
      bus,
      device: { vm: undefined },
    } as unknown as SuiteSession;
    const meta: SuiteTestMeta = {};
    const { evidence, finish } = collectTestEvidence(
      bus,
      { id: 'suite/a test', meta, device: { uri: 'sim:2.6.3', firmware: '2.6.3', model: 'BX3105' } },
      env,
    );
    const rigs = testRigs(suite, evidence, env);
    const rig = await rigs.start({ profile: 'plain' });
    try {
      expect(rig.keylogPath).toBeDefined();
      expect(rig.keylogPath!.startsWith(join(dir, '.keylogs'))).toBe(true);
      // What the TLS server would have appended (a plain rig has no handshake to log).
      writeFileSync(rig.keylogPath!, 'CLIENT_RANDOM 00 11\n');
      bus.emit({ source: 'at', kind: 'command', summary: 'AT+CGMR' });
    } finally {
      await rigs.close();
    }
    await finish();
    const bundle = join(dir, 'suite_a_test');
    expect(meta.evidenceDir).toBe(join('evidence', 'suite_a_test'));
    expect(readFileSync(join(bundle, 'keylog.txt'), 'utf8')).toBe('CLIENT_RANDOM 00 11\n');
    expect(statSync(join(bundle, 'keylog.txt')).mode & 0o777).toBe(0o600);
    expect(existsSync(rig.keylogPath!)).toBe(false);
    expect(JSON.parse(readFileSync(join(bundle, 'meta.json'), 'utf8'))).toMatchObject({
      test: 'suite/a test',
      device: 'sim:2.6.3',
      firmware: '2.6.3',
    });
  });

  test('transcriptOf renders AT events only, with arrows and times from the first event', () => {
    const e = (t: number, source: 'at' | 'tls', kind: string, summary: string) => ({
      t,
      wall: '',
      source,
      kind,
      summary,
    });
    expect(
      transcriptOf([e(1000, 'at', 'command', 'AT'), e(1100, 'tls', 'alert', 'x'), e(1250, 'at', 'final', 'OK')]),
    ).toBe('+0.000 > AT\n+0.250 < OK\n');
  });
});
