/**
 * What a test opened and did not close, by name: the listening servers, connections and UDP
 * sockets created while the test ran and still open after every fixture has cleaned up (the
 * rigs the fixtures started are closed by then, and so are the virtual module's connections to
 * them). Each is named by its address and, where the test file is on the stack that opened it,
 * its line: `a server listening on 127.0.0.1:41234`, `a connection 127.0.0.1:50122 ->
 * 127.0.0.1:41234, opened at example.test.ts:12`.
 *
 * Node has no public "what is open" API that names things (`getActiveResourcesInfo()` gives
 * only type names): an `async_hooks` `init` hook, enabled only while a test runs, sees each
 * TCP/UDP handle created; one is still open when its `getsockname` succeeds (a closed handle
 * answers EBADF at once). No `destroy` hook: it makes Node track every promise's collection,
 * about ten times slower on promise-heavy code, where `init` alone costs about two (measured
 * on a loop of awaits). What the fixtures open for the test is theirs, not the test's: the suite
 * session opens the device link on a file's first test (a `tcp://` device is a connection the
 * test did not open) inside `unwatched()`, and recording stops before the device fixture cleans
 * up, so a link the session reopens for the next test is not counted either.
 */
import { createHook } from 'node:async_hooks';
import { basename } from 'node:path';

/** The handle types a test can leave open and a reader can name. */
const TRACKED = new Set(['TCPSERVERWRAP', 'TCPWRAP', 'UDPWRAP', 'PIPESERVERWRAP']);
/** Deep enough to reach the test's frame from inside net/tls/aedes (the default 10 is not). */
const STACK_DEPTH = 60;

interface Opened {
  type: string;
  /** The native handle: getsockname/getpeername read its addresses. */
  handle: {
    getsockname?(out: Record<string, unknown>): number;
    getpeername?(out: Record<string, unknown>): number;
  };
  /** `file.test.ts:12`: where in the test file it was opened, when the test file is on the stack. */
  site: string | undefined;
}

/** A running watch over one test: `open()` lists what is still open, by name. */
export interface LeakWatch {
  /** What the test opened and has not closed yet, each in words. */
  open(): string[];
  /** Stop recording new handles (closes are still seen): the fixtures' own cleanup starts. */
  pause(): void;
  stop(): void;
}

function address(h: Opened['handle'], which: 'getsockname' | 'getpeername'): string | undefined {
  const out: Record<string, unknown> = {};
  try {
    if (h[which]?.(out) !== 0 || out.port === undefined) return undefined;
  } catch {
    return undefined; // already closing
  }
  const host = String(out.address);
  return `${host.includes(':') ? `[${host}]` : host}:${String(out.port)}`;
}

function describe(o: Opened): string {
  const local = address(o.handle, 'getsockname');
  const what =
    o.type === 'TCPSERVERWRAP' || o.type === 'PIPESERVERWRAP'
      ? `a server listening on ${local ?? '(not bound)'}`
      : o.type === 'UDPWRAP'
        ? `a UDP socket on ${local ?? '(not bound)'}`
        : `a connection ${local ?? '?'} -> ${address(o.handle, 'getpeername') ?? '?'}`;
  return o.site ? `${what}, opened at ${o.site}` : what;
}

/** The first frame of `stack` in `testFile`, as `name:line`; undefined when the test file is not on it. */
export function siteIn(stack: string, testFile: string): string | undefined {
  for (const line of stack.split('\n')) {
    const i = line.indexOf(testFile);
    if (i < 0) continue;
    const m = /:(\d+):\d+\)?\s*$/.exec(line.slice(i + testFile.length));
    return `${basename(testFile)}${m ? `:${m[1]}` : ''}`;
  }
  return undefined;
}

/** Depth of `unwatched()` calls in progress: handles created meanwhile belong to the fixtures. */
let unwatchedDepth = 0;

/**
 * Run `fn` (a fixture bringing up what the test did not open: the suite session, its device link)
 * without recording the handles it creates. Process-wide: tests of one file run one at a time.
 */
export async function unwatched<T>(fn: () => Promise<T> | T): Promise<T> {
  unwatchedDepth++;
  try {
    return await fn();
  } finally {
    unwatchedDepth--;
  }
}

/** Start watching the handles created from now on; `testFile` (an absolute path) names their lines. */
export function watchLeaks(testFile: string): LeakWatch {
  const opened: Opened[] = [];
  let recording = true;
  const hook = createHook({
    init(_asyncId, type, _trigger, resource) {
      if (!recording || unwatchedDepth > 0 || !TRACKED.has(type)) return;
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = STACK_DEPTH;
      const stack = new Error().stack ?? '';
      Error.stackTraceLimit = limit;
      opened.push({ type, handle: resource as Opened['handle'], site: siteIn(stack, testFile) });
    },
  });
  hook.enable();
  return {
    open: () => opened.filter((o) => address(o.handle, 'getsockname') !== undefined).map(describe),
    pause: () => void (recording = false),
    stop: () => {
      hook.disable();
      opened.length = 0; // let the handles go
    },
  };
}
