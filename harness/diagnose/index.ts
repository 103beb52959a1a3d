/**
 * Evidence -> verdict (docs/DESIGN.md): the connection record and verdict shapes, the judgement of a
 * broker record (`judgeRecord`, which the broker rig calls live) and the two-sided diagnosis
 * that adds the module's lines.
 */
export { diagnose, diagnoseConnection, explainModuleLine, formatVerdict, type DiagnoseOptions } from './diagnose.ts';
export { VERDICT_FIX, judgeRecord } from './verdict.ts';
export {
  dnsQueriesFrom,
  editDistance,
  judgeDnsQueries,
  type DnsQuerySeen,
  type DnsVerdict,
  type DnsVerdictCode,
} from './dns.ts';
// record.ts holds only the record and verdict shapes (types).
export type * from './record.ts';
