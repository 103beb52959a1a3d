/**
 * `npm run bench -- pki`: time to generate the whole scenario catalogue with a fresh KeyPool,
 * and, in the same run, the time the openssl CLI takes to generate as many RSA-2048 keys and
 * self-signed certificates (`openssl req -x509 -newkey rsa:2048 -nodes`, one per certificate,
 * sequentially). Goal: the catalogue in under 2 s and at most 1/4 of the CLI's time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyPool, buildScenario, scenarios, type ScenarioMaterial } from '../harness/pki/index.ts';
import { runTool } from '../harness/processes.ts';

const OPENSSL_TIMEOUT_MS = 30_000;

function certificateCount(m: ScenarioMaterial): number {
  return (
    m.caCerts.length + (m.serverLeaf ? 1 : 0) + (m.clientLeaf || m.entry.device.clientCert === 'malformed' ? 1 : 0)
  );
}

export async function run(): Promise<void> {
  const pool = new KeyPool();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const all = await Promise.all(scenarios.map((s) => buildScenario(s.id, { pool })));
  const catalogueMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const certs = all.reduce((n, m) => n + certificateCount(m), 0);
  // CPU time (all threads: key generation runs on the libuv pool) shows the cost on a busy machine.
  console.log(
    `catalogue: ${all.length} scenarios, ${certs} certificates, ${pool.size} keys generated: ${catalogueMs.toFixed(0)} ms wall, ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU`,
  );

  const dir = mkdtempSync(join(tmpdir(), 'bx-hil-bench-pki-'));
  let cliMs: number;
  try {
    const t1 = performance.now();
    for (let i = 0; i < certs; i++) {
      const r = await runTool(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          join(dir, 'k.pem'),
          '-out',
          join(dir, 'c.pem'),
          '-days',
          '30',
          '-subj',
          `/CN=bench-${i}`,
        ],
        { timeoutMs: OPENSSL_TIMEOUT_MS },
      );
      if (r.code !== 0) throw new Error(`openssl req exited with code ${r.code}: ${r.err.trim()}`);
    }
    cliMs = performance.now() - t1;
  } catch (err) {
    console.log(`openssl CLI baseline not measured: ${(err as Error).message.split('\n')[0]}`);
    return;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ratio = catalogueMs / cliMs;
  console.log(
    `openssl CLI: ${certs} RSA-2048 keys + certificates, sequentially: ${cliMs.toFixed(0)} ms (${(cliMs / certs).toFixed(0)} ms each)`,
  );
  console.log(`ratio catalogue / openssl CLI: ${ratio.toFixed(3)} (1/${(1 / ratio).toFixed(1)})`);
  console.log(
    `goals: catalogue < 2000 ms: ${catalogueMs < 2000 ? 'met' : 'NOT met'}; ratio <= 0.25: ${ratio <= 0.25 ? 'met' : 'NOT met'}`,
  );
}
