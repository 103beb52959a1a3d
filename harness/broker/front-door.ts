/**
 * The aedes rig's front door: what happens between TCP accept and the socket reaching Node's
 * TLS stack (or, for `plain`, the MQTT tap). It bounds a silent connection, applies the
 * connection faults, reads the first bytes (TLS? plain MQTT? HTTP?), buffers and parses the
 * ClientHello, checks the profile's accept rules on it (accept-rules.ts) and hands the socket,
 * its bytes put back, to the `tls.Server` of its listener.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import type { EvidenceSource } from '../evidence.ts';
import { firstRefusal, helloRules, type Refusal } from './accept-rules.ts';
import { classifyFirstBytes, clientHelloBytesNeeded, parseClientHello } from './client-hello.ts';
import type { MqttTap } from './mqtt-tap.ts';
import type { ParsedRigOptions } from './rig-options.ts';
import type { ConnectionRecord, EndedBy } from './types.ts';

/** A ClientHello larger than this is not waited for (a real one is < 2 KB; 16 KB record max). */
const HELLO_MAX_BYTES = 20_000;

/** One open connection: its record and what the rig needs until it ends. */
export interface LiveConnection {
  rec: ConnectionRecord;
  raw: net.Socket;
  timers: NodeJS.Timeout[];
  pendingEnd?: { by: EndedBy; reason: string };
  connackSent: boolean;
  packetCount: number;
  tap?: MqttTap;
}

/** What the front door needs of the rig. */
export interface FrontDoorHost {
  readonly opts: ParsedRigOptions;
  record(
    rec: ConnectionRecord,
    source: EvidenceSource,
    kind: string,
    summary: string,
    data?: Record<string, unknown>,
  ): void;
  judge(rec: ConnectionRecord): void;
  /** Record a rule's refusal (naming the rule in the evidence), judge, close with `endReason`. */
  refuse(live: LiveConnection, refusal: Refusal, endReason: string, sock?: net.Socket): void;
  endByRig(live: LiveConnection, reason: string, sock?: net.Socket): void;
  startMqtt(live: LiveConnection, sock: net.Socket): void;
  tlsServer(listener: ConnectionRecord['listener']): tls.Server | undefined;
}

/** Take an accepted connection from its first byte to the TLS server (or MQTT for `plain`). */
export function admit(live: LiveConnection, host: FrontDoorHost): void {
  const { rec, raw } = live;
  const opts = host.opts;
  const f = opts.faults;
  const silentTimer = setTimeout(() => {
    if (rec.mqtt.connect) return;
    const what =
      rec.firstBytes === undefined
        ? 'no bytes'
        : rec.tls?.version
          ? 'no MQTT CONNECT after the handshake'
          : 'no completed handshake';
    host.endByRig(live, `${what} within ${opts.connectTimeoutMs} ms`);
  }, opts.connectTimeoutMs);
  live.timers.push(silentTimer);
  if (f.closeAfterMs !== undefined) {
    rec.faults.push(`close after ${f.closeAfterMs} ms`);
    live.timers.push(setTimeout(() => host.endByRig(live, `fault: close after ${f.closeAfterMs} ms`), f.closeAfterMs));
  }
  if (f.plainAnswer !== undefined) {
    rec.faults.push('plain answer on the TLS port');
    host.record(
      rec,
      'broker',
      'fault',
      `fault: answering ${Buffer.byteLength(f.plainAnswer)} plain bytes instead of TLS`,
    );
    live.pendingEnd = { by: 'rig', reason: 'fault: plain answer then close' };
    raw.end(f.plainAnswer);
    return;
  }
  if (!opts.tls.enabled) {
    host.startMqtt(live, raw);
    return;
  }
  let buf = Buffer.alloc(0);
  let done = false;
  const proceed = (): void => {
    if (done) return;
    done = true;
    clearTimeout(helloTimer);
    raw.removeListener('data', onData);
    raw.pause();
    afterHello(live, buf, host);
  };
  const onData = (chunk: Buffer): void => {
    buf = Buffer.concat([buf, chunk]);
    if (rec.firstBytes === undefined) {
      rec.firstBytes = classifyFirstBytes(buf);
      host.record(rec, 'tls', 'first-bytes', `first bytes: ${rec.firstBytes} (${buf.subarray(0, 5).toString('hex')})`);
      if (rec.firstBytes !== 'tls') {
        done = true;
        clearTimeout(helloTimer);
        raw.removeListener('data', onData);
        host.judge(rec);
        host.endByRig(live, `not TLS: ${rec.firstBytes} bytes on the TLS port`);
        return;
      }
    }
    const need = clientHelloBytesNeeded(buf);
    if (need !== 0 || buf.length > HELLO_MAX_BYTES) proceed();
  };
  const helloTimer = setTimeout(proceed, opts.clientHelloTimeoutMs);
  live.timers.push(helloTimer);
  raw.on('data', onData);
}

/** The ClientHello is in (or its wait is over): record it, check the rules, hand over. */
function afterHello(live: LiveConnection, buf: Buffer, host: FrontDoorHost): void {
  const { rec, raw } = live;
  const hello = parseClientHello(buf);
  if (hello) {
    rec.clientHello = hello;
    host.record(
      rec,
      'tls',
      'client-hello',
      `ClientHello: ${hello.supportedVersions.join('/')}, SNI ${hello.sni ?? '(none)'}, ALPN ${hello.alpn?.join(',') ?? '(none)'}, ${hello.cipherSuites.length} suites` +
        (hello.maxFragmentLength ? `, max_fragment_length ${hello.maxFragmentLength}` : ''),
      { clientHello: hello },
    );
  } else {
    host.record(rec, 'tls', 'client-hello', `no complete ClientHello in the first ${buf.length} bytes`);
  }
  const refusal = firstRefusal(helloRules, {
    profile: host.opts.profile,
    aws: host.opts.aws,
    listener: rec.listener,
    hello,
  });
  if (refusal) {
    host.refuse(live, refusal, `refused: ${refusal.reason}`);
    return;
  }
  const stall = host.opts.faults.stallHandshakeMs ?? 0;
  const handover = (): void => {
    if (raw.destroyed) return;
    raw.unshift(buf);
    host.tlsServer(rec.listener)?.emit('connection', raw);
  };
  if (stall > 0) {
    const held = stall === Infinity ? 'forever' : `${stall} ms`;
    rec.faults.push(`stall handshake ${held}`);
    host.record(rec, 'broker', 'fault', `fault: holding the handshake ${held}`);
    if (stall !== Infinity) live.timers.push(setTimeout(handover, stall));
    return;
  }
  handover();
}
