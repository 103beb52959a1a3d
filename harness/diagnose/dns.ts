/**
 * Evidence -> verdict for the lab's DNS record: before a module can reach the
 * broker it must ask for the broker's name. The DNS responder (`harness/lab`) puts every query
 * on the bus as `source: 'dns', kind: 'query'`; this judges them against the name the module
 * was configured with:
 * - `DNS_NEVER_ASKED`: no query at all (the module has no DNS server from DHCP, is not on the
 *   network, or connected by IP / a cached answer);
 * - `DNS_WRONG_NAME`: it asked, but for another name; when the nearest name it asked for is a
 *   few edits away, the verdict says it looks like a typo;
 * - `DNS_OK`: it asked for the broker's name.
 */
import type { EvidenceEvent } from '../evidence.ts';
import type { Verdict } from './record.ts';

export type DnsVerdictCode = 'DNS_OK' | 'DNS_NEVER_ASKED' | 'DNS_WRONG_NAME';

/** A verdict of the DNS record: the shape of a connection `Verdict`, with its own codes. */
export interface DnsVerdict extends Omit<Verdict, 'code' | 'connectionId'> {
  code: DnsVerdictCode;
  /** For `DNS_WRONG_NAME`: the asked name nearest to the expected one. */
  asked?: string;
  /** Edits between `asked` and the expected name when they are close enough to be a typo. */
  typoDistance?: number;
}

/** What the judgement needs of one query. */
export interface DnsQuerySeen {
  name: string;
  type?: string;
  rcode?: string;
  from?: string;
  addresses?: string[];
}

/** Names this many edits (or fewer) from the expected one are called a typo. */
const TYPO_MAX_EDITS = 2;

/** The DNS queries on an evidence timeline, oldest first. */
export function dnsQueriesFrom(events: readonly EvidenceEvent[]): DnsQuerySeen[] {
  return events
    .filter((e) => e.source === 'dns' && e.kind === 'query' && typeof e.data?.['name'] === 'string')
    .map((e) => e.data as unknown as DnsQuerySeen);
}

function norm(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/**
 * Levenshtein distance. Hand-written: eleven lines for two host names, where a dependency
 * would be the only one of its kind in the project.
 */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

function describe(q: DnsQuerySeen): string {
  const said = q.addresses?.length ? q.addresses.join(', ') : (q.rcode ?? '?');
  return `DNS ${q.type ?? 'A'} ${q.name}${q.from ? ` from ${q.from}` : ''}: ${said}`;
}

/**
 * Judge the DNS queries against the broker's name. `from` (an address, without port) keeps only
 * the queries of one module when several share the responder.
 */
export function judgeDnsQueries(
  queries: readonly DnsQuerySeen[],
  expected: string,
  options: { from?: string } = {},
): DnsVerdict {
  const mine = options.from
    ? queries.filter((q) => q.from === options.from || q.from?.startsWith(`${options.from}:`))
    : [...queries];
  const want = norm(expected);
  const hit = mine.find((q) => norm(q.name) === want);
  if (hit) {
    return {
      code: 'DNS_OK',
      summary: `the module asked for the broker's name (${expected})`,
      evidence: [describe(hit)],
      fix: 'nothing: the module resolved the broker by its name',
    };
  }
  if (mine.length === 0) {
    return {
      code: 'DNS_NEVER_ASKED',
      summary: `the module never asked for the broker's name (${expected}): no DNS query reached the lab's responder`,
      evidence: [`no DNS query${options.from ? ` from ${options.from}` : ''} was recorded`],
      fix:
        "make the lab's DHCP hand out the responder as DNS server (dnsmasq dhcp-option=6,<ip>) and check the module " +
        'is on that network; a module configured with an IP address, or holding a cached answer, does not ask',
      side: 'device',
    };
  }
  const nearest = mine
    .map((q) => ({ q, d: editDistance(norm(q.name), want) }))
    .reduce((best, cur) => (cur.d < best.d ? cur : best));
  const typo = nearest.d <= TYPO_MAX_EDITS;
  const v: DnsVerdict = {
    code: 'DNS_WRONG_NAME',
    summary:
      `the module asked for a different name (${nearest.q.name}) than the broker's (${expected})` +
      (typo ? `: it looks like a typo (${nearest.d} character${nearest.d === 1 ? '' : 's'} differ)` : ''),
    evidence: mine.map(describe),
    fix: typo
      ? `correct the host name in AT+KMQTTCFG: ${nearest.q.name} → ${expected}`
      : `configure the module with the broker's name (${expected}), or map ${nearest.q.name} to the broker in the lab file's network.dns.names`,
    side: 'device',
    asked: nearest.q.name,
  };
  if (typo) v.typoDistance = nearest.d;
  return v;
}
