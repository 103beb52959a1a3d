/**
 * Loading: the certificate and key files, the AT file, and the data inline in the AT file.
 * Never throws for bad input: a file that cannot be used becomes an `unusable` report.
 */
import { PkiInputError } from '../errors.ts';
import { loadCertOrKeyFile, readInput, lineEndingsOf, type DoctorInput, type LoadedFile } from '../inspect.ts';
import { parseAtFile, splitAtArgs } from '../upload.ts';
import { stripQuotes } from './quotes.ts';
import type { AtFile, DoctorOptions, DoctorResult, FileReport, UnreadableAtData } from './types.ts';

export interface LoadOptions {
  maxFileBytes: number;
  passphrase?: string;
}

export interface Loaded {
  /** One per input in the order given, then one per readable inline upload: a file, or the report of an unusable one. */
  slots: Array<LoadedFile | FileReport>;
  /** The usable files of `slots`. */
  loaded: LoadedFile[];
  at?: AtFile;
  atReport?: FileReport;
  unreadableAtData: UnreadableAtData[];
  host?: string;
  hostSource?: DoctorResult['hostSource'];
}

function unusable(file: string, err: PkiInputError): FileReport {
  return {
    file,
    usable: false,
    kind: 'unusable',
    certificates: [],
    keys: [],
    problem: { code: err.problem, message: err.message },
  };
}

function nameOf(input: DoctorInput): string {
  return typeof input === 'string' ? input : input.name;
}

/** Read the AT file; an unusable one becomes its report. */
async function loadAtFile(input: DoctorInput, options: LoadOptions): Promise<{ at?: AtFile; report: FileReport }> {
  const name = nameOf(input);
  try {
    const { data } = await readInput(input, options);
    if (data.includes(0))
      throw new PkiInputError(name, 'binary', `${name}: binary data, not a text file of AT commands`);
    const text = data.toString('utf8');
    const lines = parseAtFile(text);
    if (lines.length === 0)
      throw new PkiInputError(
        name,
        'unrecognised',
        `${name}: no line starting with AT found; give a text file of AT commands`,
      );
    const report: FileReport = {
      file: name,
      usable: true,
      kind: 'at-commands',
      bytes: data.length,
      ...lineEndingsOf(text),
      certificates: [],
      keys: [],
    };
    return { at: { name, lines, text }, report };
  } catch (err) {
    if (!(err instanceof PkiInputError)) throw err;
    return { report: unusable(name, err) };
  }
}

/** The host the module dials: the option, else the server of the AT file's KMQTTCFG. */
function hostOf(options: DoctorOptions, at: AtFile | undefined): Pick<Loaded, 'host' | 'hostSource'> {
  if (options.host) return { host: options.host, hostSource: 'option' };
  const cfg = at?.lines.find((l) => l.name === '+KMQTTCFG' && l.form === 'set');
  const server = cfg ? splitAtArgs(cfg.args).params[1] : undefined;
  if (server && stripQuotes(server)) return { host: stripQuotes(server), hostSource: 'at-file' };
  return { host: options.host, hostSource: undefined };
}

export async function load(inputs: DoctorInput[], options: DoctorOptions, loadOptions: LoadOptions): Promise<Loaded> {
  const slots: Loaded['slots'] = [];
  const loaded: LoadedFile[] = [];
  for (const input of inputs) {
    try {
      const f = await loadCertOrKeyFile(input, loadOptions);
      loaded.push(f);
      slots.push(f);
    } catch (err) {
      if (!(err instanceof PkiInputError)) throw err;
      slots.push(unusable(nameOf(input), err));
    }
  }
  const { at, report: atReport } = options.at ? await loadAtFile(options.at, loadOptions) : { at: undefined };

  // Data uploaded inline in the AT file is checked like a file, unless a given file has the same bytes.
  const unreadableAtData: UnreadableAtData[] = [];
  for (const line of at?.lines ?? []) {
    if (line.data === undefined || line.unterminated) continue;
    const bytes = Buffer.from(line.data, 'utf8');
    if (loaded.some((f) => f.raw?.equals(bytes))) continue;
    const name = `${at!.name}:${line.line}`;
    try {
      const f = await loadCertOrKeyFile({ name, data: bytes }, loadOptions);
      loaded.push(f);
      slots.push(f);
    } catch (err) {
      if (!(err instanceof PkiInputError)) throw err;
      unreadableAtData.push({ where: name, command: `AT${line.name}`, reason: err.message.slice(name.length + 2) });
    }
  }
  return { slots, loaded, at, atReport, unreadableAtData, ...hostOf(options, at) };
}
