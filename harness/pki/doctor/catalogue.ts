/**
 * Every finding doctor can report, stated once: its severity, its one-line message and its fix,
 * as functions of the values the check found. A check names a code and gives the values
 * (`finding('EXPIRED', file, { label, notAfter })`); the wording lives here only.
 * docs/pki.md lists the codes for users; the codes are stable, the wording may improve.
 */
import type { Finding, Severity } from './types.ts';

/** Certificate names in messages are common names (`cn()` in describe.ts). */
interface Label {
  label: string;
}
interface Command {
  /** `AT+KCERTSTORE` etc. */
  command: string;
}
/** A profile limit and where its value comes from (a reference tag, or `profile`). */
interface ProfileLimit {
  profile: string;
  source: string;
}

/** The values each finding is stated from; a code with several cases has a `kind`. */
export interface FindingValues {
  AT_DATA_INVALID: Command & { reason: string };
  CA_KEY: { ca: string; certFile: string };
  KEY_CERT_MATCH: { subject: string; certFile: string };
  KEY_CERT_MISMATCH: { key: string; publicKeySha256: string; leaves: string[] };
  KEY_NO_CERT: { key: string };
  KEY_ENCRYPTED: { file: string };
  KEY_FORMAT: ProfileLimit & { file: string; encoding: string; keyType: string; accepted: string[] };
  KEY_FORMAT_UNVERIFIED: ProfileLimit & { file: string; encoding: string };
  KEY_TOO_LARGE:
    | (ProfileLimit & { kind: 'key'; bits?: number; max: number })
    | (Label & { kind: 'certificate'; bits?: number; profile: string; max: number });
  KEY_TYPE: (ProfileLimit & { kind: 'curve'; curve?: string; curves: string[] }) | { kind: 'type'; type: string };
  PEM_JSON_ESCAPED: Record<string, never>;
  PEM_REQUIRED: { file: string; isKey: boolean };
  LINE_ENDINGS:
    | { kind: 'mixed'; file: string }
    | (ProfileLimit & { kind: 'crlf'; file: string; accepted: string[] })
    | (ProfileLimit & { kind: 'lf'; file: string })
    | (ProfileLimit & Command & { kind: 'at-data' });
  SLOT_TOO_LARGE:
    | { kind: 'file'; bytes: number; max: number; source: string; certificates: number }
    | (Command & { kind: 'declared'; bytes: number; max: number })
    | (Command & { kind: 'inline'; bytes: number; max: number });
  CHAIN_IN_FILE: { certificates: number; firstIsCa: boolean };
  PUBLIC_ROOT: { name: string; note: string; sha256: string };
  NOT_YET_VALID: Label & { notBefore: Date; now: Date };
  EXPIRED: Label & { notAfter: Date };
  EXPIRES_SOON: Label & { notAfter: Date };
  DEVICE_CLOCK:
    (Label & { kind: 'outside'; clock: Date; notBefore: Date; notAfter: Date }) | { kind: 'no-certificates' };
  WEAK_SIGNATURE: Label & { algorithm: string };
  WEAK_KEY: Label & { bits?: number };
  HOST_OK: Label & { host: string };
  HOST_MISMATCH: Label & { host: string; names: string[] };
  WRONG_ROOT: { host: string; roots: string[] };
  CHAIN_OK: Label & { root: string; rootFile: string; via: string[] };
  CHAIN_UNTRUSTED:
    | (Label & { kind: 'same-name'; file: string; name: string; signed: string })
    | (Label & { kind: 'public'; publicRoot: string; roots: string[] })
    | (Label & { kind: 'issuer-missing'; roots: string[]; issuer: string; issuerCn: string; intermediate: boolean });
  CHAIN_PUBLIC: Label & { publicRoot: string };
  AWS_DEVICE_CERT: Label & { issuer: string };
  CLIENT_CA_NOT_GIVEN: Label & { issuer: string };
  CHAIN_NOT_CHECKED: Label & { issuer: string };
  TYPOGRAPHIC_QUOTES: Command & { fixed: string };
  AT_MISSING_PARAM:
    | (Command & { kind: 'no-parameters' })
    | (Command & { kind: 'too-few'; count: number; min: number })
    | (Command & { kind: 'slot-index' });
  AT_QUOTES: Command;
  AT_EXTRA_PARAM: Command & { count: number; max: number };
  AT_RANGE: Command &
    (
      | { kind: 'data-type' | 'byte-count' | 'slot-index' | 'secure' | 'port' | 'version'; got?: string }
      | { kind: 'zero-bytes'; max: number }
    );
  AT_TLS_OFF: Command;
  AT_TRAILING_COMMA: Command;
  AT_NO_ESCAPE: Command;
  AT_BYTE_COUNT:
    | (Command & { kind: 'inline'; declared: number; actual: number; corrected: string })
    | (Command & {
        kind: 'file';
        declared: number;
        file: string;
        bytes: number;
        lineEndings: string;
        finalNewline: boolean;
      });
}

