/**
 * A tiny raw-bytes AT peer for tests and benches of the virtual module: it sends bytes and waits
 * for patterns in what comes back. Deliberately not the driver (`harness/at`): conformance tests
 * must check the simulator's bytes without sharing a parser with it (docs/DESIGN.md).
 */
import type { Duplex } from 'node:stream';
import { SimError } from './errors.ts';

/** A final result code line, or CONNECT. */
export const FINAL = /\r\n(OK|ERROR|\+CME ERROR: \d+|CONNECT)\r\n/;

export class RawClient {
  /** Everything received and not yet consumed by `until`. */
  buffer = '';
  readonly #stream: Duplex;
  #waiter: (() => void) | undefined;

  constructor(stream: Duplex) {
    this.#stream = stream;
    stream.on('data', (d: Buffer | string) => {
      this.buffer += typeof d === 'string' ? d : d.toString('latin1');
      this.#waiter?.();
    });
  }

  send(data: string | Buffer): void {
    this.#stream.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Wait until `pattern` appears; returns the text up to and including it and consumes it. */
  until(pattern: RegExp | string, timeoutMs = 5_000): Promise<string> {
    const find = (): string | undefined => {
      if (typeof pattern === 'string') {
        const i = this.buffer.indexOf(pattern);
        return i < 0 ? undefined : this.buffer.slice(0, i + pattern.length);
      }
      const m = pattern.exec(this.buffer);
      return m ? this.buffer.slice(0, m.index + m[0].length) : undefined;
    };
    return new Promise<string>((resolve, reject) => {
      const check = () => {
        const got = find();
        if (got === undefined) return false;
        this.buffer = this.buffer.slice(got.length);
        clearTimeout(timer);
        this.#waiter = undefined;
        resolve(got);
        return true;
      };
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(
          new SimError(
            'BXHIL_SIM_TIMEOUT',
            `no ${String(pattern)} within ${timeoutMs} ms; received so far: ${JSON.stringify(this.buffer.slice(-300))}`,
          ),
        );
      }, timeoutMs);
      if (!check()) this.#waiter = check;
    });
  }

  /** Send `line` + CR and return everything up to the final result (echo included). */
  async cmd(line: string, timeoutMs = 5_000): Promise<string> {
    this.send(`${line}\r`);
    return this.until(FINAL, timeoutMs);
  }

  /** Drop what was received so far. */
  clear(): void {
    this.buffer = '';
  }

  /** Waits `ms`, then returns and drops what arrived meanwhile (for "nothing else arrives" checks). */
  async drainAfter(ms: number): Promise<string> {
    await new Promise((r) => setTimeout(r, ms));
    const rest = this.buffer;
    this.buffer = '';
    return rest;
  }
}
