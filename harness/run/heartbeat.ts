/**
 * The suites' side of `bx-hil run`'s progress: each worker writes `<pid>.json` (a `Heartbeat`)
 * into `$BX_HIL_HEARTBEAT_DIR` while a test waits, and removes it when the wait ends.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SUITE_ENV, type Heartbeat } from './meta.ts';

/**
 * Heartbeats for `bx-hil run`'s progress: what the test waits on now. An explicit wait
 * (`evidence.waiting('...')`, e.g. a URC after OK) stays until cleared; an AT command in flight
 * shows over it and gives way to it again at its final result.
 */
export function heartbeatWriter(testId: string): {
  explicit(what: string | undefined): void;
  command(what: string | undefined): void;
} {
  const dir = process.env[SUITE_ENV.heartbeatDir];
  if (!dir) return { explicit: () => {}, command: () => {} };
  const file = join(dir, `${process.pid}.json`);
  let explicit: { what: string; since: number } | undefined;
  let command: { what: string; since: number } | undefined;
  const write = () => {
    const now = command ?? explicit;
    try {
      if (now === undefined) rmSync(file, { force: true });
      else
        writeFileSync(
          file,
          JSON.stringify({ test: testId, waitingOn: now.what, since: now.since } satisfies Heartbeat),
        );
    } catch {
      // heartbeats are best effort: a missing directory must not fail a test
    }
  };
  return {
    explicit(what) {
      explicit = what === undefined ? undefined : { what, since: Date.now() };
      write();
    },
    command(what) {
      command = what === undefined ? undefined : { what, since: Date.now() };
      write();
    },
  };
}
