/**
 * lab-dns: the name-based scenarios with the module finding the broker through DNS, as a real
 * module on the lab's Wi-Fi does, instead of the virtual module's in-process host
 * map. Each test starts the lab's DNS responder (harness/lab) with the scenario's host name
 * mapped to the rig, has the module ask it, and judges both what the module did and what it
 * asked DNS for.
 *
 * Glossary: module = the device under test; rig = aedes behind the TLS front door; responder =
 * the lab's DNS server; DNS verdict = judgeDnsQueries over the responder's record.
 *
 * Where the module's DNS server is: on `sim:` the responder listens on 127.0.0.1 port 0 and the
 * virtual module's resolver is pointed at it (`vm.setDnsServer`). On hardware the module takes its
 * DNS server from the lab's DHCP, so the responder listens where the lab file's `network.dns.listen`
 * says (the DHCP's DNS server address), answering the lab's own `names` plus the scenario's name
 * (mapped to the lab's `hostAddress`, where the rig listens) and forwarding the rest as
 * `network.dns.forward` says; it is closed after each test, so the next one rebinds the port.
 * Nothing else may hold that address meanwhile (stop `bx-hil dns`). Without `network.dns` these
 * skip on hardware, naming it.
 */
import { isIPv4 } from 'node:net';
import { expect } from 'vitest';
import type { BrokerRigOptions } from '../harness/broker/index.ts';
import type { Verdict } from '../harness/diagnose/index.ts';
import { judgeDnsQueries, type DnsVerdict } from '../harness/diagnose/index.ts';
import { ConfigError } from '../harness/errors.ts';
import { startDnsResponder, type DnsResponder } from '../harness/lab/index.ts';
import { buildScenario, type ScenarioMaterial } from '../harness/pki/index.ts';
import { hil, type HilContext } from './fixtures.ts';
import { provision, recordVerdict, scenarioProvision, tryConnect, waits } from './helpers.ts';

/** A name only the lab's DNS knows (no host override is set for it). */
const DNS_HOST = 'mqtt.dns.bx-hil.test';
/** The field report's endpoint (docs/reference/field-report-2.6.3.md), anonymised as in harness/sim. */
const AWS_HOST = 'abc123-ats.iot.eu-west-1.amazonaws.com';

/** Why a test skips on hardware without the lab's DNS: the module asks the server its DHCP names, which only the lab file knows. */
const NEEDS_LAB_DNS =
  "the lab's DNS server address (on hardware the module's DNS server comes from the lab's DHCP): add network: { dns: { listen: <the address DHCP names>, names: {...} } } to the lab file (docs/lab.md)";
/** A DNS lookup's worst case on the module: 2 tries of 1.5 s ([guess] harness/sim/net), before the connect proper. */
const DNS_LOOKUP_MS = 2 * 1_500;

interface Outcome {
  connected: boolean;
  indCode?: number;
  dns: DnsVerdict;
  asked: string[];
  verdict?: Verdict;
  /** The connect step that failed on the virtual module, and why (not known on hardware). */
  failedAt?: { step: string; reason: string };
}

/** The rig for a scenario's server side (the subset of tls-handshake's mapping these scenarios use). */
function rigOptions(m: ScenarioMaterial, sniRequired: boolean): Partial<BrokerRigOptions> {
  const opts: Partial<BrokerRigOptions> = {
    profile: 'strict',
    pki: { ca: m.root, server: m.serverLeaf ?? m.root },
    tls: { ...m.tls, requestCert: true },
  };
  if (m.serverCert) {
    opts.serverCertChainPem = m.serverCert;
    opts.serverKeyPem = m.serverKey;
  }
  if (sniRequired) {
    opts.profile = 'aws-iot';
    opts.aws = { endpoint: m.hostName, sniMode: 'match' };
  }
  return opts;
}

