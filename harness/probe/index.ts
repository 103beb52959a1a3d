/**
 * The probe's public face: learn a firmware's AT dialect from a device and write it as a
 * profile (docs/probe.md).
 */
export { LEARNABLE_FIELDS, probe, STEPS, wireSeconds, type ProbeOptions, type ProbeResult } from './probe.ts';
export { opensslCipherName, type BrokerReach } from './steps/broker.ts';
export { diffLearned, type Difference } from './diff.ts';
export { FIELDS, valueAt } from './fields.ts';
export { ProbeRefusedError, ProbeSilentError } from './errors.ts';
export { timingSame, TIMING_TOLERANCE, withTiming, type MeasuredTiming, type TimingValue } from './timing.ts';
export { evidenceOf, evidencePath, writeProbe } from './write.ts';
export { uploadGuardMs, type Check, type Learned } from './context.ts';
export type { Exchange } from './wire.ts';
