/**
 * The module's certificate and key stores: one root certificate, three local certificates,
 * three private keys [BX-T KCERTDELETE_0002, KPRIVKDELETE_0002]. Contents survive AT+RST; with
 * `storePath` they are also kept in a JSON file, as flash would keep them across power cycles.
 * The file holds private keys: it is written with mode 0600 and only where the user asked.
 */
import { existsSync, readFileSync } from 'node:fs';
import { checkOutputFile, writeFileAtomic } from '../files.ts';
import { SimError } from './errors.ts';

export const LOCAL_SLOTS = 3;
export const KEY_SLOTS = 3;

interface StoreFile {
  version: 1;
  root: string | null;
  local: Array<string | null>;
  keys: Array<string | null>;
}

const b64 = (b: Buffer | undefined): string | null => (b ? b.toString('base64') : null);
const unb64 = (s: string | null | undefined): Buffer | undefined =>
  typeof s === 'string' ? Buffer.from(s, 'base64') : undefined;

export class Stores {
  root: Buffer | undefined;
  readonly local: Array<Buffer | undefined> = new Array<Buffer | undefined>(LOCAL_SLOTS).fill(undefined);
  readonly keys: Array<Buffer | undefined> = new Array<Buffer | undefined>(KEY_SLOTS).fill(undefined);
  readonly #path: string | undefined;

  constructor(path?: string) {
    this.#path = path;
    if (path) {
      // At start, not on the first upload: the file is rewritten beside itself on every change.
      try {
        checkOutputFile(path, 'store');
      } catch (cause) {
        throw new SimError('BXHIL_SIM_STORE', (cause as Error).message, { cause });
      }
    }
    if (path && existsSync(path)) this.#load(path);
  }

  #load(path: string): void {
    let data: StoreFile;
    try {
      data = JSON.parse(readFileSync(path, 'utf8')) as StoreFile;
    } catch (cause) {
      throw new SimError(
        'BXHIL_SIM_STORE',
        `cannot read the module store ${path}: ${(cause as Error).message}; delete it to start empty`,
        { cause },
      );
    }
    if (data?.version !== 1)
      throw new SimError(
        'BXHIL_SIM_STORE',
        `${path} is not a bx-hil module store (version 1); delete it to start empty`,
      );
    this.root = unb64(data.root);
    for (let i = 0; i < LOCAL_SLOTS; i++) this.local[i] = unb64(data.local?.[i]);
    for (let i = 0; i < KEY_SLOTS; i++) this.keys[i] = unb64(data.keys?.[i]);
  }

  /** Write the file (when a path was given), atomically. */
  persist(): void {
    if (!this.#path) return;
    const data: StoreFile = { version: 1, root: b64(this.root), local: this.local.map(b64), keys: this.keys.map(b64) };
    try {
      // Beside the file under a random name, no-follow, then renamed: a symbolic link planted at
      // a predictable temporary name would otherwise receive the private keys.
      writeFileAtomic(this.#path, JSON.stringify(data), { mode: 0o600 });
    } catch (cause) {
      throw new SimError(
        'BXHIL_SIM_STORE',
        `cannot write the module store ${this.#path}: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  /** Put certificates and keys straight into the store (tests, `bx-hil sim` preloading). */
  preload(content: {
    root?: string | Buffer;
    local?: Array<string | Buffer | undefined>;
    keys?: Array<string | Buffer | undefined>;
  }): void {
    const buf = (v: string | Buffer | undefined) => (v === undefined ? undefined : Buffer.from(v));
    if (content.root !== undefined) this.root = buf(content.root);
    content.local?.forEach((v, i) => (this.local[i] = buf(v)));
    content.keys?.forEach((v, i) => (this.keys[i] = buf(v)));
    this.persist();
  }
}
