/**
 * The lab's own services (docs/DESIGN.md `harness/lab/`): what a real module needs from the network
 * besides the broker. Today the DNS responder that answers the run's host names.
 */
export {
  DnsResponder,
  normalizeDnsName,
  parseDnsAddress,
  parseDnsName,
  probeDns,
  type DnsProbeResult,
  startDnsResponder,
  type DnsQuery,
  type DnsResponderOptions,
} from './dns.ts';
export { SntpResponder, startSntpResponder, type SntpQuery, type SntpResponderOptions, type SntpTime } from './sntp.ts';
export { parseLabNetwork, type LabDnsConfig, type LabNetworkConfig } from './config.ts';
