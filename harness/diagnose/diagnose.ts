/**
 * Evidence -> verdict, from both sides: the broker rig's connection records and, when present,
 * the module's AT transcript (events `{source: 'at', kind: 'urc'|'command'|'line'|'final'}`).
 * The broker's evidence decides the code (it knows why the handshake ended); the module's lines
 * are added as evidence, explain what the module saw, and decide the cases the broker cannot see
 * (the module never reached it; the module reports its key does not match its certificate).
 */
import { parseParams, type AtParam } from '../at/index.ts';
import { KMQTT_IND, toMqttInd, type MqttInd } from '../bx310x/index.ts';
import type { EvidenceEvent } from '../evidence.ts';
import type { ConnectionRecord, Verdict, VerdictCode } from './record.ts';
import { judgeRecord, VERDICT_FIX } from './verdict.ts';

const IND_PREFIX = '+KMQTT_IND:';

/**
 * The `+KMQTT_IND` a module event reports, with its meaning from the driver's one table. The AT
 * engine's URC events carry the parsed URC (`data.name`, `data.params`), which is read as is;
 * events that carry only the line (the virtual module's own URC events, a line given as text)
 * are read with the AT layer's parameter parser.
 */
function mqttIndOf(summary: string, data?: Record<string, unknown>): MqttInd | undefined {
  const line = summary.trim();
  if (data?.['name'] === '+KMQTT_IND' && Array.isArray(data['params'])) {
    return toMqttInd({ name: '+KMQTT_IND', params: data['params'] as AtParam[], line, seq: 0, t: 0 });
  }
  const at = line.indexOf(IND_PREFIX);
  if (at < 0) return undefined;
  const params = parseParams(line.slice(at + IND_PREFIX.length).trim());
  return toMqttInd({ name: '+KMQTT_IND', params, line, seq: 0, t: 0 });
}

/** The module reported the MQTT connection aborted (`+KMQTT_IND: <id>,0`). */
const reportsAborted = (e: EvidenceEvent): boolean => mqttIndOf(e.summary, e.data)?.code === KMQTT_IND.ABORTED;

export interface DiagnoseOptions {
  /** Module lines this long before the accept and after the end count for a connection. Default 15000 (15 s). */
  windowMs?: number;
  /** The transport was TLS (default true). */
  tlsExpected?: boolean;
}

/**
 * Explain one module line in words, e.g. `+KMQTT_IND: 1,0` -> "... connection aborted ...".
 * `data` is the event's structured detail; when it holds the parsed URC, that is what is read.
 */
export function explainModuleLine(summary: string, data?: Record<string, unknown>): string {
  const ind = mqttIndOf(summary, data);
  if (ind) return `${summary.trim()} (session ${ind.sessionId}: ${ind.meaning})`;
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
    (e) => `module (${e.t - t0 >= 0 ? '+' : ''}${Math.round(e.t - t0)} ms): ${explainModuleLine(e.summary, e.data)}`,
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
  const aborted = lines.find(reportsAborted);
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
      (e) => isModuleEvent(e) && (/AT\+KMQTTCNX|AT\+KTCPCNX/i.test(e.summary) || reportsAborted(e)),
    );
    if (tried.length > 0) {
      out.push(
        make(
          'BROKER_NOT_REACHED',
          'The module tried to connect, but no connection reached the broker at all (not even TCP).',
          tried.map((e) => `module: ${explainModuleLine(e.summary, e.data)}`),
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
