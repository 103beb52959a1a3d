/**
 * One command's exchange with the module, and the state the engine's sending side (engine.ts)
 * and its receiving side (receiver.ts) share.
 */
import { AtCommandError, AtProtocolError, CmeError, SecretEchoError } from './errors.ts';
import type { AtResponse } from './options.ts';

export type Final =
  | { kind: 'OK' | 'ERROR' | 'CONNECT' | 'READY'; cmeCode?: undefined }
  | { kind: 'CME'; cmeCode: number; cmeText?: string };

export interface Exchange {
  /** The command as written, without CR (unredacted: compared with the echo). */
  sent: string;
  /** Redacted, for messages and evidence. */
  shown: string;
  prefix: string | undefined;
  lines: string[];
  echoDone: boolean;
  expectReset: boolean;
  /** The module sent back registered key material during this exchange. */
  secretEcho: boolean;
  /** A final result that arrived while nobody waited (e.g. an early CME during the data phase). */
  outcome: Final | Error | undefined;
  waiter: { resolve(f: Final): void; reject(e: Error): void } | undefined;
}

/** What the engine and its receiver both read and change. */
export interface ExchangeState {
  /** The command in flight, if any. */
  exchange: Exchange | undefined;
  /** Whether the last command was echoed (ATE1); undefined before the first answer. */
  echo: boolean | undefined;
  /** The next command first resynchronises (after a timeout, a stray final result or garbage). */
  needsResync: boolean;
  /** Between `CONNECT` and the final result of a data-mode command. */
  inDataMode: boolean;
}

/** Publish an evidence event (`source: 'at'`). */
export type Emit = (kind: string, summary: string, data: Record<string, unknown>) => void;

/** Settle the exchange with a final result or an error, now or for the next `wait`. */
export function settle(ex: Exchange, outcome: Final | Error): void {
  const w = ex.waiter;
  if (w) {
    ex.waiter = undefined;
    if (outcome instanceof Error) w.reject(outcome);
    else w.resolve(outcome);
  } else {
    ex.outcome = outcome;
  }
}

/** The exchange is over: no more lines belong to it. */
export function endExchange(state: ExchangeState, ex: Exchange): void {
  if (state.exchange === ex) state.exchange = undefined;
}

/** End the exchange and settle it with `err`. */
export function failExchange(state: ExchangeState, ex: Exchange, err: Error): void {
  endExchange(state, ex);
  settle(ex, err);
}

/** End the exchange and turn its final result into the answer, or the error it means. */
export function finishExchange(state: ExchangeState, ex: Exchange, final: Final, errorRemedy?: string): AtResponse {
  endExchange(state, ex);
  // The answer held stored key material: that is the finding, whatever the final result said.
  if (ex.secretEcho) throw new SecretEchoError(ex.shown);
  switch (final.kind) {
    case 'OK':
    case 'READY':
      return { command: ex.shown, lines: ex.lines, final: 'OK' };
    case 'ERROR':
      throw new AtCommandError(ex.shown, ex.lines, errorRemedy);
    case 'CME':
      throw new CmeError(ex.shown, final.cmeCode, final.cmeText !== undefined ? { text: final.cmeText } : {});
    default:
      state.needsResync = true;
      throw new AtProtocolError(ex.shown, final.kind, 'a final result');
  }
}
