/**
 * doctor's public face: `runDoctor` and the shapes it reports. The work is in ./doctor/
 * (loading, describing, the checks and the catalogue of findings).
 */
export { runDoctor } from './doctor/index.ts';
export type {
  CertReport,
  DoctorInput,
  DoctorOptions,
  DoctorResult,
  FileReport,
  Finding,
  FindingCode,
  KeyReport,
  Severity,
} from './doctor/index.ts';
