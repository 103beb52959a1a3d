/**
 * The Mosquitto config the rig runs with, and the files it names (CA, server certificate and
 * key), written into one private directory. The same config serves the local process and the
 * container; only the directory the config's paths point at differs.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrokerRig, ProfileName } from './types.ts';

export interface MosquittoConfig {
  profile: ProfileName;
  pki: BrokerRig['pki'];
  /** The `listener` line, e.g. `listener 8883 127.0.0.1`. */
  listener: string;
  /** Minimum TLS version (`tls_version`). Default `tlsv1.2`. */
  tlsVersion?: 'tlsv1.1' | 'tlsv1.2' | 'tlsv1.3';
  /** Extra lines appended to the listener section. */
  extraConfig?: string[];
}

/** The files a config of `profile` names, beside `mosquitto.conf` (what a container gets copied). */
export function configFiles(profile: ProfileName): string[] {
  return profile === 'plain' ? ['mosquitto.conf'] : ['mosquitto.conf', 'ca.pem', 'server.pem', 'server.key'];
}

/**
 * Write `mosquitto.conf` and its material into `dir`; paths inside the config are under
 * `confDir` (`dir` itself for a local process). Returns the config's path in `dir`.
 */
export function writeMosquittoConfig(dir: string, config: MosquittoConfig, confDir = dir): string {
  const at = (name: string): string => `${confDir}/${name}`;
  const { profile, pki } = config;
  const tlsOn = profile !== 'plain';
  const lines = [
    'per_listener_settings true',
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
    config.listener,
  ];
  if (tlsOn) {
    writeFileSync(join(dir, 'ca.pem'), [pki.ca, ...(pki.extraCa ?? [])].map((c) => c.certPem).join(''));
    writeFileSync(join(dir, 'server.pem'), pki.server.certPem);
    writeFileSync(join(dir, 'server.key'), pki.server.keyPem, { mode: 0o600 });
    lines.push(
      `cafile ${at('ca.pem')}`,
      `certfile ${at('server.pem')}`,
      `keyfile ${at('server.key')}`,
      `tls_version ${config.tlsVersion ?? 'tlsv1.2'}`,
    );
    if (profile === 'tls-server-only') lines.push('require_certificate false', 'allow_anonymous true');
    else lines.push('require_certificate true', 'use_identity_as_username true', 'allow_anonymous false');
  } else {
    lines.push('allow_anonymous true');
  }
  lines.push(...(config.extraConfig ?? []));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `${lines.join('\n')}\n`);
  // P11: Mosquitto started as root drops to user "mosquitto" before reading its key.
  if (process.getuid?.() === 0) {
    const gid = mosquittoGid();
    chmodSync(dir, 0o750);
    if (gid !== undefined) {
      chownSync(dir, 0, gid);
      if (tlsOn) {
        chownSync(join(dir, 'server.key'), 0, gid);
        chmodSync(join(dir, 'server.key'), 0o640);
      }
    } else {
      chmodSync(dir, 0o755);
      if (tlsOn) chmodSync(join(dir, 'server.key'), 0o644);
    }
  }
  return conf;
}

function mosquittoGid(): number | undefined {
  const r = spawnSync('getent', ['group', 'mosquitto'], { encoding: 'utf8' });
  const gid = Number(r.stdout?.split(':')[2]);
  return Number.isInteger(gid) ? gid : undefined;
}
