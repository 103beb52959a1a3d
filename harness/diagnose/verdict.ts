/**
 * Record -> verdict, on the broker's evidence alone. The broker rig records and calls
 * `judgeRecord` after every event so a verdict is given as soon as the evidence decides it (the
 * alert, the refusal, the CONNACK), not when a timeout expires; `final: true` is passed when the
 * connection has ended and undecided records must be judged on what there is. `diagnose.ts`
 * builds on this and adds the module's side (AT transcript).
 */
import type { ConnectionRecord, Verdict, VerdictCode } from './record.ts';

/** What to change, per code (docs/broker.md has the same table). */
export const VERDICT_FIX: Record<VerdictCode, { fix: string; side: Verdict['side'] }> = {
  OK: { fix: 'nothing: the device connected and the broker accepted it', side: undefined },
  NO_CLIENT_CERT: {
    fix: 'store the device certificate and key on the module (AT+KCERTSTORE=1 / AT+KPRIVKSTORE=0) and select them in the TLS profile',
    side: 'device',
  },
  CLIENT_CERT_UNTRUSTED: {
    fix: 'use a device certificate issued by the CA the broker trusts (or register/trust its CA on the broker), and send the intermediate CA with it when there is one',
    side: 'both',
  },
  CLIENT_CERT_EXPIRED: {
    fix: 'issue a new device certificate whose validity covers today, and store it on the module',
    side: 'device',
  },
  CLIENT_CERT_NOT_YET_VALID: {
    fix: "the device certificate's notBefore is in the future for the broker: issue it with a validity that started already, or fix the broker clock",
    side: 'both',
  },
  CLIENT_CERT_NOT_ACTIVE: {
    fix: 'register the device certificate and set its status to ACTIVE (AWS IoT: UpdateCertificate), then reconnect',
    side: 'broker',
  },
  DEVICE_REJECTED_SERVER_CERT: {
    fix: "store the CA that issued the broker's certificate on the module (AT+KCERTSTORE=0), check the module clock, and connect with the host name the server certificate names",
    side: 'device',
  },
  KEY_MISMATCH: {
    fix: 'the private key stored on the module does not belong to the device certificate: store the key that was generated with this certificate',
    side: 'device',
  },
  NO_SNI: {
    fix: 'configure the module to connect by host name (not IP) so it sends SNI, or relax the broker SNI rule',
    side: 'device',
  },
  SNI_MISMATCH: {
    fix: 'connect with the exact endpoint host name the broker expects (the SNI must equal it)',
    side: 'device',
  },
  NO_ALPN: {
    fix: 'on the 443-style port the device must offer ALPN x-amzn-mqtt-ca; or connect to port 8883 instead',
    side: 'device',
  },
  TLS_VERSION_MISMATCH: {
    fix: "enable TLS 1.2 (or 1.3) on the module, or widen the broker's TLS version range for this test",
    side: 'both',
  },
  NO_SHARED_CIPHER: {
    fix: "enable a cipher suite the broker accepts on the module (e.g. ECDHE-ECDSA-AES128-GCM-SHA256 for an EC server key), or match the server key type to the module's suites",
    side: 'both',
  },
  PLAINTEXT_ON_TLS_PORT: {
    fix: 'the device sent plain MQTT/HTTP to the TLS port: enable TLS in the module session (or use the plain port)',
    side: 'device',
  },
  NEVER_SPOKE: {
    fix: 'the device opened TCP but sent nothing: check that TLS is enabled on the module and the port is right, and look at the module transcript for an error before the handshake',
    side: 'device',
  },
  HANDSHAKE_THEN_SILENT: {
    fix: 'TLS succeeded but no MQTT CONNECT followed: check the MQTT session configuration on the module and look for a late TLS error in the module transcript',
    side: 'device',
  },
  HANDSHAKE_ABORTED: {
    fix: 'the device dropped the handshake without saying why: read the module transcript for its TLS error code',
    side: 'device',
  },
  CONNECT_REFUSED: {
    fix: 'the broker refused the CONNECT: check the client id, user name and authorisation rules named in the summary',
    side: 'both',
  },
  CONNACK_WITHHELD: {
    fix: 'the rig withheld CONNACK on purpose (fault injection): the device must time out and retry',
    side: 'broker',
  },
  POLICY_DISCONNECT: {
    fix: 'the broker closed the connection because a rule was broken (named in the summary): change what the device sends',
    side: 'device',
  },
  STALLED_BY_RIG: {
    fix: 'the rig stalled the handshake on purpose (fault injection): the device must time out',
    side: 'broker',
  },
  CLOSED_BY_RIG: {
    fix: 'the rig closed the connection on purpose (fault injection): the device must notice and reconnect',
    side: 'broker',
  },
  BROKER_NOT_REACHED: {
    fix: 'the module tried to connect but no TCP connection reached the broker: check the host name/IP and port in AT+KMQTTCFG, the Wi-Fi link and DNS, and any firewall between them',
    side: 'device',
  },
  UNKNOWN: {
    fix: 'read the evidence lines; if they do not explain it, capture with --keylog and look at the TLS key log with Wireshark',
    side: 'both',
  },
};

