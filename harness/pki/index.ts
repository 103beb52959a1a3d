/**
 * harness/pki's public face: other areas, suites and bench import from here, never from the
 * files behind it (harness/layering.test.ts). It holds the certificate factory, the scenario
 * catalogue and its material, the upload.at writer and parser, doctor and the public roots.
 * See docs/pki.md.
 */
export {
  KeyPool,
  createBasicPki,
  describeKeySpec,
  encodeKey,
  generateKey,
  issueCertificate,
  issueCrl,
  keyPairFromPem,
  pemChain,
  pemLayout,
  type BasicPki,
  type CertificateOptions,
  type EcCurve,
  type HashName,
  type Issued,
  type IssuedCrl,
  type KeyEncoding,
  type KeyPair,
  type KeySpec,
  type PemLayout,
  type RsaBits,
} from './factory.ts';
export { PkiInputError, UnknownScenarioError, type InputProblem } from './errors.ts';
export {
  AMAZON_ROOT_CA_1_PEM,
  AMAZON_ROOT_CA_2_PEM,
  AMAZON_ROOT_CA_3_PEM,
  AMAZON_ROOT_CA_4_PEM,
  PUBLIC_ROOTS,
  findPublicIssuer,
  findPublicRoot,
  type PublicRoot,
} from './public-roots.ts';
export {
  buildScenario,
  getScenario,
  scenarios,
  type BuildScenarioOptions,
  type Expected,
  type ScenarioCategory,
  type ScenarioEntry,
  type ScenarioFile,
  type ScenarioMaterial,
} from './scenarios.ts';
export {
  buildUploadAt,
  parseAtFile,
  splitAtArgs,
  storeCommand,
  type AtLine,
  type UploadItem,
  type UploadOptions,
} from './upload.ts';
export { BUILTIN_CONSTRAINTS, loadConstraints, type DeviceConstraints, type LineEnding } from './constraints.ts';
// doctor.ts is the doctor's own face: runDoctor and the shapes it reports.
export * from './doctor.ts';
export { DEFAULT_MAX_FILE_BYTES, describeKeyObject, loadCertOrKeyFile, publicKeyFingerprint } from './inspect.ts';
export type { FoundKeyEncoding, LoadedCert, LoadedFile, LoadedKey } from './inspect.ts';
