/**
 * The lab file's `network:` section: the lab services a real module needs from the network.
 *
 *   network:
 *     dns:
 *       listen: 192.168.4.1:53          # the address the modules' DHCP names as DNS server
 *       names:                           # answered with A records
 *         abc123-ats.iot.eu-west-1.amazonaws.com: 192.168.4.1
 *       forward: 1.1.1.1                 # optional: the rest goes there (default NXDOMAIN)
 *
 * Validated once, here, into plain values; `parseLab` (harness/run/lab.ts) calls it.
 */
import { ConfigError } from '../errors.ts';
import { parseDnsAddress, parseDnsName } from './dns.ts';

/** The lab file's `network.dns`: the responder the modules' DHCP names, and the names it answers. */
export interface LabDnsConfig {
  listen: { host: string; port: number };
  /** Host name → IPv4 address. */
  names: Record<string, string>;
  /** `<ip>:<port>` of the upstream for every other name; absent: NXDOMAIN. */
  forward?: string;
}

/** The lab file's `network` section: the lab's own services (docs/lab.md). */
export interface LabNetworkConfig {
  dns?: LabDnsConfig;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function keys(o: Obj, path: string, allowed: string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k))
      throw new ConfigError(`${path}.${k}`, o[k], `${path}.${k}: unknown key; ${path} takes ${allowed.join(', ')}`);
  }
}

function address(v: unknown, path: string): { host: string; port: number } {
  if (typeof v !== 'string') {
    throw new ConfigError(path, v, `${path}: expected "<ipv4>[:<port>]" as a string, e.g. "192.168.4.1:53"`);
  }
  return parseDnsAddress(v, path);
}

/** `network:` of a lab file → its config, or undefined when absent. */
export function parseLabNetwork(value: unknown, path = 'network'): LabNetworkConfig | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObj(value))
    throw new ConfigError(path, value, `${path}: expected a mapping such as { dns: { listen, names } }`);
  keys(value, path, ['dns']);
  const network: LabNetworkConfig = {};
  const dns = value['dns'];
  if (dns !== undefined && dns !== null) {
    const p = `${path}.dns`;
    if (!isObj(dns)) throw new ConfigError(p, dns, `${p}: expected a mapping { listen, names, forward }`);
    keys(dns, p, ['listen', 'names', 'forward']);
    if (dns['listen'] === undefined)
      throw new ConfigError(
        `${p}.listen`,
        undefined,
        `${p}.listen: required, the address the modules' DHCP names as DNS server, e.g. "192.168.4.1:53"`,
      );
    const names = dns['names'];
    if (!isObj(names) || Object.keys(names).length === 0) {
      throw new ConfigError(
        `${p}.names`,
        names,
        `${p}.names: required, a mapping of host name to IPv4 address, e.g. { broker.lab.test: 192.168.4.1 }`,
      );
    }
    const parsed: LabDnsConfig = {
      listen: address(dns['listen'], `${p}.listen`),
      names: Object.fromEntries(
        Object.entries(names).map(([host, ip]) => parseDnsName(`${host}=${String(ip)}`, `${p}.names.${host}`)),
      ),
    };
    if (dns['forward'] !== undefined) {
      const f = address(dns['forward'], `${p}.forward`);
      parsed.forward = `${f.host}:${f.port}`;
    }
    network.dns = parsed;
  }
  return network;
}