const CONNACK_V3: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
};

const line = (r: ConnectionRecord, s: string): string => `${r.id}: ${s}`;

function verdict(r: ConnectionRecord, code: VerdictCode, summary: string, evidence: string[]): Verdict {
  const f = VERDICT_FIX[code];
  const v: Verdict = { code, summary, evidence: evidence.map((e) => line(r, e)), fix: f.fix, connectionId: r.id };
  if (f.side) v.side = f.side;
  return v;
}

function helloLine(r: ConnectionRecord): string[] {
  const h = r.clientHello;
  if (!h) return [];
  return [
    `ClientHello: versions ${h.supportedVersions.join('/')}, ${h.cipherSuites.length} cipher suites, SNI ${h.sni ?? '(none)'}` +
      (h.alpn ? `, ALPN ${h.alpn.join(',')}` : ''),
  ];
}

const AUTH_ERR: Record<string, VerdictCode> = {
  CERT_HAS_EXPIRED: 'CLIENT_CERT_EXPIRED',
  CERT_NOT_YET_VALID: 'CLIENT_CERT_NOT_YET_VALID',
};

/**
 * Judge one record. Returns undefined while the evidence does not decide yet (unless `final`).
 * Order matters: the earliest decisive stage wins (front door, handshake, client cert, MQTT).
 */
