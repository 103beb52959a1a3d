/**
 * What a TLS handshake left behind, as the connection record keeps it (`TlsOutcome`) and as
 * the evidence says it: a finished handshake read off the `TLSSocket`, or a failed one read off
 * Node's `tlsClientError` (with the alert involved, and who sent it).
 */
import type tls from 'node:tls';
import { tlsServername } from './internals.ts';
import type { TlsOutcome } from './types.ts';
import { alertFromError } from './client-hello.ts';

/** One evidence event to emit on the connection (source `tls`). */
export interface TlsEvidence {
  kind: 'tls-outcome' | 'peer-cert' | 'tls-error' | 'alert';
  summary: string;
  data?: Record<string, unknown>;
}

/** The outcome of a finished handshake and its evidence. `requestCert`: the rig asked for a client certificate. */
export function secureOutcome(
  sock: tls.TLSSocket,
  requestCert: boolean,
): { outcome: TlsOutcome; events: TlsEvidence[] } {
  const cipher = sock.getCipher();
  const peer = sock.getPeerX509Certificate();
  const outcome: TlsOutcome = {
    version: sock.getProtocol() ?? undefined,
    cipher: cipher.standardName ?? cipher.name,
    authorized: sock.authorized,
  };
  if (sock.authorizationError) outcome.authorizationError = String(sock.authorizationError);
  if (sock.alpnProtocol) outcome.alpn = sock.alpnProtocol;
  const servername = tlsServername(sock);
  if (servername) outcome.sni = servername;
  if (peer) {
    outcome.peerCert = {
      subject: peer.subject.replace(/\n/g, ', '),
      issuer: peer.issuer.replace(/\n/g, ', '),
      fingerprint256: peer.fingerprint256,
      validFrom: peer.validFrom,
      validTo: peer.validTo,
    };
  }
  const events: TlsEvidence[] = [
    {
      kind: 'tls-outcome',
      summary:
        `handshake done: ${outcome.version} ${outcome.cipher}` +
        (requestCert
          ? `, client certificate ${peer ? `"${outcome.peerCert?.subject}"` : 'none'}: ${outcome.authorized ? 'trusted' : (outcome.authorizationError ?? 'not trusted')}`
          : ''),
      data: { tls: outcome },
    },
  ];
  if (peer)
    events.push({
      kind: 'peer-cert',
      summary: `peer certificate ${outcome.peerCert?.subject}, issuer ${outcome.peerCert?.issuer}, valid ${peer.validFrom} .. ${peer.validTo}, sha256 ${peer.fingerprint256}`,
    });
  return { outcome, events };
}

/** The outcome of a failed handshake (Node's `tlsClientError`) and its evidence. */
export function failedOutcome(err: Error & { code?: string }): { outcome: TlsOutcome; events: TlsEvidence[] } {
  const code = err.code ?? 'UNKNOWN';
  const outcome: TlsOutcome = { authorized: false, error: { code, message: err.message } };
  const alert = alertFromError(code, err.message);
  if (alert) outcome.alert = { name: alert, from: 'client' };
  else if (/no.shared.cipher/i.test(err.message)) outcome.alert = { name: 'handshake_failure', from: 'server' };
  else if (/unsupported.protocol|version too low/i.test(err.message))
    outcome.alert = { name: 'protocol_version', from: 'server' };
  const alertText = outcome.alert
    ? `alert ${outcome.alert.name} from the ${outcome.alert.from === 'client' ? 'device' : 'rig'}`
    : undefined;
  const events: TlsEvidence[] = [
    {
      kind: 'tls-error',
      summary: `handshake failed: ${code}: ${err.message}${alertText ? ` (${alertText})` : ''}`,
      data: { error: outcome.error },
    },
  ];
  if (alertText) events.push({ kind: 'alert', summary: alertText });
  return { outcome, events };
}