/**
 * The IPv4 address the module must be told for the rig on hardware: the lab's `hostAddress`
 * when it is one, the loopback the rig binds for `localhost`, or the lab's own DNS name for it.
 */
function rigAddress(target: HilContext['target']): string {
  const host = target.brokerName; // the lab's hostAddress on hardware
  if (isIPv4(host)) return host;
  if (isIPv4(target.bindHost) && target.bindHost !== '0.0.0.0') return target.bindHost;
  const named = target.labDns?.names[host];
  if (named !== undefined && isIPv4(named)) return named;
  throw new ConfigError(
    'hostAddress',
    host,
    `hostAddress: "${host}" is a name the lab file's network.dns.names gives no IPv4 address for; add it there, or give hostAddress as an address`,
  );
}

/**
 * The responder for one test, answering `hostName` with the rig's address: on `sim:` on a free
 * loopback port with the virtual module's resolver pointed at it; on hardware on the lab's
 * `network.dns.listen` with the lab's names and upstream. Skips (hardware without `network.dns`).
 */
async function startTestResponder(ctx: HilContext, hostName: string): Promise<DnsResponder> {
  const { vm, target, bus, evidence } = ctx;
  if (vm) {
    const names = { [hostName]: '127.0.0.1' };
    const responder = await startDnsResponder({ names, bus });
    vm.setDnsServer(responder.address);
    evidence.note('dns', { responder: responder.address, names });
    return responder;
  }
  const lab = target.labDns;
  if (!lab) {
    ctx.meta.skipReason = `needs ${NEEDS_LAB_DNS}: not given for ${target.uri}`;
    ctx.skip(ctx.meta.skipReason);
  }
  const dns = lab!;
  const names = { ...dns.names, [hostName]: rigAddress(target) };
  const responder = await startDnsResponder({
    host: dns.listen.host,
    port: dns.listen.port,
    names,
    ...(dns.forward !== undefined ? { forward: dns.forward } : {}),
    bus,
    field: 'network.dns.listen',
  });
  evidence.note('dns', { responder: responder.address, names, ...(dns.forward ? { forward: dns.forward } : {}) });
  return responder;
}

/**
 * Stage scenario `id` for `hostName`, answer that name from a fresh responder, have the
 * module dial `dial` (default the scenario's host) through it, and collect both sides.
 */
async function throughDns(
  ctx: HilContext,
  id: string,
  o: { hostName: string; dial?: string; sniRequired?: boolean },
): Promise<Outcome> {
  const { device, vm, rigs, pool, evidence } = ctx;
  const responder = await startTestResponder(ctx, o.hostName);
  try {
    const m = await buildScenario(id, { pool, hostName: o.hostName });
    const rig = await rigs.start(rigOptions(m, o.sniRequired ?? false));
    const up = await provision(device, scenarioProvision(m), evidence);
    expect(up.refused, 'the scenario material uploads').toBeUndefined();
    // DNS gives an address, not a port: the session names the rig's port, as a lab rig on 8883 would be named.
    const sid = await device.mqttConfigure({
      secure: true,
      server: o.dial ?? m.connectHost,
      port: rig.port,
      version: 4,
      clientId: `dns-${id}-${process.pid}`,
    });
    const r = await tryConnect(device, sid, DNS_LOOKUP_MS + waits().connectMs, evidence);
    const failed = vm?.session(sid)?.lastConnectError;
    // A module DNS gave no address never reached the rig: there is no verdict to wait for. Read
    // from the responder's record, the same on sim: and on hardware.
    const resolved = responder.queries.some((q) => q.addresses.length > 0);
    const verdict = resolved ? await recordVerdict(rig, ctx.meta, waits().verdictMs, evidence) : undefined;
    const dns = judgeDnsQueries(responder.queries, o.hostName);
    evidence.note('dnsVerdict', { code: dns.code, summary: dns.summary, fix: dns.fix, evidence: dns.evidence });
    return {
      connected: r.connected,
      ...(r.indCode !== undefined ? { indCode: r.indCode } : {}),
      dns,
      asked: responder.queries.map((q) => q.name),
      ...(verdict ? { verdict } : {}),
      ...(failed ? { failedAt: { step: failed.step, reason: failed.reason } } : {}),
    };
  } finally {
    vm?.setDnsServer(undefined);
    await responder.close();
  }
}

