/**
 * `bx-hil run` against a module that echoes a stored key (no sink may show it), end to end through the
 * real CLI in a child process, as a user runs it.
 *
 * Glossary: "hostile module" = a net.Server on 127.0.0.1 (port 0) in front of the virtual module
 * served over TCP (the `reference` profile, reached as a `tcp://` device like a ser2net port).
 * It passes every byte through, keeps the private key the harness uploads with AT+KPRIVKSTORE,
 * and answers the read form `AT+KPRIVKSTORE?` with that key's base64 body lines before OK: the
 * firmware bug that "read form lists the stored keys without echoing key material" exists to
 * catch. "Body lines" = the base64 lines of the PEM between BEGIN and END.
 */
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MIN_KEY_RUN } from '../secrets.ts';
import { createVirtualModule, serveModule, type SimServer, type VirtualModule } from '../sim/index.ts';
import { runCli } from './testing.ts';

const dir = mkdtempSync(join(tmpdir(), 'bxhil-run-secrets-'));
const PEM_KEY = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----\r?\n?/;

let vm: VirtualModule;
let sim: SimServer;
let hostile: Server;
const sockets = new Set<Socket>();
/** The private keys the harness uploaded, as the hostile module received them. */
const uploadedKeys: string[] = [];
let echoes = 0;

/** The hostile module: a pass-through that echoes the stored key's body lines in the read form. */
function startHostile(target: SimServer): Promise<Server> {
  const server = createServer((host) => {
    const module = createConnection(target.port, '127.0.0.1');
    for (const s of [host, module]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    host.on('close', () => module.destroy());
    module.on('close', () => host.destroy());
    let up = '';
    let inject = false;
    let down = '';
    host.on('data', (chunk: Buffer) => {
      up += chunk.toString('latin1');
      const key = PEM_KEY.exec(up);
      if (key) {
        uploadedKeys.push(key[0]);
        up = up.slice(key.index + key[0].length);
      }
      if (up.includes('AT+KPRIVKSTORE?\r')) {
        inject = true;
        up = '';
      }
      if (up.length > 8192) up = up.slice(-4096);
      module.write(chunk);
    });
    module.on('data', (chunk: Buffer) => {
      if (!inject) return void host.write(chunk);
      // Hold the read form's answer until its OK, then put the key's body lines before it.
      down += chunk.toString('latin1');
      const ok = down.indexOf('\r\nOK\r\n');
      if (ok < 0) return;
      const key = uploadedKeys.at(-1);
      const lines = key ? bodyLines(key).map((l) => `${l}\r\n`) : [];
      if (lines.length > 0) echoes++;
      host.write(Buffer.from(down.slice(0, ok) + '\r\n' + lines.join('') + down.slice(ok), 'latin1'));
      down = '';
      inject = false;
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function bodyLines(pem: string): string[] {
  return pem.split(/\r?\n/).filter((l) => l !== '' && !l.startsWith('-----'));
}

/** Every file under `d`, recursively. */
function filesUnder(d: string): string[] {
  return readdirSync(d).flatMap((name) => {
    const p = join(d, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

beforeAll(async () => {
  vm = createVirtualModule({ profile: 'reference' });
  sim = await serveModule(vm);
  hostile = await startHostile(sim);
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => hostile.close(() => r()));
  await sim.close();
  await vm.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('bx-hil run against a module whose read form echoes the stored key', () => {
  test('SECURITY FAILURE in the console and results; no body line (nor a 16-char run) in any sink; exit 1', async () => {
    const out = join(dir, 'report');
    const device = `tcp://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
    const r = await runCli([
      'run',
      '--device',
      device,
      '--suite',
      'cert-upload',
      '--test',
      'read form lists the stored keys',
      '--no-preflight',
      '--out',
      out,
    ]);
    // The hostile module did its part: it received the key and echoed it.
    expect(uploadedKeys.length, r.out).toBeGreaterThan(0);
    expect(echoes, r.out).toBeGreaterThan(0);
    const key = uploadedKeys.at(-1)!;
    expect(() => createPrivateKey(key)).not.toThrow();

    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/FAIL +cert-upload\/private keys\/read form lists the stored keys/);
    expect(r.out).toContain('SECURITY FAILURE: the module echoed stored key material');
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      tests: { id: string; outcome: string; securityFailure?: boolean; error?: string }[];
    };
    const t = results.tests.find((x) => x.id.endsWith('read form lists the stored keys without echoing key material'))!;
    expect(t).toMatchObject({ outcome: 'fail', securityFailure: true });
    expect(t.error).toMatch(/SECURITY FAILURE: the module echoed stored key material/);

    // Every sink: the console, results.json, junit.xml, index.html and every evidence file.
    const sinks: [string, string][] = [['console', r.out]];
    for (const f of filesUnder(out)) sinks.push([f.slice(out.length + 1), readFileSync(f, 'latin1')]);
    const names = sinks.map(([n]) => n);
    for (const must of ['results.json', 'junit.xml', 'index.html']) expect(names).toContain(must);
    expect(names.some((n) => n.endsWith('transcript.txt'))).toBe(true);
    expect(names.some((n) => n.endsWith('events.jsonl'))).toBe(true);
    const body = bodyLines(key).join('');
    const runs: string[] = [];
    for (let i = 0; i + MIN_KEY_RUN <= body.length; i++) runs.push(body.slice(i, i + MIN_KEY_RUN));
    for (const [name, text] of sinks) {
      for (const line of bodyLines(key))
        expect(text.includes(line), `${name} holds a body line of the key`).toBe(false);
      const leaked = runs.find((run) => text.includes(run));
      expect(leaked, `${name} holds a ${MIN_KEY_RUN}-char run of the key`).toBeUndefined();
    }

    // The finding is in the evidence, and a PEM rebuilt from the transcript alone is no key.
    const evidence = sinks.filter(([n]) => n.includes('read_form_lists'));
    const events = evidence.find(([n]) => n.endsWith('events.jsonl'))![1];
    expect(events).toContain('secret-echo');
    const transcript = evidence.find(([n]) => n.endsWith('transcript.txt'))![1];
    const rebuilt = [
      '-----BEGIN RSA PRIVATE KEY-----',
      ...transcript.split('\n').flatMap((l) => l.match(/[A-Za-z0-9+/=]{16,}/g) ?? []),
      '-----END RSA PRIVATE KEY-----',
      '',
    ].join('\n');
    expect(() => createPrivateKey(rebuilt)).toThrow();
  }, 180_000);
});
