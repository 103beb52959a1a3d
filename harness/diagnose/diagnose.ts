/**
 * Evidence -> verdict, from both sides: the broker rig's connection records and, when present,
 * the module's AT transcript (events `{source: 'at', kind: 'urc'|'command'|'line'|'final'}`).
 * The broker's evidence decides the code (it knows why the handshake ended); the module's lines
 * are added as evidence, explain what the module saw, and decide the cases the broker cannot see
 * (the module never reached it; the module reports its key does not match its certificate).
 */
import type { EvidenceEvent } from '../evidence.ts';
import { judgeRecord, VERDICT_FIX } from '../broker/verdict.ts';
import type { ConnectionRecord, Verdict, VerdictCode } from '../broker/types.ts';

/** +KMQTT_IND codes ([BX-L]/[HL-Z] bx310x-at.md §6.7). */
const KMQTT_IND: Record<string, string> = {
  '0': 'connection aborted',
  '1': 'connected',
  '2': 'subscribed',
  '3': 'unsubscribed',
  '4': 'published',
};

export interface DiagnoseOptions {
  /** Module lines this long before the accept and after the end count for a connection. Default 15000 (15 s). */
  windowMs?: number;
  /** The transport was TLS (default true). */
  tlsExpected?: boolean;
}

/** Explain one module line in words, e.g. `+KMQTT_IND: 1,0` -> "connection aborted". */
export function explainModuleLine(summary: string): string {
  const ind = /\+KMQTT_IND:\s*(\d+),(\d+)/.exec(summary);
  if (ind) return `${summary.trim()} (session ${ind[1]}: ${KMQTT_IND[ind[2]!] ?? `code ${ind[2]}`})`;
  return summary.trim();
}

function isModuleEvent(e: EvidenceEvent): boolean {
  return e.source === 'at' || e.source === 'driver' || e.source === 'sim';
}

/** Module events relevant to a connection attempt (by time window). */
function moduleLinesFor(record: ConnectionRecord, moduleEvents: EvidenceEvent[], windowMs: number): EvidenceEvent[] {
  const start = record.events[0]?.t ?? -Infinity;
  const end = record.end?.t ?? record.events.at(-1)?.t ?? Infinity;
  return moduleEvents.filter(
    (e) =>
      isModuleEvent(e) &&
      e.t >= start - windowMs &&
      e.t <= end + windowMs &&
      /KMQTT|KTCP|KHTTP|CME ERROR|KCNX|KSSL|ERROR|key/i.test(e.summary),
  );
}

const KEY_MISMATCH_LINE =
  /key values mismatch|private key does not match|key does not match the certificate|KEY_MISMATCH/i;

function make(code: VerdictCode, summary: string, evidence: string[], connectionId?: string): Verdict {
  const f = VERDICT_FIX[code];
  const v: Verdict = { code, summary, evidence, fix: f.fix };
  if (f.side) v.side = f.side;
  if (connectionId) v.connectionId = connectionId;
  return v;
}

/** One verdict for one connection attempt, from the broker record and the module's lines. */
export function diagnoseConnection(
  record: ConnectionRecord,
  moduleEvents: EvidenceEvent[] = [],
  options: DiagnoseOptions = {},
): Verdict {
  const base =
    judgeRecord(record, { final: true, tlsExpected: options.tlsExpected ?? true }) ??
    make(
      'UNKNOWN',
      'The evidence does not decide what happened.',
      record.events.map((e) => `${record.id}: ${e.summary}`),
      record.id,
    );
  const lines = moduleLinesFor(record, moduleEvents, options.windowMs ?? 15_000);
  if (lines.length === 0) return base;
  const t0 = record.events[0]?.t ?? 0;
  const moduleEvidence = lines.map(
    (e) => `module (${e.t - t0 >= 0 ? '+' : ''}${Math.round(e.t - t0)} ms): ${explainModuleLine(e.summary)}`,
  );
  const v: Verdict = { ...base, evidence: [...base.evidence, ...moduleEvidence] };
  const mismatch = lines.find((e) => KEY_MISMATCH_LINE.test(e.summary));
  if (
    mismatch &&
    (base.code === 'NO_CLIENT_CERT' ||
      base.code === 'HANDSHAKE_ABORTED' ||
      base.code === 'UNKNOWN' ||
      base.code === 'KEY_MISMATCH')
  ) {
    return {
      ...make(
        'KEY_MISMATCH',
        'The module reports that its private key does not match its certificate, so it could not authenticate to the broker.',
        v.evidence,
        record.id,
      ),
    };
  }
  const aborted = lines.find((e) => /\+KMQTT_IND:\s*\d+,0/.test(e.summary));
  if (aborted && base.code === 'HANDSHAKE_THEN_SILENT' && record.end?.by === 'client') {
    // The broker alone cannot tell why a device hung up after a good handshake; the module's
    // "connection aborted" decides it. Stacks that check the server certificate after the
    // handshake (host name, dates against the module's own clock; Node, some mbedTLS ports)
    // send no alert, so this is how a refused server certificate looks on the wire.
    return make(
      'DEVICE_REJECTED_SERVER_CERT',
      `The TLS handshake completed${record.tls?.version ? ` (${record.tls.version})` : ''}, then the module closed the connection without sending MQTT CONNECT and reported "${aborted.summary.trim()}" (connection aborted). The module rejected the server: most likely its certificate (a root the module does not trust, another host name, or dates outside the module's clock).`,
      v.evidence,
      record.id,
    );
  }
  if (aborted) {
    const tls13 = record.tls?.version === 'TLSv1.3';
    const certRefusal = [
      'NO_CLIENT_CERT',
      'CLIENT_CERT_UNTRUSTED',
      'CLIENT_CERT_EXPIRED',
      'CLIENT_CERT_NOT_YET_VALID',
      'CLIENT_CERT_NOT_ACTIVE',
    ].includes(base.code);
    v.summary +=
      ` The module only reported "${aborted.summary.trim()}" (connection aborted)` +
      (tls13 && certRefusal
        ? '; over TLS 1.3 a module learns of a refused certificate only after it sent CONNECT, so its log looks like "handshake OK, then dropped".'
        : '.');
  }
  return v;
}

/**
 * One verdict per connection attempt. When the module tried to connect (AT+KMQTTCNX or a
 * +KMQTT_IND: n,0) but the broker recorded nothing, one BROKER_NOT_REACHED verdict.
 */
export function diagnose(
  records: ConnectionRecord[],
  moduleEvents: EvidenceEvent[] = [],
  options: DiagnoseOptions = {},
): Verdict[] {
  const out = records.map((r) => diagnoseConnection(r, moduleEvents, options));
  if (records.length === 0) {
    const tried = moduleEvents.filter(
      (e) => isModuleEvent(e) && /AT\+KMQTTCNX|\+KMQTT_IND:\s*\d+,0|AT\+KTCPCNX/i.test(e.summary),
    );
    if (tried.length > 0) {
      out.push(
        make(
          'BROKER_NOT_REACHED',
          'The module tried to connect, but no connection reached the broker at all (not even TCP).',
          tried.map((e) => `module: ${explainModuleLine(e.summary)}`),
        ),
      );
    }
  }
  return out;
}

/** One line per verdict, for the CLI and logs. */
export function formatVerdict(v: Verdict): string {
  return `${v.connectionId ?? '-'} ${v.code}: ${v.summary} -> ${v.fix}`;
}
