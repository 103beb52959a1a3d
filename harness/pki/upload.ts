/**
 * `upload.at`: the exact AT sequence that stores a root, a device certificate and a key in a
 * BX310x (docs/reference/bx310x-at.md §3), and its parser (doctor reads user AT files with it).
 *
 * File format (one convention for writing and reading):
 * - Lines starting with `#` are notes for a person and are not sent; `# <- X` notes an answer.
 * - Every `AT...` line is sent followed by CR (`\r`), not CR LF [BX-T]; [3P] reports that an
 *   extra LF is read as an empty command on HL7811.
 * - After `AT+KCERTSTORE=...`/`AT+KPRIVKSTORE=...` and `CONNECT`, the data bytes follow exactly
 *   as they are to be sent (their count is the `<NbData>` of the command), immediately followed
 *   by `+++` (sent without CR, after a pause: [BX-T] waits 1.5 s, [BX-L] 100 ms). When the data
 *   ends with a newline, `+++` is on a line of its own; when it does not ([BX-L] style), it
 *   follows the `-----END ...-----` marker on the same line.
 */
import { splitAtArgs as splitFields } from '../at-args.ts';

/** One store operation: what goes where. */
export interface UploadItem {
  kind: 'root' | 'client-cert' | 'key';
  /** Exact data bytes (PEM text as the module gets it). */
  data: string;
  /** Slot index for a device certificate or key (0..2 [BX-T]). Default 0. */
  index?: number;
}

/** Options of `buildUploadAt`: its title, the items to store and the session example. */
export interface UploadOptions {
  title: string;
  items: UploadItem[];
  /** Session example appended after the uploads. */
  session?: { host: string; port: number; clientId: string };
}

/** The command that opens the data phase for an item, with `<NbData>` = the item's byte count. */
export function storeCommand(item: UploadItem): string {
  const len = Buffer.byteLength(item.data, 'utf8');
  switch (item.kind) {
    case 'root':
      return `AT+KCERTSTORE=0,${len}`;
    case 'client-cert':
      return `AT+KCERTSTORE=1,${len},${item.index ?? 0}`;
    case 'key':
      return `AT+KPRIVKSTORE=${item.index ?? 0},${len}`;
  }
}

const WHAT: Record<UploadItem['kind'], string> = {
  root: 'root CA (trust anchor for the server)',
  'client-cert': 'device certificate',
  key: 'device private key',
};

/** The upload.at file: the AT sequence that stores certificates and key on a module, with a session example. */
export function buildUploadAt(options: UploadOptions): string {
  const out: string[] = [
    `# bx-hil upload sequence for ${options.title}`,
    '# Send each AT line followed by CR (\\r) only. After CONNECT send the data bytes exactly as they',
    '# follow (their count is the number in the command), pause >= 1.5 s, send +++ without CR,',
    '# pause, expect OK [BX-T]. Lines starting with # are notes and are not sent.',
  ];
  let text = out.join('\n') + '\n';
  for (const item of options.items) {
    text += `# ${WHAT[item.kind]}: ${Buffer.byteLength(item.data, 'utf8')} bytes\n`;
    text += `${storeCommand(item)}\n# <- CONNECT\n${item.data}+++\n# <- OK\n`;
  }
  if (options.session) {
    const s = options.session;
    text +=
      `# Session example: TLS (1), MQTT 3.1.1 (4), keepalive 60 s, clean session [BX-T KMQTTCFG_0001].\n` +
      `# Use the port the rig prints; plain ASCII quotes only.\n` +
      `AT+KMQTTCFG=1,"${s.host}",${s.port},4,"${s.clientId}",60,1\n# <- +KMQTTCFG: 1\n# <- OK\n` +
      `AT+KMQTTCNX=1\n# <- OK, then +KMQTT_IND: 1,1 when connected (+KMQTT_IND: 1,0 when aborted)\n`;
  }
  return text;
}

