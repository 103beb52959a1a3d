import { describe, expect, test } from 'vitest';
import { RigCommandError } from './errors.ts';
import { runRigCommand } from './exec.ts';

const vars = { device: "dev'1", uri: 'sim:2.6.3' };

describe('rig commands', () => {
  test('substitutes {device} and {uri} shell-quoted and returns the output', async () => {
    const r = await runRigCommand(
      'powerCycle',
      { command: 'echo [{device}] {uri}; echo $BX_HIL_DEVICE_ID', timeoutMs: 10_000 },
      vars,
    );
    expect(r.exitCode).toBe(0);
    expect(r.outputTail).toContain("[dev'1] sim:2.6.3");
    expect(r.outputTail).toContain("dev'1\n");
  });

  test('a non-zero exit rejects with BXHIL_RIG_COMMAND and the output tail', async () => {
    const err = (await runRigCommand('flash', { command: 'echo boom >&2; exit 3', timeoutMs: 10_000 }, vars).catch(
      (e: unknown) => e,
    )) as RigCommandError;
    expect(err).toBeInstanceOf(RigCommandError);
    expect(err.code).toBe('BXHIL_RIG_COMMAND');
    expect(err.exitCode).toBe(3);
    expect(err.outputTail).toContain('boom');
  });

  test('a command past its bound is killed with its children', async () => {
    const t0 = performance.now();
    const err = (await runRigCommand(
      'powerCycle',
      { command: 'sleep 30 & sleep 30; wait', timeoutMs: 300 },
      vars,
    ).catch((e: unknown) => e)) as RigCommandError;
    expect(err.code).toBe('BXHIL_RIG_COMMAND_TIMEOUT');
    expect(err.timedOut).toBe(true);
    expect(performance.now() - t0).toBeLessThan(8_000);
  });
});
