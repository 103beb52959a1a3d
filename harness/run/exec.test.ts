import { describe, expect, test } from 'vitest';
import { RigCommandError } from './errors.ts';
import { redactUrlCredentials, runRigCommand } from './exec.ts';

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

  test('a command that leaves a background child settles on its exit, as a success', async () => {
    const t0 = performance.now();
    // The child holds stdout open for 30 s; its pid is printed so the test can end it.
    const r = await runRigCommand(
      'powerCycle',
      { command: 'sleep 30 & echo "bg $!"; echo done', timeoutMs: 20_000 },
      vars,
    );
    const pid = Number(/bg (\d+)/.exec(r.outputTail)?.[1]);
    try {
      expect(r.exitCode).toBe(0);
      expect(r.outputTail).toContain('done');
      // Bound: the 1 s drain plus room for a loaded 2-core machine, far below the 20 s bound and the child's 30 s.
      expect(performance.now() - t0).toBeLessThan(10_000);
    } finally {
      if (pid > 0) process.kill(pid, 'SIGKILL');
    }
  });

  test('URL credentials in a command are echoed redacted (errors, output tail)', async () => {
    expect(redactUrlCredentials('curl -fsS http://admin:s3cr@t@pdu.lan/outlet?3=off && echo ok')).toBe(
      'curl -fsS http://admin:***@pdu.lan/outlet?3=off && echo ok',
    );
    expect(redactUrlCredentials("wget 'https://u:p@10.0.0.9:8080/x' ftp://anon@host/ http://host/a:b@c")).toBe(
      "wget 'https://u:***@10.0.0.9:8080/x' ftp://anon@host/ http://host/a:b@c",
    );
    const err = (await runRigCommand(
      'powerCycle',
      {
        command: 'echo calling http://admin:hunter2@pdu.invalid/off; exit 4 # http://admin:hunter2@pdu.invalid/off',
        timeoutMs: 10_000,
      },
      vars,
    ).catch((e: unknown) => e)) as RigCommandError;
    expect(err.code).toBe('BXHIL_RIG_COMMAND');
    expect(err.message).toContain('http://admin:***@pdu.invalid/off');
    expect(err.message).not.toContain('hunter2');
    expect(err.outputTail).toContain('calling http://admin:***@pdu.invalid/off');
    expect(err.outputTail).not.toContain('hunter2');
  });
});
