/**
 * Broker rig vs Mosquitto, same certificates, same run:
 * - handshake + CONNECT -> CONNACK latency, median and p99 over 200 sequential connects each,
 *   alternating between the two brokers
 *   (raw `tls.connect` + mqtt-packet, mutual TLS, each connection closed after its CONNACK);
 * - QoS 1 publish throughput over 10 s each, in 5 alternating slices (mqtt.js, 64 messages in
 *   flight, 64 B payload).
 * Goals: latency within 1.5x Mosquitto's; throughput at least half of Mosquitto's.
 * BENCH_CONNECTS and BENCH_SECONDS shorten a run.
 */
import tls from 'node:tls';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { createBasicPki, type BasicPki } from '../harness/pki/index.ts';
import { startBrokerRig, startMosquittoRig, type BrokerRig } from '../harness/broker/index.ts';
import { hasTool } from '../harness/broker/testing.ts';

const CONNECTS = Number(process.env.BENCH_CONNECTS ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const INFLIGHT = 64;

function connectOnce(port: number, pki: BasicPki, i: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const parser = mqttPacket.parser();
    const s = tls.connect(
      {
        port,
        host: '127.0.0.1',
        servername: 'localhost',
        ca: pki.ca.certPem,
        cert: pki.client.certPem,
        key: pki.client.keyPem,
      },
      () => {
        s.write(
          mqttPacket.generate({
            cmd: 'connect',
            protocolId: 'MQTT',
            protocolVersion: 4,
            clean: true,
            clientId: `lat-${i}`,
            keepalive: 30,
          }),
        );
      },
    );
    parser.on('packet', (p) => {
      if (p.cmd === 'connack') {
        const dt = performance.now() - t0;
        s.end(mqttPacket.generate({ cmd: 'disconnect' }));
        s.destroy();
        resolve(dt);
      }
    });
    s.on('data', (d: Buffer) => parser.parse(d));
    s.on('error', reject);
    setTimeout(() => reject(new Error('no CONNACK within 5 s')), 5000).unref();
  });
}

interface Stats {
  median: number;
  p99: number;
}
function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, p99: s[Math.min(s.length - 1, Math.ceil(s.length * 0.99) - 1)]! };
}

/**
 * Connects alternate between the brokers (rig, mosquitto, rig, ...) so load from other
 * processes on this 2-core machine hits both alike; the ratio is what the goal is about.
 */
async function latencies(rigs: BrokerRig[], pki: BasicPki): Promise<Stats[]> {
  for (const r of rigs) for (let i = 0; i < 10; i++) await connectOnce(r.port, pki, i); // warm-up
  const xs: number[][] = rigs.map(() => []);
  for (let i = 0; i < CONNECTS; i++) {
    for (const [k, r] of rigs.entries()) xs[k]!.push(await connectOnce(r.port, pki, i));
  }
  return xs.map(stats);
}

/** QoS 1 publishes acknowledged per second, in alternating slices of SECONDS / ROUNDS per broker. */
async function throughputs(rigs: BrokerRig[], pki: BasicPki): Promise<number[]> {
  const ROUNDS = 5;
  const clients = await Promise.all(
    rigs.map((r) =>
      mqtt.connectAsync(r.url, {
        ca: pki.ca.certPem,
        cert: pki.client.certPem,
        key: pki.client.keyPem,
        servername: 'localhost',
        clientId: 'tp',
        reconnectPeriod: 0,
      }),
    ),
  );
  const payload = Buffer.alloc(64, 0x61);
  const acked = rigs.map(() => 0);
  const elapsed = rigs.map(() => 0);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [k, c] of clients.entries()) {
      let stop = false;
      const worker = async (): Promise<void> => {
        while (!stop) {
          await c.publishAsync('bench/tp', payload, { qos: 1 });
          acked[k]!++;
        }
      };
      const t0 = performance.now();
      const timer = setTimeout(() => (stop = true), (SECONDS * 1000) / ROUNDS);
      await Promise.all(Array.from({ length: INFLIGHT }, worker));
      clearTimeout(timer);
      elapsed[k]! += performance.now() - t0;
    }
  }
  await Promise.all(clients.map((c) => c.endAsync()));
  return acked.map((a, k) => a / (elapsed[k]! / 1000));
}

const f = (n: number): string => n.toFixed(2);

export async function run(): Promise<void> {
  const pki = await createBasicPki();
  const aedes = await startBrokerRig({ profile: 'strict', pki });
  let mosq: BrokerRig | undefined;
  try {
    if (hasTool('mosquitto')) mosq = await startMosquittoRig({ pki, profile: 'mosquitto-like' });
    else console.log('mosquitto not installed: no baseline (apt-get install mosquitto)');
    const rigs = mosq ? [aedes, mosq] : [aedes];
    const [la, lm] = await latencies(rigs, pki);
    console.log(
      `aedes rig   handshake+CONNACK over ${CONNECTS} connects: median ${f(la!.median)} ms, p99 ${f(la!.p99)} ms`,
    );
    if (lm) {
      console.log(
        `mosquitto   handshake+CONNACK over ${CONNECTS} connects: median ${f(lm.median)} ms, p99 ${f(lm.p99)} ms`,
      );
      console.log(
        `latency ratio rig/mosquitto: median ${f(la!.median / lm.median)}x, p99 ${f(la!.p99 / lm.p99)}x (goal <= 1.5x)`,
      );
    }
    const [ta, tm] = await throughputs(rigs, pki);
    console.log(
      `aedes rig   QoS 1 publish throughput over ${SECONDS} s: ${ta!.toFixed(0)} msg/s (${INFLIGHT} in flight)`,
    );
    if (tm) {
      console.log(
        `mosquitto   QoS 1 publish throughput over ${SECONDS} s: ${tm.toFixed(0)} msg/s (${INFLIGHT} in flight)`,
      );
      console.log(`throughput ratio rig/mosquitto: ${f(ta! / tm)}x (goal >= 0.5x)`);
    }
  } finally {
    await aedes.close();
    await mosq?.close();
  }
}