/** The code of a doctor finding (its catalogue entry has the severity, message and fix). */
export type FindingCode = keyof FindingValues;

export interface CatalogueEntry<V> {
  severity: Severity | ((v: V) => Severity);
  message: (v: V) => string;
  fix: (v: V) => string;
}

const BX_ERROR_916 = '+CME ERROR: 916 [BX-T]';
const COUNT_THE_BYTES = 'give the exact number of bytes that follow CONNECT';
const SAME_AGAIN = 'nothing to do';
const storePublicRoot = (v: { publicRoot: string }) => `store ${v.publicRoot} in the module (AT+KCERTSTORE=0)`;
const keyEncoding = (encoding: string) => encoding.toUpperCase().replace('PKCS', 'PKCS#');
const list = (names: string[]) => names.join(', ');

export const CATALOGUE: { readonly [C in FindingCode]: CatalogueEntry<FindingValues[C]> } = {
  // ---- keys
  CA_KEY: {
    severity: 'warning',
    message: (v) => `this is the private key of the CA ${v.ca} (${v.certFile}), not a device key`,
    fix: () => 'keep CA keys off the module and out of tickets; the module needs only the CA certificate',
  },
  KEY_CERT_MATCH: {
    severity: 'info',
    message: (v) => `the key belongs to ${v.subject} (${v.certFile})`,
    fix: () => 'upload both: the certificate with AT+KCERTSTORE=1,<len>,0 and the key with AT+KPRIVKSTORE=0,<len>',
  },
  KEY_CERT_MISMATCH: {
    severity: 'error',
    message: (v) =>
      `the key (${v.key}, public key SHA-256 ${v.publicKeySha256.slice(0, 23)}...) belongs to none of the certificates given (${list(v.leaves)})`,
    fix: () =>
      'use the key file that was created with the certificate (AWS: the private.pem.key downloaded with it); a new certificate needs its own key',
  },
  KEY_NO_CERT: {
    severity: 'info',
    message: (v) => `no certificate given to check the key (${v.key}) against`,
    fix: () => 'pass the device certificate too to check that they belong together',
  },
  KEY_ENCRYPTED: {
    severity: 'error',
    message: () => 'the key is encrypted; the AT interface has no passphrase parameter, so the module cannot use it',
    fix: (v) =>
      `openssl pkey -in ${v.file} -traditional -out device.key (asks for the passphrase, writes it unencrypted; keep that file private)`,
  },
  KEY_FORMAT: {
    severity: 'error',
    message: (v) =>
      `the key is ${keyEncoding(v.encoding)}; firmware profile ${v.profile} takes ${list(v.accepted)} (${v.source})`,
    fix: (v) =>
      v.accepted.includes('pkcs1') || v.accepted.includes('sec1')
        ? `convert to ${v.keyType === 'RSA' ? 'PKCS#1 (BEGIN RSA PRIVATE KEY)' : 'SEC1 (BEGIN EC PRIVATE KEY)'}: openssl pkey -in ${v.file} -traditional -out device.key`
        : `convert to PKCS#8: openssl pkcs8 -topk8 -nocrypt -in ${v.file} -out device.key`,
  },
  KEY_FORMAT_UNVERIFIED: {
    severity: 'info',
    message: (v) =>
      `the key is ${keyEncoding(v.encoding)}; profile ${v.profile} takes it (${v.source}), but only PKCS#1 uploads are seen in vendor tests [BX-T]`,
    fix: (v) =>
      `if the upload or the handshake fails, convert it: openssl pkey -in ${v.file} -traditional -out device.key`,
  },
  KEY_TOO_LARGE: {
    severity: (v) => (v.kind === 'key' ? 'error' : 'warning'),
    message: (v) =>
      v.kind === 'key'
        ? `RSA-${v.bits} key; firmware profile ${v.profile} handles at most RSA-${v.max} (${v.source})`
        : `${v.label} has an RSA-${v.bits} key; verifying it may exhaust the module's memory (profile ${v.profile}: ${v.max} bits)`,
    fix: (v) =>
      v.kind === 'key'
        ? 'create the device certificate with an RSA-2048 or EC P-256 key'
        : 'prefer RSA-2048 or EC P-256 certificates',
  },
  KEY_TYPE: {
    severity: 'error',
    message: (v) =>
      v.kind === 'curve'
        ? `EC ${v.curve} key; firmware profile ${v.profile} supports ${v.curves.length ? list(v.curves) : 'no EC keys'} (${v.source})`
        : `${v.type} key; the module supports RSA and EC keys only [guess]`,
    fix: (v) =>
      v.kind === 'curve' ? 'use an RSA-2048 key, or a curve the profile lists' : 'use an RSA-2048 or EC P-256 key',
  },
  WEAK_KEY: {
    severity: 'warning',
    message: (v) => `${v.label} has an RSA-${v.bits} key; AWS IoT and OpenSSL security level 2 require 2048 bits`,
    fix: () => 'issue it again with RSA-2048 or EC P-256',
  },
  WEAK_SIGNATURE: {
    severity: 'warning',
    message: (v) => `${v.label} is signed with ${v.algorithm}; SHA-1 is refused by AWS IoT and modern TLS stacks`,
    fix: () => 'issue it again with SHA-256',
  },

  // ---- layout of a file
  PEM_JSON_ESCAPED: {
    severity: 'error',
    message: () =>
      'the PEM has literal \\n sequences instead of line breaks (copied out of JSON); no PEM reader, and not the module, accepts it',
    fix: () =>
      `write it with real line breaks, e.g. node -e "process.stdout.write(JSON.parse(require('fs').readFileSync(0,'utf8')))" < file.json-string > file.pem`,
  },
  PEM_REQUIRED: {
    severity: 'error',
    message: () => 'the file is binary DER; the module takes PEM text',
    fix: (v) =>
      v.isKey
        ? `openssl pkey -inform der -in ${v.file} -traditional -out key.pem`
        : `openssl x509 -inform der -in ${v.file} -out cert.pem`,
  },
  LINE_ENDINGS: {
    severity: 'error',
    message: (v) => {
      switch (v.kind) {
        case 'mixed':
          return 'the file mixes LF and CR LF line endings (edited on two systems); the byte count and the PEM parse get confused';
        case 'crlf':
          return `CR LF line endings; firmware profile ${v.profile} takes ${v.accepted.join('/').toUpperCase()} (${v.source})`;
        case 'lf':
          return `LF line endings; firmware profile ${v.profile} takes CR LF (${v.source})`;
        case 'at-data':
          return `the data after ${v.command} has CR LF line endings; firmware profile ${v.profile} takes LF (${v.source})`;
      }
    },
    fix: (v) => {
      switch (v.kind) {
        case 'mixed':
          return 'convert to LF only: sed -i "s/\\r$//" ' + v.file;
        case 'crlf':
          return `convert to LF: sed -i "s/\\r$//" ${v.file} (and count the bytes again)`;
        case 'lf':
          return `convert to CR LF: sed -i "s/$/\\r/" ${v.file} (and count the bytes again)`;
        case 'at-data':
          return 'send the PEM with LF line endings and count the bytes again';
      }
    },
  },
  SLOT_TOO_LARGE: {
    severity: 'error',
    message: (v) => {
      switch (v.kind) {
        case 'file':
          return `${v.bytes} bytes; one KCERTSTORE/KPRIVKSTORE upload takes at most ${v.max} (${v.source})`;
        case 'declared':
          return `${v.command} declares ${v.bytes} bytes; one upload takes at most ${v.max}: ${BX_ERROR_916}`;
        case 'inline':
          return `${v.bytes} bytes follow ${v.command}; one upload takes at most ${v.max}`;
      }
    },
    fix: (v) => {
      switch (v.kind) {
        case 'file':
          return v.certificates > 1
            ? 'store only the root certificate in the root slot, not the whole bundle'
            : 'use a smaller key or certificate (RSA-2048 or EC P-256)';
        case 'declared':
          return 'store only one certificate (or a smaller key) per slot';
        case 'inline':
          return 'store one certificate (or a smaller key) per slot';
      }
    },
  },
  CHAIN_IN_FILE: {
    severity: (v) => (v.firstIsCa ? 'warning' : 'info'),
    message: (v) =>
      v.firstIsCa
        ? `${v.certificates} CA certificates in one file (a bundle); a slot stores the bytes as given and which certificate the module uses is unknown [guess]`
        : `a certificate followed by ${v.certificates - 1} more (a chain as a server presents it); the module stores one certificate per slot [BX-T]`,
    fix: (v) =>
      v.firstIsCa
        ? 'store only the root CA that issued the server chain in the root slot'
        : 'upload only the first certificate when this is the device certificate',
  },

  // ---- validity
  NOT_YET_VALID: {
    severity: 'error',
    message: (v) => `${v.label} is not valid before ${v.notBefore.toISOString()} (now ${v.now.toISOString()})`,
    fix: () => 'wait, or issue it again with a notBefore in the past (check the clock of the machine that issued it)',
  },
  EXPIRED: {
    severity: 'error',
    message: (v) => `${v.label} expired on ${v.notAfter.toISOString()}`,
    fix: () => 'issue or download a new certificate',
  },
  EXPIRES_SOON: {
    severity: 'warning',
    message: (v) => `${v.label} expires on ${v.notAfter.toISOString()}, in less than 30 days`,
    fix: () => 'plan its replacement',
  },
  DEVICE_CLOCK: {
    severity: (v) => (v.kind === 'outside' ? 'error' : 'info'),
    message: (v) =>
      v.kind === 'outside'
        ? `at the module clock ${v.clock.toISOString()} ${v.label} is ${v.clock < v.notBefore ? `not valid yet (from ${v.notBefore.toISOString()})` : `expired (${v.notAfter.toISOString()})`}`
        : 'no certificate given to check against the module clock',
    fix: (v) =>
      v.kind === 'outside'
        ? 'set the module clock (NTP) before connecting; a module that connects anyway does not check validity'
        : 'pass the certificate files too',
  },

  // ---- chain, roots and host
  PUBLIC_ROOT: {
    severity: 'info',
    message: (v) => `this is ${v.name} (${v.note}), SHA-256 ${v.sha256.slice(0, 23)}...`,
    fix: () => 'store it with AT+KCERTSTORE=0 when the module connects to a server under this root',
  },
  CHAIN_OK: {
    severity: 'info',
    message: (v) => `${v.label} chains to ${v.root}${v.via.length ? ` via ${list(v.via)}` : ''} (${v.rootFile})`,
    fix: () => SAME_AGAIN,
  },
  CHAIN_UNTRUSTED: {
    severity: (v) => (v.kind === 'issuer-missing' && v.intermediate ? 'warning' : 'error'),
    message: (v) => {
      switch (v.kind) {
        case 'same-name':
          return `${v.label}: ${v.file} has the issuer's name (${v.name}) but its key did not sign ${v.signed}: a different CA with the same name`;
        case 'public':
          return `${v.label} chains to ${v.publicRoot}, but the root(s) given are ${list(v.roots)}`;
        case 'issuer-missing':
          return `${v.label} does not chain to the root(s) given (${list(v.roots)}); its issuer ${v.issuer} is missing`;
      }
    },
    fix: (v) => {
      switch (v.kind) {
        case 'same-name':
          return 'get the CA certificate that really issued it (compare the Authority Key Identifier: openssl x509 -noout -ext authorityKeyIdentifier)';
        case 'public':
          return storePublicRoot(v);
        case 'issuer-missing':
          return `store the root that issued "${v.issuerCn}" in the module, or have the server send its intermediate certificate`;
      }
    },
  },
  CHAIN_PUBLIC: {
    severity: 'info',
    message: (v) => `${v.label} chains to ${v.publicRoot} (not among the files)`,
    fix: storePublicRoot,
  },
  AWS_DEVICE_CERT: {
    severity: 'info',
    message: (v) =>
      `${v.label} is issued by AWS IoT's device CA (${v.issuer}), which is not a root you store: AWS checks it against the certificates registered in your account. The root CA file is for checking the server`,
    fix: () => 'nothing to do for the chain; make sure the certificate is ACTIVE and has a policy attached in AWS IoT',
  },
  CLIENT_CA_NOT_GIVEN: {
    severity: 'warning',
    message: (v) =>
      `${v.label} is issued by ${v.issuer}, which is not among the files; the broker, not the module, must trust that CA`,
    fix: () =>
      'register that CA with the broker (AWS: register the CA or the certificate); pass its certificate to doctor to check the chain',
  },
  CHAIN_NOT_CHECKED: {
    severity: 'info',
    message: (v) => `no root certificate given to check ${v.label} against (issuer ${v.issuer})`,
    fix: () => 'pass the root CA file the module stores to check the chain',
  },
  HOST_OK: {
    severity: 'info',
    message: (v) => `${v.label} is valid for ${v.host}`,
    fix: () => SAME_AGAIN,
  },
  HOST_MISMATCH: {
    severity: 'error',
    message: (v) => `${v.label} is for ${list(v.names) || `CN ${v.label}`}, not ${v.host}`,
    fix: (v) => `configure the session with a name the certificate carries, or issue it with SAN DNS:${v.host}`,
  },
  WRONG_ROOT: {
    severity: 'error',
    message: (v) =>
      `${v.host} is an AWS IoT endpoint, whose server chain ends at Amazon Root CA 1 (RSA) or 3 (ECDSA); the root given is ${list(v.roots)}`,
    fix: () => 'store Amazon Root CA 1 (https://www.amazontrust.com/repository/AmazonRootCA1.pem) with AT+KCERTSTORE=0',
  },

  // ---- AT file
  AT_DATA_INVALID: {
    severity: 'error',
    message: (v) => `the data after ${v.command} cannot be read: ${v.reason}`,
    fix: () => 'upload the PEM file exactly as exported (check it with bx-hil doctor <file>)',
  },
  TYPOGRAPHIC_QUOTES: {
    severity: 'error',
    message: (v) =>
      `${v.command} uses typographic quotes (“ ” or ‘ ’, as web pages and word processors render them); the module reads them as part of the value, not as string delimiters`,
    fix: (v) => `retype the quotes as plain ASCII ": ${v.fixed}`,
  },
  AT_MISSING_PARAM: {
    severity: 'error',
    message: (v) => {
      switch (v.kind) {
        case 'no-parameters':
          return `${v.command} without parameters answers ERROR on the BX [BX-T]`;
        case 'too-few':
          return `${v.command} has ${v.count} parameter(s), needs at least ${v.min}: the module answers +CME ERROR: 917 [BX-T]`;
        case 'slot-index':
          return `${v.command}=1 needs the slot index (third parameter): +CME ERROR: 917 [BX-T]`;
      }
    },
    fix: (v) => {
      switch (v.kind) {
        case 'no-parameters':
          return `give the parameters: ${v.command}=...`;
        case 'too-few':
          return `complete the command (docs/reference/bx310x-at.md lists the parameters of ${v.command})`;
        case 'slot-index':
          return `${v.command}=1,<len>,0`;
      }
    },
  },
  AT_QUOTES: {
    severity: 'error',
    message: (v) => `${v.command} has an unbalanced " quote; the BX answers plain ERROR [BX-T]`,
    fix: () => 'close every quoted string, and do not put " inside a value',
  },
  AT_EXTRA_PARAM: {
    severity: 'error',
    message: (v) =>
      `${v.command} has ${v.count} parameters, at most ${v.max} are accepted: the module answers +CME ERROR: 915 [BX-T]`,
    fix: () => 'remove the extra parameters (a trailing comma counts as one)',
  },
  AT_RANGE: {
    severity: 'error',
    message: (v) => {
      switch (v.kind) {
        case 'data-type':
          return `${v.command}: data type must be 0 (root) or 1 (local certificate), got ${v.got}: ${BX_ERROR_916}`;
        case 'byte-count':
          return `${v.command}: the byte count "${v.got}" is not a number: ${BX_ERROR_916}`;
        case 'zero-bytes':
          return `${v.command} declares 0 bytes (the range is 1..${v.max}): ${BX_ERROR_916}`;
        case 'slot-index':
          return `${v.command}: slot index must be 0..2, got ${v.got}: ${BX_ERROR_916}`;
        case 'secure':
          return `${v.command}: the first parameter (secure) must be 0 or 1, got ${v.got}: ${BX_ERROR_916}`;
        case 'port':
          return `${v.command}: port must be 0..65535, got ${v.got}: ${BX_ERROR_916}`;
        case 'version':
          return `${v.command}: MQTT version must be 3 or 4, got ${v.got}: ${BX_ERROR_916}`;
      }
    },
    fix: (v) => {
      switch (v.kind) {
        case 'data-type':
          return `${v.command}=0,<len> for the root CA, ${v.command}=1,<len>,0 for the device certificate`;
        case 'byte-count':
        case 'zero-bytes':
          return COUNT_THE_BYTES;
        case 'slot-index':
          return 'use slot 0';
        case 'secure':
          return 'use 1 for TLS';
        case 'port':
          return 'use 8883 for MQTT over TLS';
        case 'version':
          return 'use 4 (MQTT 3.1.1)';
      }
    },
  },
  AT_TLS_OFF: {
    severity: 'warning',
    message: (v) =>
      `${v.command}: the first parameter is 0, so the session is plain TCP and the certificates are not used`,
    fix: () => 'set the first parameter to 1 for TLS',
  },
  AT_TRAILING_COMMA: {
    severity: 'info',
    message: (v) =>
      `${v.command} ends with an empty parameter (a trailing comma); firmware 2.6.3 accepted it [report], the defaults then apply`,
    fix: () => 'drop the trailing comma to be safe',
  },
  AT_NO_ESCAPE: {
    severity: 'error',
    message: (v) => `the data after ${v.command} never ends with +++; the module stays in data mode`,
    fix: () => 'send +++ (without CR) after a pause once the data is sent',
  },
  AT_BYTE_COUNT: {
    severity: 'error',
    message: (v) =>
      v.kind === 'inline'
        ? `${v.command} declares ${v.declared} bytes but ${v.actual} bytes follow CONNECT`
        : `${v.command} declares ${v.declared} bytes but ${v.file} is ${v.bytes} bytes (${v.lineEndings === 'crlf' ? 'CR LF' : 'LF'} line endings${v.finalNewline ? '' : ', no final newline'})`,
    fix: (v) =>
      v.kind === 'inline'
        ? `declare ${v.actual}: ${v.corrected}`
        : `declare exactly the bytes you send: ${v.bytes} for ${v.file} as it is`,
  },
};

/** The finding for `code` about `file`, stated from `values` by the catalogue. */
export function finding<C extends FindingCode>(code: C, file: string | undefined, values: FindingValues[C]): Finding {
  const entry = CATALOGUE[code] as CatalogueEntry<FindingValues[C]>;
  const severity = typeof entry.severity === 'function' ? entry.severity(values) : entry.severity;
  return { severity, code, file, message: entry.message(values), fix: entry.fix(values) };
}
