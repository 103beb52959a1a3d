import { describe, expect, test } from 'vitest';
import { runDevice, type DeviceRunDeps } from './orchestrate.ts';
import type { PreflightResult } from './preflight.ts';
import type { RawTestRecord } from './results.ts';
import { parseLab } from './lab.ts';

const raw = (names: string[], status: RawTestRecord['status'], extra: Partial<RawTestRecord> = {}): RawTestRecord => ({
  file: '/x/suites/mqtt.test.ts',
  names,
  status,
  durationMs: 10,
  attempts: 1,
  errors: status === 'failed' ? ['boom'] : [],
  meta: {},
  ...extra,
});

function deps(over: Partial<DeviceRunDeps> = {}): DeviceRunDeps & { lines: string[]; suitesRan: () => boolean } {
  const lines: string[] = [];
  let ran = false;
  return {
    harnessVersion: '0.0.0',
    log: (l) => lines.push(l),
    runSuites: async () => {
      ran = true;
      return {
        records: [
          raw(['connect', 'ok'], 'passed', { meta: { firmware: '9.9.9', model: 'BX3105', scenario: 'S1' } }),
          raw(['qos', 'two'], 'failed'),
          raw(['qos', 'one'], 'failed'),
        ],
        unhandled: ['worker crashed'],
      };
    },
    ...over,
    lines,
    suitesRan: () => ran,
  };
}

const rig = parseLab({
  devices: [
    {
      id: 'd',
      uri: 'sim:2.6.3',
      knownIssues: [
        { test: 'mqtt/qos/two', reason: 'no QoS 2', source: '[guess]', expects: { code: 'BXHIL_AT_TIMEOUT' } },
      ],
    },
  ],
  knownIssues: [],
});
const device = rig.devices[0]!;

describe('runDevice', () => {
  test('raw records become results: firmware read from the module, rig known issues applied, unhandled errors reported', async () => {
    const d = deps();
    const r = await runDevice({ device, lab: rig, outDir: '/tmp' }, d);
    expect(r.devices).toEqual([{ id: 'd', uri: 'sim:2.6.3', firmware: '9.9.9', model: 'BX3105' }]);
    expect(r.tests.map((t) => [t.id, t.outcome, t.firmware])).toEqual([
      ['mqtt/connect/ok', 'pass', '9.9.9'],
      // Listed in the rig, but the fixture never judged the failure ("boom" is not a timeout): a failure.
      ['mqtt/qos/two', 'fail', '9.9.9'],
      ['mqtt/qos/one', 'fail', '9.9.9'],
      ['run/unhandled error 1', 'fail', '9.9.9'],
    ]);
    expect(r.tests[1]!.error).toBe(
      'failed differently from the known issue ([guess]): it expects BXHIL_AT_TIMEOUT; the test failed with boom',
    );
  });

  test('a preflight failure is the result: one failing preflight entry naming the category, suites not run', async () => {
    const pf: PreflightResult = {
      device: 'd',
      uri: 'sim:2.6.3',
      ok: false,
      steps: [
        { name: 'port', title: 'port opens', status: 'ok', category: 'rig', detail: 'opened', durationMs: 1 },
        {
          name: 'at',
          title: 'AT answers',
          status: 'fail',
          category: 'rig',
          detail: 'no answer within 5000 ms',
          durationMs: 5000,
          code: 'BXHIL_AT_TIMEOUT',
        },
      ],
    };
    const d = deps({ preflight: async () => pf });
    const r = await runDevice({ device, lab: rig, outDir: '/tmp' }, d);
    expect(d.suitesRan()).toBe(false);
    expect(r.tests).toEqual([
      expect.objectContaining({ id: 'preflight/at', outcome: 'fail', error: 'rig problem: no answer within 5000 ms' }),
    ]);
    expect(d.lines.some((l) => l.includes('preflight FAIL AT answers'))).toBe(true);
  });

  test('a failing flash command stops that device before preflight and suites', async () => {
    const bad = parseLab({ devices: [{ id: 'f', uri: 'sim:2.6.3', flash: { command: 'exit 9', timeoutMs: 5000 } }] });
    let preflighted = false;
    const d = deps({
      preflight: async () => {
        preflighted = true;
        return { device: 'f', uri: 'sim:2.6.3', ok: true, steps: [] };
      },
    });
    const r = await runDevice({ device: bad.devices[0]!, lab: bad, outDir: '/tmp' }, d);
    expect(preflighted).toBe(false);
    expect(d.suitesRan()).toBe(false);
    expect(r.tests).toEqual([
      expect.objectContaining({ id: 'rig/flash', outcome: 'fail', error: expect.stringContaining('exited with 9') }),
    ]);
  });

  test('suites that cannot start become one failing entry with the cause', async () => {
    const d = deps({
      runSuites: async () => {
        throw new Error('vitest could not start');
      },
    });
    const r = await runDevice({ device, lab: rig, outDir: '/tmp' }, d);
    expect(r.tests).toEqual([
      expect.objectContaining({ id: 'run/suites', error: expect.stringContaining('vitest could not start') }),
    ]);
  });
});
