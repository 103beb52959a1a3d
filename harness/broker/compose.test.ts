/**
 * docker-compose.yml brought up for real, with the CI override (docker-compose.ci.yml: host
 * networking, Mosquitto on 127.0.0.1 on free ports, since only loopback carries test traffic).
 * The one-shot `certs` job generates the certificates; the broker answers TLS with them,
 * `mosquitto_pub` with the generated client certificate gets through, one without it is refused.
 * `down -v` always runs, and the last test checks that nothing of the project is left.
 *
 * Runs with `docker compose` (v2) when the engine's CLI has it, else Debian's `docker-compose`
 * (1.29). Without an engine it skips with the reason; with one it never skips.
 *
 * Actors: `mosquitto` = the compose service (image eclipse-mosquitto:2; CI builds it offline with
 * ci/build-broker-image.sh); `mosquitto_pub` and an mqtt.js subscriber = clients on the host.
 */
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { freePort, hasTool, killOnExit, runTool } from '../processes.ts';
import { probeContainerRuntime } from './container.ts';
import { mosquittoTlsArgs, tempFiles } from './testing.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const engine = await probeContainerRuntime();

/** `docker compose` when the CLI has the v2 plugin, else `docker-compose`, else undefined. */
async function composeCommand(): Promise<string[] | undefined> {
  const v2 = await runTool('docker', ['compose', 'version'], { timeoutMs: 30_000 }).catch(() => undefined);
  if (v2?.code === 0) return ['docker', 'compose'];
  return hasTool('docker-compose') ? ['docker-compose'] : undefined;
}
const compose = engine.ok ? await composeCommand() : undefined;

// Two containers (certs, then mosquitto) and three key generations: with the vfs storage driver
// the engine copies the image for each container, tens of seconds on a loaded 2-core CI.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 600_000 });