/** One AT command of a parsed file, with its inline data when it has a data phase. */
export interface AtLine {
  /** 1-based line number of the command. */
  line: number;
  /** The command line as written, without line ending. */
  text: string;
  /** Upper-case command name, e.g. `+KCERTSTORE` (empty for a bare `AT`). */
  name: string;
  /** `set` (`=...`), `read` (`?`), `test` (`=?`) or `action` (no suffix). */
  form: 'set' | 'read' | 'test' | 'action';
  /** Raw text after `=` for the set form. */
  args: string;
  /** Data sent in the data phase (between CONNECT and +++), when the file has it inline. */
  data?: string;
  /** True when the data phase has no `+++` terminator in the file. */
  unterminated?: boolean;
}

const DATA_COMMANDS = new Set(['+KCERTSTORE', '+KPRIVKSTORE']);

/** Parse an AT file in the format above (also accepts plain command lists without notes or data). */
export function parseAtFile(text: string): AtLine[] {
  const result: AtLine[] = [];
  const lineOf = (offset: number) => text.slice(0, offset).split('\n').length;
  let pos = 0;
  const nextLine = (): { text: string; start: number } | undefined => {
    if (pos >= text.length) return undefined;
    const start = pos;
    const nl = text.indexOf('\n', pos);
    pos = nl === -1 ? text.length : nl + 1;
    return { text: text.slice(start, nl === -1 ? text.length : nl).replace(/\r$/, ''), start };
  };
  for (let l = nextLine(); l; l = nextLine()) {
    const t = l.text.trim();
    if (t === '' || t.startsWith('#') || !/^AT/i.test(t)) continue;
    const cmd = parseCommand(t, lineOf(l.start));
    result.push(cmd);
    if (cmd.form !== 'set' || !DATA_COMMANDS.has(cmd.name)) continue;
    // Skip notes, then take the data block up to its +++ (if the file has one inline).
    const afterCommand = pos;
    let dataStart: number | undefined;
    for (let n = nextLine(); n; n = nextLine()) {
      const nt = n.text.trim();
      if (nt.startsWith('#') || nt === '') continue;
      if (!/^AT/i.test(nt)) dataStart = n.start;
      break;
    }
    if (dataStart === undefined) {
      pos = afterCommand;
      continue;
    }
    // +++ ends the data when it closes a line and follows a line break or a PEM END marker.
    // Base64 lines are multiples of 4 characters, so a PEM line can never be exactly "+++".
    const term = /(?:(?<=\n)|(?<=-----))\+\+\+(?=\r?\n|$)/g;
    term.lastIndex = dataStart;
    const m = term.exec(text);
    if (!m) {
      cmd.data = text.slice(dataStart);
      cmd.unterminated = true;
      pos = text.length;
      continue;
    }
    cmd.data = text.slice(dataStart, m.index);
    const nl = text.indexOf('\n', m.index);
    pos = nl === -1 ? text.length : nl + 1;
  }
  return result;
}

function parseCommand(t: string, line: number): AtLine {
  const body = t.slice(2);
  const m = /^([+&%$#]?[A-Za-z][A-Za-z0-9_]*|)(.*)$/.exec(body)!;
  const name = m[1]!.toUpperCase();
  const rest = m[2]!;
  if (rest.startsWith('=?')) return { line, text: t, name, form: 'test', args: '' };
  if (rest.startsWith('=')) return { line, text: t, name, form: 'set', args: rest.slice(1) };
  if (rest.startsWith('?')) return { line, text: t, name, form: 'read', args: '' };
  return { line, text: t, name, form: 'action', args: '' };
}

/** Set-form arguments split as the module splits them (`harness/at-args.ts`), each field trimmed. */
export function splitAtArgs(args: string): { params: string[]; unbalancedQuotes: boolean } {
  const { fields, unbalancedQuotes } = splitFields(args);
  return { params: fields.map((p) => p.trim()), unbalancedQuotes };
}
