/**
 * tls-handshake: the scenario catalogue (harness/pki/scenarios.ts; docs/reference/scenarios-and-anchors.md §5.5,
 * S1-S27 and the device-side D1-D11) against the broker rig. Each test gives the module the
 * scenario's root, device certificate and key, presents the scenario's server side, and records
 * the module's result (`+KMQTT_IND`) and the rig's verdict.
 *
 * Expected outcomes are the SECURE ones: `connect`, `refuse` or `either` (implementation
 * specific: recorded, not judged). A module that connects where it must refuse because the
 * server certificate is untrusted, expired, not yet valid or for another name is a SECURITY
 * FAILURE, reported in those words and never excused by a known issue.
 *
 * Glossary: module = the device under test (TLS client); rig = aedes behind the TLS front door
 * (TLS server, records the handshake, gives the verdict); scenario root = the CA the module is
 * given as its trust anchor.
 */
import { describe, expect } from 'vitest';
import type { BrokerRigOptions } from '../harness/broker/index.ts';
import { buildScenario, scenarios, type ScenarioEntry, type ScenarioMaterial } from '../harness/pki/index.ts';
import { hil, securityFailure, type HilContext } from './fixtures.ts';
import { configureSession, provision, recordVerdict, scenarioProvision, tryConnect, waits } from './helpers.ts';

/** Scenarios the harness cannot stage, with the reason (the test is skipped with it). */
const CANNOT_STAGE: Record<string, string> = {
  S27: 'no AT command to configure TLS-PSK is known for the BX (docs/reference/bx310x-at.md §5.1)',
  S21c: 'the broker rig has no client CRL check to stage a revoked client certificate',
  D11: 'the broker rig has no client key-size policy (it accepts an RSA-1024 client certificate), so the refusal cannot be staged',
};

function rigOptionsFor(entry: ScenarioEntry, m: ScenarioMaterial): Partial<BrokerRigOptions> {
  const b = entry.server.behaviour;
  const opts: Partial<BrokerRigOptions> = {
    profile: b === 'plain-tcp' ? 'plain' : entry.server.requiresClientCert ? 'strict' : 'tls-server-only',
    pki: { ca: m.root, server: m.serverLeaf ?? m.root },
    tls: { ...m.tls, requestCert: entry.server.requiresClientCert },
  };
  if (m.serverCert) {
    opts.serverCertChainPem = m.serverCert;
    opts.serverKeyPem = m.serverKey;
  }
  if (b === 'require-sni') {
    opts.profile = 'aws-iot';
    opts.aws = { endpoint: m.hostName, sniMode: 'match' };
  }
  if (b === 'close-after-handshake') opts.faults = { closeAfterPackets: 1 };
  // Stalls past every bound (10 min): the module's own handshake bound must end it.
  if (b === 'stall-handshake') opts.faults = { stallHandshakeMs: 600_000 };
  return opts;
}

/** The module connecting here means it trusted a server certificate that plain X.509 verification refuses. */
function isSecurityCritical(entry: ScenarioEntry): boolean {
  const server = entry.pki.server;
  return entry.expected === 'refuse' && server !== undefined && server.result !== 'ok' && server.policy === undefined;
}