/** The connect step that failed, checked where it is known (the virtual module's own record). */
function expectFailedAt(ctx: HilContext, out: Outcome, at: { step: string; reason: string }): void {
  if (ctx.vm) expect(out.failedAt).toMatchObject(at);
}

hil('S1 through DNS: the module asks the lab DNS for the broker name and connects', { scenario: 'S1' }, async (ctx) => {
  const out = await throughDns(ctx, 'S1', { hostName: DNS_HOST });
  expect(out.asked).toContain(DNS_HOST);
  expect(out.dns.code).toBe('DNS_OK');
  expect(out.connected).toBe(true);
  expect(out.verdict?.code).toBe('OK');
});

hil(
  'S19 through DNS: a server that requires SNI for the host name gets it from a module that resolved the name',
  { scenario: 'S19', needs: ['tls.sni'] },
  async (ctx) => {
    const out = await throughDns(ctx, 'S19', { hostName: DNS_HOST, sniRequired: true });
    expect(out.dns.code).toBe('DNS_OK');
    expect(out.connected).toBe(true);
    expect(out.verdict?.code).toBe('OK');
  },
);

hil(
  'S5 through DNS: the name resolves, but the certificate is for another name, so the module refuses',
  { scenario: 'S5', needs: ['tls.verifyName'] },
  async (ctx) => {
    const out = await throughDns(ctx, 'S5', { hostName: DNS_HOST });
    expect(out.dns.code).toBe('DNS_OK'); // DNS is not what failed
    expect(out.connected).toBe(false);
    expect(out.indCode).toBe(0);
    expectFailedAt(ctx, out, { step: 'verify', reason: 'NAME_MISMATCH' });
    expect(out.verdict?.code).toBe('DEVICE_REJECTED_SERVER_CERT');
  },
);

hil(
  'D4 through DNS: the field report, the AWS endpoint resolved by the lab DNS, Amazon Root CA 1 stored: +KMQTT_IND: 1,0',
  { scenario: 'D4', needs: ['tls.verifyChain'] },
  async (ctx) => {
    const out = await throughDns(ctx, 'D4', { hostName: AWS_HOST });
    expect(out.asked).toContain(AWS_HOST);
    expect(out.dns.code).toBe('DNS_OK');
    expect(out.connected).toBe(false);
    expect(out.indCode).toBe(0);
    expectFailedAt(ctx, out, { step: 'verify', reason: 'CERT_UNTRUSTED' });
    expect(out.verdict?.code).toBe('DEVICE_REJECTED_SERVER_CERT');
  },
);

hil(
  'a module configured with a typo of the broker name gets its own DNS verdict, not a TLS one',
  { scenario: 'DNS-name' },
  async (ctx) => {
    const typo = 'mqtt.dns.bx-hil.tset';
    const out = await throughDns(ctx, 'S1', { hostName: DNS_HOST, dial: typo });
    expect(out.asked).toEqual([typo]);
    expect(out.connected).toBe(false);
    expect(out.indCode).toBe(0);
    expectFailedAt(ctx, out, { step: 'resolve', reason: 'NXDOMAIN' });
    expect(out.verdict).toBeUndefined(); // the broker was never reached
    expect(out.dns).toMatchObject({ code: 'DNS_WRONG_NAME', asked: typo, typoDistance: 2 });
    expect(out.dns.summary).toContain(`asked for a different name (${typo}) than the broker's (${DNS_HOST})`);
    expect(out.dns.summary).toContain('typo');
  },
);
