/**
 * The server half of each scenario's material in a real TLS handshake: a Node TLS server
 * presents `serverCert`/`serverKey` with the entry's TLS options, and the openssl CLI client
 * (`openssl s_client`, a stand-in for a strict module) dials it with the module's root, host
 * name and client certificate. `connect` entries must verify and complete, `refuse` entries must
 * fail, `either` entries are only required to end (either way) within the bound.
 *
 * Glossary: "server" = the Node TLS server standing in for the harness front door; "client" =
 * openssl s_client standing in for the module.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hasTool, runTool } from '../processes.ts';
import { KeyPool } from './factory.ts';
import { buildScenario, scenarios, type ScenarioEntry } from './scenarios.ts';

const CLIENT_TIMEOUT_MS = 20_000;

const opensslPresent = hasTool('openssl');

/** Scenarios whose outcome depends only on certificates and TLS options (no special server behaviour). */
const chosen: ScenarioEntry[] = scenarios.filter(
  (s) =>
    s.server.presents !== null &&
    s.server.behaviour === 'normal' &&
    (s.category === 'server-cert' || s.category === 'tls-params') &&
    !s.device.clock,
);

let dir: string;
const pool = new KeyPool();
const servers: Server[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bx-hil-handshake-'));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!opensslPresent)(
  'openssl s_client against the scenario server material (needs the openssl CLI)',
  () => {
    test('the selection covers the certificate and TLS-parameter scenarios', () => {
      expect(chosen.length).toBeGreaterThanOrEqual(20);
    });

    test.concurrent.for(chosen.map((s) => [s.id, s.expected, s] as const))(
      '%s: expected %s',
      async ([id, expected, entry], ctx) => {
        const m = await buildScenario(id, { pool });
        const sdir = join(dir, id);
        mkdirSync(sdir, { recursive: true });
        for (const f of m.files) writeFileSync(join(sdir, f.name), f.contents, { mode: f.secret ? 0o600 : 0o644 });
        let server: Server;
        try {
          server = createServer({
            cert: m.serverCert,
            key: m.serverKey,
            ca: m.clientCa,
            requestCert: entry.server.requiresClientCert,
            rejectUnauthorized: entry.server.requiresClientCert,
            ...(m.tls.minVersion ? { minVersion: m.tls.minVersion } : {}),
            ...(m.tls.maxVersion ? { maxVersion: m.tls.maxVersion } : {}),
            ...(m.tls.ciphers ? { ciphers: m.tls.ciphers } : {}),
          });
        } catch (err) {
          // e.g. S18's 3DES-only list: Node's OpenSSL 3 build may not serve it at all.
          if (!m.tls.ciphers) throw err;
          return ctx.skip(
            `${id}: this Node's TLS library cannot serve the cipher list "${m.tls.ciphers}" (${(err as Error).message})`,
          );
        }
        servers.push(server);
        server.on('secureConnection', (s) => s.end('hello\n'));
        server.on('tlsClientError', () => undefined);
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const port = (server.address() as AddressInfo).port;
        const args = [
          's_client',
          '-connect',
          `127.0.0.1:${port}`,
          '-servername',
          m.connectHost,
          '-CAfile',
          'device-root.crt',
          '-verify_return_error',
          '-brief',
        ];
        args.push(entry.device.connectTo === 'ip' ? '-verify_ip' : '-verify_hostname', m.connectHost);
        if (m.clientCert && m.clientKey) args.push('-cert', 'device.crt', '-key', 'device.key');
        // No input: s_client reads end-of-file on stdin and closes once the handshake is over.
        const run = await runTool('openssl', args, { cwd: sdir, timeoutMs: CLIENT_TIMEOUT_MS });
        const r = { code: run.code, out: `${run.out}${run.err}` };
        await new Promise<void>((resolve) => server.close(() => resolve()));
        const connected = r.code === 0 && /Verification: OK/.test(r.out);
        if (expected === 'connect') expect(connected, `${id}: ${r.out}`).toBe(true);
        if (expected === 'refuse') expect(connected, `${id}: ${r.out}`).toBe(false);
        if (entry.pki.server && entry.pki.server.result !== 'ok' && !entry.pki.server.policy) {
          // The client fails for the reason the catalogue states (openssl's verify error number).
          expect(r.out, id).toMatch(new RegExp(`verify error:num=${entry.pki.server.result}:`));
        }
      },
    );
  },
);