const title = 'docker-compose.yml + docker-compose.ci.yml, brought up for real';
if (!engine.ok) {
  test.skip(`${title} [skipped: ${engine.reason}]`, () => undefined);
} else {
  describe(`${title} (${compose?.join(' ') ?? 'no compose tool'}, ${engine.engine})`, () => {
    const project = `bxhil-test-${randomUUID().slice(0, 8)}`;
    const dir = mkdtempSync(join(tmpdir(), 'bx-hil-compose-'));
    const ports = { mtls: 0, tls: 0, plain: 0 };
    const env: NodeJS.ProcessEnv = {};
    let files: ReturnType<typeof tempFiles> | undefined;
    let logs:
      | { lines: string[]; wait(re: RegExp, from?: number, timeoutMs?: number): Promise<string>; stop(): void }
      | undefined;
    let downDone = false;

    const run = async (args: string[], timeoutMs = 300_000) => {
      if (!compose) throw new Error('an engine answers but neither `docker compose` nor `docker-compose` is installed');
      const [cmd, ...pre] = compose;
      return runTool(
        cmd!,
        [...pre, '-p', project, '-f', 'docker-compose.yml', '-f', 'docker-compose.ci.yml', ...args],
        {
          cwd: repo,
          env,
          timeoutMs,
        },
      );
    };
    const down = async () => {
      const r = await run(['down', '-v', '--remove-orphans', '--timeout', '1']);
      expect(r.code, r.err).toBe(0);
      downDone = true;
    };

    beforeAll(async () => {
      // ci/docker/mosquitto.conf as shipped, but each listener on 127.0.0.1 and a free port.
      ports.mtls = await freePort();
      ports.tls = await freePort();
      ports.plain = await freePort();
      const shipped = readFileSync(join(repo, 'ci/docker/mosquitto.conf'), 'utf8');
      let rewritten = 0;
      const conf = shipped.replace(/^listener (8883|8884|1883)$/gm, (_, p: string) => {
        rewritten++;
        const port = p === '8883' ? ports.mtls : p === '8884' ? ports.tls : ports.plain;
        return `listener ${port} 127.0.0.1`;
      });
      expect(rewritten, 'ci/docker/mosquitto.conf should have the listeners 8883, 8884 and 1883').toBe(3);
      writeFileSync(join(dir, 'mosquitto.conf'), conf, { mode: 0o644 });
      env['BX_HIL_MOSQUITTO_CONF'] = join(dir, 'mosquitto.conf');
      env['BX_HIL_PLAIN_PORT'] = String(ports.plain);

      const up = await run(['up', '-d']);
      expect(up.code, `${up.out}\n${up.err}`).toBe(0);
      const id = (await run(['ps', '-q', 'mosquitto'], 60_000)).out.trim();
      expect(id, 'the mosquitto service has a container').toMatch(/^[0-9a-f]+$/);
      logs = followLogs(id);
      await logs.wait(/mosquitto version \S+ running/);
      // The certificates the certs job wrote into the volume, as the broker sees them.
      const cat = async (name: string) => {
        const r = await run(['exec', '-T', 'mosquitto', 'cat', `/mosquitto/certs/${name}`], 60_000);
        expect(r.code, r.err).toBe(0);
        return r.out;
      };
      files = tempFiles({
        'ca.pem': await cat('ca.crt'),
        'client.pem': await cat('client.crt'),
        'client.key': await cat('client.key'),
      });
    });

    afterAll(async () => {
      logs?.stop();
      files?.remove();
      try {
        if (!downDone) await down();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test('the broker answers TLS on 127.0.0.1 with a server certificate from the generated CA', async () => {
      const ca = readFileSync(files!.path('ca.pem'), 'utf8');
      for (const port of [ports.mtls, ports.tls]) {
        const peer = await new Promise<tls.PeerCertificate>((resolve, reject) => {
          const s = tls.connect({
            host: '127.0.0.1',
            port,
            ca,
            servername: 'localhost',
            cert: readFileSync(files!.path('client.pem')),
            key: readFileSync(files!.path('client.key')),
          });
          s.once('secureConnect', () => {
            const cert = s.getPeerCertificate();
            s.end();
            resolve(cert);
          });
          s.once('error', reject);
        });
        expect(peer.issuer.CN).toBe('bx-hil docker CA');
        expect(peer.subjectaltname).toContain('IP Address:127.0.0.1');
      }
    });

    test('mosquitto_pub with the generated client certificate gets through to a subscriber', async () => {
      const sub = await mqtt.connectAsync(`mqtts://127.0.0.1:${ports.mtls}`, {
        ca: readFileSync(files!.path('ca.pem')),
        cert: readFileSync(files!.path('client.pem')),
        key: readFileSync(files!.path('client.key')),
        servername: 'localhost',
        clientId: 'compose-sub',
        reconnectPeriod: 0,
        connectTimeout: 10_000,
      });
      try {
        const got = new Promise<string>((resolve) => sub.once('message', (t, p) => resolve(`${t}=${p.toString()}`)));
        await sub.subscribeAsync('compose/#', { qos: 1 });
        const pub = await runTool(
          'mosquitto_pub',
          [...mosquittoTlsArgs(ports.mtls, files!), '-t', 'compose/a', '-m', 'through', '-q', '1', '-i', 'compose-pub'],
          { timeoutMs: 30_000 },
        );
        expect(pub.code, pub.err).toBe(0);
        expect(await got).toBe('compose/a=through');
      } finally {
        await sub.endAsync(true);
      }
    });

    test('mosquitto_pub without a client certificate is refused: the broker says the peer sent none', async () => {
      const from = logs!.lines.length;
      const pub = await runTool(
        'mosquitto_pub',
        ['-h', 'localhost', '-p', String(ports.mtls), '--cafile', files!.path('ca.pem'), '-t', 'compose/b', '-m', 'x'],
        { timeoutMs: 30_000 },
      );
      expect(pub.code).not.toBe(0);
      await logs!.wait(/peer did not return a certificate/, from, 30_000);
    });

    test('down -v removes every container and volume of the project', async () => {
      await down();
      const containers = await runTool(
        'docker',
        ['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${project}`],
        { timeoutMs: 60_000 },
      );
      expect(containers.code, containers.err).toBe(0);
      expect(containers.out.trim()).toBe('');
      const volumes = await runTool(
        'docker',
        ['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`],
        { timeoutMs: 60_000 },
      );
      expect(volumes.out.trim()).toBe('');
    });
  });
}

/** Follow a container's log (`docker logs -f`) and wait for a line in it, for at most `timeoutMs`. */
function followLogs(id: string): {
  lines: string[];
  wait(re: RegExp, from?: number, timeoutMs?: number): Promise<string>;
  stop(): void;
} {
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const child = killOnExit(spawn('docker', ['logs', '-f', id], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let partial = '';
  const onData = (d: Buffer): void => {
    const parts = (partial + d.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const w of waiters) w();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let ended = false;
  child.once('exit', () => {
    ended = true;
    for (const w of waiters) w();
  });
  return {
    lines,
    wait(re, from = 0, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const fail = (why: string): void => {
          waiters.delete(check);
          reject(new Error(`the container's log ${why} without ${re}; it says:\n${lines.slice(-10).join('\n')}`));
        };
        const timer = setTimeout(() => fail(`went ${timeoutMs} ms`), timeoutMs);
        const check = (): void => {
          const hit = lines.slice(from).find((l) => re.test(l));
          if (hit !== undefined) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(hit);
          } else if (ended) {
            clearTimeout(timer);
            fail('ended');
          }
        };
        waiters.add(check);
        check();
      });
    },
    stop() {
      child.kill();
    },
  };
}
