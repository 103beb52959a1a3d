/**
 * harness/pki: certificate factory, scenario catalogue and material, upload.at, doctor.
 * Other areas may import from here or from the individual files (same names).
 */
export * from './factory.ts';
export * from './errors.ts';
export * from './public-roots.ts';
export * from './scenarios.ts';
export * from './upload.ts';
export * from './constraints.ts';
export { runDoctor } from './doctor.ts';
export type { CertReport, DoctorOptions, DoctorResult, FileReport, Finding, KeyReport, Severity } from './doctor.ts';
export { loadCertOrKeyFile, publicKeyFingerprint, describeKeyObject, DEFAULT_MAX_FILE_BYTES } from './inspect.ts';
export type { DoctorInput, FoundKeyEncoding, LoadedCert, LoadedFile, LoadedKey } from './inspect.ts';
