/** Evidence -> verdict (both sides). */
export { diagnose, diagnoseConnection, explainModuleLine, formatVerdict, type DiagnoseOptions } from './diagnose.ts';
export { VERDICT_FIX, judgeRecord } from '../broker/verdict.ts';
export type { Verdict, VerdictCode, ConnectionRecord } from '../broker/types.ts';
