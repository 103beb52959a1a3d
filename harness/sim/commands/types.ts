/**
 * What every command handler sees and returns (aedes' handlers idea, docs/STYLE.md §13): one file per
 * command exporting a `CommandHandler`; `index.ts` maps names to handlers. A form the handler
 * does not define answers plain `ERROR` [BX-T: test/action/read forms a K command lacks].
 */
import type { Timing } from '../../timing.ts';
import type { ModuleClock } from '../clock.ts';
import type { Profile } from '../profile.ts';
import type { SessionTable } from '../net/session.ts';
import type { Stores } from '../stores.ts';
import type { WifiState } from '../wifi.ts';

/** A final result: `OK`, `ERROR`, or a `+CME ERROR: <n>` code. */
export type Final = 'OK' | 'ERROR' | number;

/** Data mode: `CONNECT`, then raw bytes until `+++`; `onEnd` gives the final result. */
export interface DataSink {
  onEnd(data: Buffer): Reply;
}

export type Reply =
  | {
      /** Information lines before the final result (sent as `\r\n` + lines joined by `\r\n` + `\r\n`). */
      lines?: string[];
      final: Final;
      /** Runs once the final result is written (URCs that follow `OK`, background work). */
      after?: () => void;
      /**
       * Work the module does before it answers (a flash write), ms: the final result waits, and
       * so does the next command. Default 0.
       */
      delayMs?: number;
    }
  | { connect: DataSink };

export interface SimContext {
  readonly profile: Profile;
  readonly stores: Stores;
  readonly sessions: SessionTable;
  readonly wifi: WifiState;
  readonly clock: ModuleClock;
  /** The timing in force (harness/timing.ts); `INSTANT_TIMING` unless one was selected. */
  readonly timing: Timing;
  /**
   * Run `fn` after `ms` (at once when 0), unless the module reboots or closes first: background
   * work that a reset cancels (a Wi-Fi join in progress).
   */
  later(ms: number, fn: () => void): void;
  /** ATE0 / ATE1. */
  echo: boolean;
  /** Emit an unsolicited line (`\r\n<line>\r\n`); held back while in data mode. */
  urc(line: string): void;
  /** Reboot after the final result: `rst` (AT+RST) or `factory` (AT&F); READY follows. */
  reboot(kind: 'rst' | 'factory'): void;
}

export type Handler = (ctx: SimContext) => Reply | Promise<Reply>;

export interface CommandHandler {
  /** `AT+X` */
  action?: Handler;
  /** `AT+X?` */
  read?: Handler;
  /** `AT+X=?` */
  test?: Handler;
  /** `AT+X=<args>` (args as sent, unsplit). */
  set?: (ctx: SimContext, args: string) => Reply | Promise<Reply>;
}

export const ok = (lines?: string[], after?: () => void): Reply => ({ lines, final: 'OK', after });
export const error = (): Reply => ({ final: 'ERROR' });
export const cme = (code: number): Reply => ({ final: code });
