/**
 * Property tests of the AT engine with fast-check: more than 10,000 generated response streams.
 *
 * - Well-formed answers (information lines, URCs interleaved anywhere, echo on or off, any final
 *   result) cut into random chunks are always parsed right: same lines, same final, the URCs in
 *   order, none taken as a response line.
 * - Mutated streams (garbage bytes inserted, bytes deleted, truncated) never crash, never hang
 *   (each run ends by itself or when its timeout fires), never leave an unhandled rejection,
 *   and only ever fail with a harness error code.
 *
 * The link is a minimal in-test fake and the timers are a manual fake, so a run costs well
 * under a millisecond.
 */
import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Link, LinkEvents } from '../link/index.ts';
import { AtEngine, type AtTimers } from './engine.ts';
import { HarnessError } from '../errors.ts';

class FakeLink extends EventEmitter<LinkEvents> implements Link {
  readonly uri = 'fuzz:';
  isOpen = true;
  onWrite: ((text: string) => void) | undefined;
  write(data: Uint8Array | string): Promise<void> {
    this.onWrite?.(typeof data === 'string' ? data : Buffer.from(data).toString('latin1'));
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.isOpen = false;
    return Promise.resolve();
  }
  destroy(): void {
    this.isOpen = false;
  }
}

class ManualTimers implements AtTimers {
  readonly pending = new Map<number, () => void>();
  /** The fake monotonic clock the engine reads; `fireAll` jumps it past every deadline. */
  clock = 0;
  readonly now = (): number => this.clock;
  #next = 1;
  setTimeout(fn: () => void, _ms: number): unknown {
    const id = this.#next++;
    this.pending.set(id, fn);
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  fireAll(): void {
    this.clock += 1e9;
    for (const [id, fn] of [...this.pending]) {
      this.pending.delete(id);
      fn();
    }
  }
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

let unhandled = 0;
const onUnhandled = (): void => {
  unhandled++;
};
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});

const RESERVED =
  /^(OK|ERROR|CONNECT|READY|\+CME ERROR.*|\+(KMQTT_IND|KMQTT_DATA|KMQTTSUB|KTCP_NOTIF|KTCP_DATA|KTCP_SRVREQ|KUDP_DATA|KUDP_NOTIF|KHTTP_ERROR|KHTTPS_ERROR|SRWSTASTATUS|SRWSTAIP|KPING|KPINGSTAT)(:.*)?)$/;
const COMMAND = 'AT+KCERTSTORE?';

const infoLine = fc
  .oneof(
    fc.stringMatching(/^[A-Za-z0-9 ,."_/=+-]{1,40}$/),
    fc.constantFrom(
      '+KCERTSTORE',
      'root_cert,0,1234',
      '-----BEGIN CERTIFICATE-----',
      'MIIBszCCAVmgAwIBAgIUQ0==',
      'local_cert,2,99',
    ),
  )
  .filter((l) => l.trim() !== '' && !RESERVED.test(l) && l !== COMMAND && !l.endsWith(COMMAND));

const urcLine = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 5 })).map(([id, c]) => `+KMQTT_IND: ${id},${c}`),
  fc
    .tuple(
      fc.integer({ min: 1, max: 10 }),
      fc.stringMatching(/^[a-z/]{1,10}$/),
      fc.stringMatching(/^[a-z0-9 ,{}:]{0,20}$/),
    )
    .map(([id, t, p]) => `+KMQTT_DATA: ${id},"${t}","${p}"`),
  fc.stringMatching(/^[a-z/]{1,10}$/).map((t) => `+KMQTTSUB: "${t}","m"`),
  fc.constantFrom('+SRWSTASTATUS: 0,8', '+SRWSTAIP: "10.0.0.2","255.255.255.0","10.0.0.1"', '+KTCP_NOTIF: 1,4'),
);

const finalResult = fc.oneof(
  fc.constant({ line: 'OK', code: undefined as string | undefined, cme: undefined as number | undefined }),
  fc.constant({ line: 'ERROR', code: 'BXHIL_AT_ERROR', cme: undefined }),
  fc.integer({ min: 0, max: 999 }).map((n) => ({ line: `+CME ERROR: ${n}`, code: 'BXHIL_CME', cme: n })),
);

/** Lines of the answer, each a response line or a URC, in order. */
const answer = fc.record({
  echo: fc.boolean(),
  items: fc.array(
    fc.oneof(
      infoLine.map((l) => ({ urc: false, l })),
      urcLine.map((l) => ({ urc: true, l })),
    ),
    { maxLength: 8 },
  ),
  trailingUrcs: fc.array(urcLine, { maxLength: 2 }),
  final: finalResult,
  ending: fc.constantFrom('\r\n', '\r\n', '\n', '\r'),
  sync: fc.boolean(),
});

function cutAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out.filter((b) => b.length > 0);
}

function run(
  stream: Buffer[],
  sync: boolean,
): { engine: AtEngine; link: FakeLink; timers: ManualTimers; urcs: string[] } {
  const link = new FakeLink();
  const timers = new ManualTimers();
  const engine = new AtEngine(link, { timers, now: timers.now, resyncAttempts: 1 });
  const urcs: string[] = [];
  engine.onUrc((u) => urcs.push(u.line));
  link.onWrite = () => {
    link.onWrite = undefined;
    const feed = (): void => {
      for (const c of stream) link.emit('data', c);
    };
    if (sync) feed();
    else queueMicrotask(feed);
  };
  return { engine, link, timers, urcs };
}

describe('AT engine properties (fast-check)', () => {
  test('well-formed answers in any chunking are parsed right (6000 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(answer, fc.array(fc.nat(), { maxLength: 12 }), async (a, cuts) => {
        let text = a.echo ? `${COMMAND}\r` : '';
        for (const it of a.items) text += `\r\n${it.l}${a.ending}`;
        text += `\r\n${a.final.line}${a.ending}`;
        for (const u of a.trailingUrcs) text += `\r\n${u}\r\n`;
        const { engine, timers, urcs } = run(cutAt(Buffer.from(text, 'latin1'), cuts), a.sync);
        let outcome: { lines?: string[]; err?: unknown } | undefined;
        engine.command(COMMAND).then(
          (r) => (outcome = { lines: r.lines }),
          (err: unknown) => (outcome = { err }),
        );
        await settle();
        // A bare-CR ending of the very last line cannot be told from a split CRLF: still a line.
        expect(outcome, 'settled without any timer firing').toBeDefined();
        const expectedLines = a.items.filter((i) => !i.urc).map((i) => i.l);
        if (a.final.code === undefined) {
          expect(outcome!.lines).toEqual(expectedLines);
        } else {
          const err = outcome!.err as HarnessError & { cmeCode?: number };
          expect(err.code).toBe(a.final.code);
          if (a.final.cme !== undefined) expect(err.cmeCode).toBe(a.final.cme);
        }
        expect(urcs).toEqual([...a.items.filter((i) => i.urc).map((i) => i.l), ...a.trailingUrcs]);
        if (a.items.length > 0 || a.echo) expect(engine.echo).toBe(a.echo);
        await engine.close();
        expect(timers.pending.size).toBe(0);
      }),
      { numRuns: 6000 },
    );
    expect(unhandled).toBe(0);
  }, 60_000);

  test('mutated and garbage streams: no crash, no hang, only harness errors (6000 runs)', async () => {
    const mutation = fc.oneof(
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 30 }),
      }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 8 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), bytes: fc.constant(new Uint8Array()) }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        bytes: fc
          .constantFrom('\r\nREADY\r\n', '\r\nCONNECT\r\n', '\r\nOK\r\n', '+KTCP_DATA: 1,99,', '\r', '\n', '+++', '"')
          .map((s) => Buffer.from(s)),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        answer,
        fc.array(mutation, { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (a, muts, cuts) => {
          let text = a.echo ? `${COMMAND}\r` : '';
          for (const it of a.items) text += `\r\n${it.l}${a.ending}`;
          text += `\r\n${a.final.line}${a.ending}`;
          let bytes = Buffer.from(text, 'latin1');
          for (const m of muts) {
            const at = m.at % (bytes.length + 1);
            if (m.kind === 'insert') bytes = Buffer.concat([bytes.subarray(0, at), m.bytes, bytes.subarray(at)]);
            else if (m.kind === 'delete')
              bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.bytes.length + 1)]);
            else bytes = bytes.subarray(0, at);
          }
          const { engine, timers } = run(cutAt(bytes, cuts), a.sync);
          let outcome: { ok?: boolean; err?: unknown } | undefined;
          engine.command(COMMAND, { timeoutMs: 1000 }).then(
            () => (outcome = { ok: true }),
            (err: unknown) => (outcome = { err }),
          );
          await settle();
          if (!outcome) {
            timers.fireAll(); // the command's timeout: it must end now
            await settle();
          }
          expect(outcome, 'settled after its timeout at the latest').toBeDefined();
          if (outcome!.err !== undefined) {
            expect(outcome!.err).toBeInstanceOf(HarnessError);
            expect((outcome!.err as HarnessError).code).toMatch(
              /^BXHIL_(AT_ERROR|CME|AT_TIMEOUT|AT_RESET|AT_PROTOCOL)$/,
            );
          }
          await engine.close();
          expect(timers.pending.size).toBe(0);
        },
      ),
      { numRuns: 6000 },
    );
    expect(unhandled).toBe(0);
  }, 60_000);
});