async function runScenario(entry: ScenarioEntry, ctx: HilContext): Promise<void> {
  const { device, vm, rigs, pool, target, evidence, meta } = ctx;
  const m = await buildScenario(entry.id, { pool, hostName: target.brokerName });
  let rig;
  try {
    rig = await rigs.start(rigOptionsFor(entry, m));
  } catch (err) {
    // Only a scenario with its own cipher list may be unstageable here (e.g. 3DES absent from this OpenSSL build).
    if (!m.tls.ciphers) throw err;
    const reason = `this machine's TLS library cannot serve ${entry.id}'s cipher list "${m.tls.ciphers}": ${err instanceof Error ? err.message : String(err)}`;
    ctx.meta.skipReason = reason;
    ctx.skip(reason);
    return;
  }
  if (vm && m.connectHost !== target.brokerName) vm.setResolve(m.connectHost, { host: '127.0.0.1', port: rig.port });
  if (m.serverLeaf) evidence.cert('server', m.serverCert);
  evidence.note('scenario', { id: entry.id, expected: entry.expected, reason: entry.reason, anchors: entry.anchors });
  if (m.deviceClock) vm!.clock.set(m.deviceClock);
  try {
    const up = await provision(device, scenarioProvision(m), evidence);
    if (up.refused) {
      evidence.note('moduleResult', `upload of ${up.refused.slot} refused: ${up.refused.code}`);
      if (entry.expected === 'connect') {
        throw new Error(
          `${entry.id}: the module refused the ${up.refused.slot} upload (${up.refused.code}: ${up.refused.message}) where the scenario must connect`,
        );
      }
      return; // refusing bad material at upload is a refusal
    }
    const endpoint = vm ? { host: m.connectHost, port: 8883 } : { host: m.connectHost, port: rig.port };
    const id = await configureSession(device, endpoint, { secure: true });
    // A stalled handshake ends at the module's own handshake bound: the wait this scenario exists to observe.
    if (entry.server.behaviour === 'stall-handshake' && target.profile)
      evidence.observe("the module's handshake bound", target.profile.tls.handshakeTimeoutMs);
    // Bounds derived from the module's timing and its profile's own bounds (harness/run/waits.ts).
    const r = await tryConnect(device, id, waits().connectMs, evidence);
    const verdict = await recordVerdict(rig, meta, waits().verdictMs, evidence);
    evidence.note(
      'moduleResult',
      r.connected
        ? `connected (+KMQTT_IND: ${id},1)`
        : `not connected: ${r.code}${r.indCode !== undefined ? ` (+KMQTT_IND: ${id},${r.indCode})` : ''}`,
    );
    const verdictText = verdict ? `rig verdict ${verdict.code}: ${verdict.summary}` : 'no rig verdict';
    switch (entry.expected) {
      case 'connect':
        if (!r.connected)
          throw new Error(`${entry.id}: the module did not connect (${r.code}: ${r.message}); ${verdictText}`);
        expect(verdict?.code ?? 'OK').toBe('OK');
        break;
      case 'refuse':
        if (r.connected) {
          if (isSecurityCritical(entry)) {
            securityFailure(
              meta,
              `${entry.id} ${entry.title}: the module connected to a server it must refuse (${entry.reason}); ${verdictText}`,
            );
          }
          throw new Error(
            `${entry.id}: the module connected where the secure outcome is to refuse (${entry.reason}); ${verdictText}`,
          );
        }
        // The module reported the failure (no silent hang): +KMQTT_IND or an error within the bound.
        expect(r.code).toBeDefined();
        if (entry.category === 'server-cert' || entry.category === 'client-auth') expect(verdict?.code).not.toBe('OK');
        // A refused server certificate must be named as such, from both sides' evidence.
        if (entry.category === 'server-cert' && verdict) expect(verdict.code).toBe('DEVICE_REJECTED_SERVER_CERT');
        break;
      case 'either':
        break;
    }
  } finally {
    if (m.deviceClock) vm!.clock.set(new Date());
  }
}

const byCategory = new Map<string, ScenarioEntry[]>();
for (const s of scenarios) byCategory.set(s.category, [...(byCategory.get(s.category) ?? []), s]);

for (const [category, entries] of byCategory) {
  describe(category, () => {
    for (const entry of entries) {
      const cannot = CANNOT_STAGE[entry.id];
      hil(
        `${entry.id} ${entry.title} (expect ${entry.expected})`,
        {
          scenario: entry.id,
          // Vitest's bound, fixed before the device is known: uploads, one connect (at most the
          // module's handshake and CONNACK bounds, 10 s each in every profile) and the verdict, twice over.
          timeoutMs: 60_000,
          ...(entry.device.clock ? { sim: 'clock setting' } : {}),
          ...(cannot ? { cannotStage: cannot } : {}),
        },
        (ctx) => runScenario(entry, ctx),
      );
    }
  });
}
