/**
 * One test's evidence, collected from the file's bus while the test runs and written as a
 * bundle (harness/report/bundle.ts) to `$BX_HIL_EVIDENCE_DIR/<safe test id>/` when the variable
 * is set (`bx-hil run` sets it): the AT transcript, the events of both sides, the rigs'
 * verdicts, the certificates used and, under `--keylog`, the TLS key log.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BrokerRig, Verdict } from '../broker/index.ts';
import { HarnessError } from '../errors.ts';
import type { EvidenceBus, EvidenceEvent } from '../evidence.ts';
import { writeEvidenceBundle } from '../report/index.ts';
import type { Timing } from '../timing.ts';
import { certsOf, computeFloor, keyKindOf, OBSERVED_WAIT_EVENT } from './floor.ts';
import { heartbeatWriter } from './heartbeat.ts';
import { safeTestDir, SUITE_ENV, type SuiteTestMeta } from './meta.ts';

/** Per-test evidence collector (the `evidence` fixture). */
export interface TestEvidence {
  readonly id: string;
  readonly events: EvidenceEvent[];
  /** Record a certificate (public PEM) used by the test; private keys are redacted on write. */
  cert(name: string, pem: string): void;
  /** Set what the test waits on now (shown by `bx-hil run` during long waits). */
  waiting(what: string | undefined): void;
  /** Note a fact for the bundle's meta.json. */
  note(key: string, value: unknown): void;
  /** Rigs started by the test: their verdicts go into the bundle. */
  addRig(rig: BrokerRig): void;
  /**
   * State a wait the test exists to observe (a quiet window, a timeout the module must reach):
   * it is part of the test's physical floor (harness/run/floor.ts), as an `observed-wait` event.
   */
  observe(what: string, ms: number): void;
}

/** What a test's physical floor is computed against: the module's timing and its own upload guard time. */
export interface FloorBasis {
  readonly timing: Timing;
  readonly uploadGuardMs: number;
}

/** Render AT events as a readable transcript (`+0.123 > AT+CGMR`). */
export function transcriptOf(events: ReadonlyArray<EvidenceEvent>): string {
  const at = events.filter((e) => e.source === 'at');
  const t0 = events[0]?.t ?? 0;
  const arrow: Record<string, string> = {
    command: '>',
    data: '>',
    line: '<',
    final: '<',
    urc: '<',
    timeout: '!',
    reset: '!',
    garbage: '?',
    resync: '!',
  };
  return (
    at.map((e) => `+${((e.t - t0) / 1000).toFixed(3)} ${arrow[e.kind] ?? ' '} ${e.summary}`).join('\n') +
    (at.length ? '\n' : '')
  );
}

/**
 * The module sent back stored key material during the test (the AT engine's `secret-echo`
 * events, harness/secrets.ts): a SECURITY FAILURE even when the test itself passed.
 */
export function secretEchoFinding(meta: SuiteTestMeta, events: ReadonlyArray<EvidenceEvent>): void {
  const echoes = events.filter((e) => e.source === 'at' && e.kind === 'secret-echo').length;
  if (echoes === 0) return;
  meta.securityFailure = true;
  throw new HarnessError(
    'BXHIL_SECRET_ECHO',
    `SECURITY FAILURE: the module echoed stored key material (${echoes} line${echoes === 1 ? '' : 's'}, redacted; the secret-echo events of the evidence say where)`,
  );
}

/** The key logs of a test's rigs, read (only under `--keylog`) and removed: only the bundle keeps one (mode 0600). */
function takeKeylogs(rigs: ReadonlyArray<BrokerRig>, keep: boolean): string | undefined {
  const paths = rigs.map((r) => r.keylogPath).filter((p): p is string => !!p);
  const text = keep
    ? paths
        .map((p) => {
          try {
            return readFileSync(p, 'utf8');
          } catch {
            return ''; // a rig that never saw a handshake wrote no key log
          }
        })
        .join('')
    : undefined;
  for (const p of paths) rmSync(p, { force: true });
  return text;
}

/**
 * Start collecting a test's evidence from `bus`; `finish()` stops, writes the bundle (when
 * `$BX_HIL_EVIDENCE_DIR` is set) and throws the secret-echo finding, if any.
 */
export function collectTestEvidence(
  bus: EvidenceBus,
  test: {
    id: string;
    meta: SuiteTestMeta;
    device: { uri: string; firmware: string; model: string };
    /** When given, the test's physical floor and what it took are recorded in `meta.floor`. */
    floor?: FloorBasis;
  },
  env: NodeJS.ProcessEnv = process.env,
): { evidence: TestEvidence; finish(): Promise<void> } {
  const { id, meta } = test;
  const t0 = bus.clock.now();
  const events: EvidenceEvent[] = [];
  const certs: { name: string; pem: string }[] = [];
  const notes: Record<string, unknown> = {};
  const rigs: BrokerRig[] = [];
  const beat = heartbeatWriter(id);
  const unsubscribe = bus.subscribe((e) => {
    events.push(e);
    if (e.source === 'at' && e.kind === 'command') beat.command(e.summary);
    else if (e.source === 'at' && (e.kind === 'final' || e.kind === 'timeout')) beat.command(undefined);
  });
  meta.firmware = test.device.firmware;
  meta.model = test.device.model;
  const evidence: TestEvidence = {
    id,
    events,
    cert: (name, pem) => void certs.push({ name, pem }),
    waiting: (what) => beat.explicit(what),
    note: (key, value) => void (notes[key] = value),
    addRig: (rig) => void rigs.push(rig),
    observe: (what, ms) =>
      void bus.emit({
        source: 'suite',
        kind: OBSERVED_WAIT_EVENT,
        summary: `observed wait: ${what} (${ms} ms)`,
        data: { ms },
      }),
  };
  async function finish(): Promise<void> {
    unsubscribe();
    if (test.floor) {
      const actualMs = Math.round(bus.clock.now() - t0);
      // The module's own key kind, from the client certificate the test stored (for the mutual-TLS signature).
      const client = certs.filter((c) => c.name === 'client-stored').pop();
      const clientCert = client ? certsOf(client.pem)[0] : undefined;
      const f = computeFloor({
        events,
        timing: test.floor.timing,
        uploadGuardMs: test.floor.uploadGuardMs,
        ...(clientCert ? { clientKeyKind: keyKindOf(clientCert) } : {}),
      });
      meta.floor = { floorMs: f.floorMs, actualMs, parts: { ...f.parts } };
    }
    beat.command(undefined);
    beat.explicit(undefined);
    const root = env[SUITE_ENV.evidenceDir];
    if (!root) return secretEchoFinding(meta, events);
    const dirName = safeTestDir(id);
    const verdicts: Verdict[] = rigs.flatMap((r) => r.verdicts);
    const keylog = takeKeylogs(rigs, env[SUITE_ENV.keylog] === '1');
    await writeEvidenceBundle(join(root, dirName), {
      events,
      transcriptText: transcriptOf(events),
      verdicts,
      certs,
      meta: {
        test: id,
        device: test.device.uri,
        firmware: test.device.firmware,
        model: test.device.model,
        ...meta,
        ...notes,
      },
      ...(keylog !== undefined ? { keylog } : {}),
    });
    meta.evidenceDir = join('evidence', dirName);
    secretEchoFinding(meta, events);
  }
  return { evidence, finish };
}