export function judgeRecord(
  r: ConnectionRecord,
  opts: { final?: boolean; tlsExpected?: boolean } = {},
): Verdict | undefined {
  const final = opts.final ?? r.end !== undefined;
  const tlsExpected = opts.tlsExpected ?? true;
  const endLine = r.end ? [`connection ended by ${r.end.by}: ${r.end.reason}`] : [];

  if (tlsExpected && (r.firstBytes === 'mqtt' || r.firstBytes === 'http')) {
    return verdict(
      r,
      'PLAINTEXT_ON_TLS_PORT',
      `The device sent plain ${r.firstBytes === 'mqtt' ? 'MQTT (a CONNECT packet)' : 'HTTP'} to the TLS port instead of starting a TLS handshake.`,
      [`first bytes on the TLS port look like ${r.firstBytes.toUpperCase()}`, ...endLine],
    );
  }
  if (r.faults.some((f) => f.startsWith('stall')) && !r.tls && final) {
    return verdict(
      r,
      'STALLED_BY_RIG',
      'The rig held the handshake on purpose (fault injection) and the device gave up or was cut off.',
      [...r.faults, ...endLine],
    );
  }
  if (r.faults.includes('plain answer on the TLS port') && final) {
    return verdict(r, 'CLOSED_BY_RIG', 'The rig answered plain bytes instead of TLS and closed (fault injection).', [
      ...r.faults,
      ...endLine,
    ]);
  }
  if (r.refusal && r.refusal.at === 'front-door') {
    const code: VerdictCode =
      r.refusal.rule === 'sni-required'
        ? 'NO_SNI'
        : r.refusal.rule === 'sni-match'
          ? 'SNI_MISMATCH'
          : r.refusal.rule === 'alpn'
            ? 'NO_ALPN'
            : 'POLICY_DISCONNECT';
    return verdict(
      r,
      code,
      `The broker refused the connection before TLS: ${r.refusal.reason} (rule ${r.refusal.rule}, ${r.refusal.source}).`,
      [...helloLine(r), `refused: ${r.refusal.reason} [${r.refusal.source}]`],
    );
  }
  if (tlsExpected && r.firstBytes === undefined) {
    if (!final) return undefined;
    return verdict(
      r,
      'NEVER_SPOKE',
      'The device opened a TCP connection but never sent a single byte (no TLS ClientHello).',
      ['TCP accepted, no bytes received', ...endLine],
    );
  }
  if (tlsExpected && r.firstBytes === 'other') {
    return verdict(r, 'UNKNOWN', 'The first bytes on the TLS port were neither TLS, MQTT nor HTTP.', [
      'unrecognised first bytes',
      ...endLine,
    ]);
  }

  const tls = r.tls;
  if (tlsExpected && tls?.error) {
    const msg = `${tls.error.code} ${tls.error.message}`.toLowerCase();
    const alert = tls.alert?.name;
    const ev = [...helloLine(r), `TLS handshake failed: ${tls.error.code}: ${tls.error.message}`];
    if (
      /unsupported.protocol|protocol_version|protocol version|version too low|version too high|wrong ssl version/.test(
        msg,
      )
    ) {
      const offered = r.clientHello?.supportedVersions.join('/') ?? 'unknown';
      return verdict(
        r,
        'TLS_VERSION_MISMATCH',
        `The device and the broker have no TLS version in common: the device offered ${offered}.`,
        ev,
      );
    }
    if (/no.shared.cipher|no_shared_cipher|no suitable|no cipher/.test(msg)) {
      const offered = r.clientHello?.cipherSuites.slice(0, 6).join(', ') ?? 'unknown';
      return verdict(
        r,
        'NO_SHARED_CIPHER',
        `The device and the broker have no cipher suite in common; the device offered ${offered}.`,
        ev,
      );
    }
    if (/bad.signature|bad_signature|decrypt.error|digest.check.failed/.test(msg) && tls.alert?.from !== 'client') {
      return verdict(
        r,
        'KEY_MISMATCH',
        "The device's CertificateVerify failed: its private key does not match the certificate it sent.",
        ev,
      );
    }
    if (alert && tls.alert?.from === 'client') {
      if (alert === 'decrypt_error') {
        return verdict(
          r,
          'DEVICE_REJECTED_SERVER_CERT',
          "The device could not verify the broker's handshake signature (alert decrypt_error).",
          ev,
        );
      }
      const why: Record<string, string> = {
        unknown_ca: 'it does not trust the CA that issued the broker certificate (alert unknown_ca)',
        bad_certificate:
          'it found the broker certificate bad, e.g. a host name mismatch or weak signature (alert bad_certificate)',
        certificate_expired:
          'the broker certificate is expired or not yet valid by its clock (alert certificate_expired)',
        certificate_unknown: 'it could not accept the broker certificate (alert certificate_unknown)',
        unsupported_certificate: 'the broker certificate type is not supported by it (alert unsupported_certificate)',
        certificate_revoked: 'it considers the broker certificate revoked (alert certificate_revoked)',
      };
      if (why[alert])
        return verdict(
          r,
          'DEVICE_REJECTED_SERVER_CERT',
          `The device rejected the broker's certificate: ${why[alert]}.`,
          ev,
        );
      if (alert === 'handshake_failure' || alert === 'insufficient_security') {
        return verdict(
          r,
          'NO_SHARED_CIPHER',
          `The device ended the handshake with alert ${alert}: no acceptable parameters in common.`,
          ev,
        );
      }
      return verdict(r, 'HANDSHAKE_ABORTED', `The device ended the handshake with alert ${alert}.`, ev);
    }
    if (/http.request|wrong.version.number|unknown.protocol/.test(msg)) {
      return verdict(r, 'PLAINTEXT_ON_TLS_PORT', 'The device did not speak TLS on the TLS port.', ev);
    }
    if (/econnreset|socket hang up|disconnected before secure|unexpected eof|eof/.test(msg)) {
      if (r.clientHello) {
        return verdict(
          r,
          'DEVICE_REJECTED_SERVER_CERT',
          "The device closed the connection right after the broker sent its certificate, without finishing the handshake and without an alert: it most likely rejected the broker's certificate.",
          ev,
        );
      }
      return verdict(r, 'HANDSHAKE_ABORTED', 'The device dropped the connection during the handshake.', ev);
    }
    return verdict(r, 'UNKNOWN', `The TLS handshake failed: ${tls.error.message}.`, ev);
  }

  if (tlsExpected && !tls && r.firstBytes === 'tls') {
    if (!final) return undefined;
    const ev = [...helloLine(r), 'no TLS handshake outcome: the handshake never finished', ...endLine];
    if (r.end?.by === 'client' && r.clientHello) {
      return verdict(
        r,
        'DEVICE_REJECTED_SERVER_CERT',
        "The device closed the connection after the broker sent its certificate, without finishing the handshake and without an alert: it most likely rejected the broker's certificate.",
        ev,
      );
    }
    return verdict(r, 'HANDSHAKE_ABORTED', 'The TLS handshake started but never finished.', ev);
  }

  if (tlsExpected && tls && tls.version && !tls.authorized && tls.authorizationError) {
    const ev = [
      ...helloLine(r),
      `TLS ${tls.version} ${tls.cipher ?? ''} done; client certificate check: ${tls.authorizationError}`,
    ];
    if (!tls.peerCert)
      return verdict(
        r,
        'NO_CLIENT_CERT',
        'The device did not send a client certificate, and the broker requires one.',
        ev,
      );
    const subject = `the device certificate (${tls.peerCert.subject}, issued by ${tls.peerCert.issuer})`;
    const mapped = AUTH_ERR[tls.authorizationError];
    if (mapped === 'CLIENT_CERT_EXPIRED')
      return verdict(r, mapped, `${cap(subject)} expired on ${tls.peerCert.validTo}.`, ev);
    if (mapped === 'CLIENT_CERT_NOT_YET_VALID')
      return verdict(r, mapped, `${cap(subject)} is not valid before ${tls.peerCert.validFrom}.`, ev);
    if (tls.authorizationError === 'CERT_SIGNATURE_FAILURE' || tls.authorizationError === 'UNSPECIFIED') {
      return verdict(
        r,
        'CLIENT_CERT_UNTRUSTED',
        `${cap(subject)} was refused by the broker's checks (${tls.authorizationError}; e.g. a weak key or signature).`,
        ev,
      );
    }
    return verdict(
      r,
      'CLIENT_CERT_UNTRUSTED',
      `${cap(subject)} is not signed by a CA the broker trusts (${tls.authorizationError}).`,
      ev,
    );
  }

  if (r.refusal && r.refusal.rule.startsWith('registry')) {
    return verdict(
      r,
      'CLIENT_CERT_NOT_ACTIVE',
      `The broker's certificate registry refused the device certificate: ${r.refusal.reason} [${r.refusal.source}].`,
      [...helloLine(r), `refused at ${r.refusal.at}: ${r.refusal.reason}`, ...endLine],
    );
  }

  const connack = r.mqtt.connack;
  const connect = r.mqtt.connect;
  const connectLine = connect
    ? [`CONNECT client id "${connect.clientId}" v${connect.protocolVersion} keepalive ${connect.keepalive}`]
    : [];
  if (connack && connack.returnCode !== 0) {
    const meaning = CONNACK_V3[connack.returnCode] ?? `reason 0x${connack.returnCode.toString(16)}`;
    return verdict(
      r,
      'CONNECT_REFUSED',
      `The broker answered CONNECT with CONNACK ${connack.returnCode} (${meaning}).`,
      [
        ...connectLine,
        `CONNACK returnCode ${connack.returnCode}`,
        ...(r.refusal ? [`rule ${r.refusal.rule}: ${r.refusal.reason} [${r.refusal.source}]`] : []),
      ],
    );
  }
  if (r.refusal && r.refusal.rule === 'sni-only-cert') {
    const code: VerdictCode = r.clientHello?.sni ? 'SNI_MISMATCH' : 'NO_SNI';
    return verdict(
      r,
      code,
      `The TLS handshake succeeded, then the broker closed the connection without CONNACK: ${r.refusal.reason} [${r.refusal.source}].`,
      [...helloLine(r), ...connectLine, `closed by rule ${r.refusal.rule}: ${r.refusal.reason}`],
    );
  }
  if (r.refusal && (r.refusal.at === 'connect' || r.refusal.at === 'session' || r.refusal.at === 'handshake')) {
    return verdict(
      r,
      'POLICY_DISCONNECT',
      `The broker closed the connection: ${r.refusal.reason} (rule ${r.refusal.rule}, ${r.refusal.source}).`,
      [...connectLine, `closed by rule ${r.refusal.rule}: ${r.refusal.reason} [${r.refusal.source}]`, ...endLine],
    );
  }
  if (connack && connack.returnCode === 0) {
    // T10 [OBS]: AWS IoT does not negotiate Max Fragment Length; a device relying on it breaks on big records there.
    const mfl = r.clientHello?.maxFragmentLength
      ? ` Note: the device asked for max_fragment_length ${r.clientHello.maxFragmentLength}; AWS IoT ignores that extension (T10), so it needs 16 KB TLS receive buffers there.`
      : '';
    return verdict(
      r,
      'OK',
      `The device connected${tls?.version ? ` over ${tls.version} (${tls.cipher})` : ''} and the broker accepted its CONNECT.${mfl}`,
      [...helloLine(r), ...connectLine, 'CONNACK returnCode 0'],
    );
  }
  if (!final) return undefined;
  if (r.end?.by === 'rig' && r.end.reason.startsWith('fault:')) {
    return verdict(
      r,
      'CLOSED_BY_RIG',
      `The rig closed the connection on purpose (${r.end.reason}) before the broker answered CONNECT.`,
      [...helloLine(r), ...connectLine, ...r.faults, ...endLine],
    );
  }
  if (connect && r.faults.some((f) => f.includes('connack'))) {
    return verdict(
      r,
      'CONNACK_WITHHELD',
      'The device sent CONNECT; the rig withheld CONNACK on purpose (fault injection).',
      [...connectLine, ...r.faults, ...endLine],
    );
  }
  if (!connect) {
    if (!tlsExpected) {
      return verdict(r, 'NEVER_SPOKE', 'The device opened a TCP connection but sent no MQTT CONNECT.', [
        'TCP accepted, no CONNECT',
        ...endLine,
      ]);
    }
    return verdict(
      r,
      'HANDSHAKE_THEN_SILENT',
      `The TLS handshake succeeded${tls?.version ? ` (${tls.version})` : ''} but the device closed or went silent without sending MQTT CONNECT. (A client that checks the server certificate only after the handshake, as Node does, looks like this when it rejects it.)`,
      [...helloLine(r), ...endLine],
    );
  }
  return verdict(r, 'UNKNOWN', 'The device sent CONNECT but the connection ended before the broker answered.', [
    ...connectLine,
    ...endLine,
  ]);
}

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
