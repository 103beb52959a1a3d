/**
 * AT file checks: each command line as the BX parses it (quotes, parameter counts and ranges),
 * and each upload's byte count against the data that follows it or the file that goes there.
 */
import { redactAtPasswords } from '../../../secrets.ts';
import { lineEndingsOf, type LoadedFile } from '../../inspect.ts';
import { splitAtArgs, type AtLine } from '../../upload.ts';
import { finding } from '../catalogue.ts';
import { isSelfSigned } from '../describe.ts';
import { asciiQuotes, hasTypographicQuotes } from '../quotes.ts';
import type { Check, DoctorContext, Finding } from '../types.ts';

interface ParamRule {
  min: number;
  max: number;
}
/** Parameter counts per command on the BX ([BX-T]: 917 missing, 915 one too many). */
const PARAMS: Record<string, ParamRule> = {
  '+KCERTSTORE': { min: 1, max: 3 },
  '+KPRIVKSTORE': { min: 2, max: 2 },
  '+KCERTDELETE': { min: 1, max: 2 },
  '+KPRIVKDELETE': { min: 1, max: 1 },
  '+KMQTTCFG': { min: 5, max: 14 },
  '+KMQTTCNX': { min: 1, max: 1 },
  '+KMQTTCLOSE': { min: 1, max: 1 },
  '+KMQTTDEL': { min: 1, max: 1 },
  '+KMQTTPUB': { min: 5, max: 5 },
  '+KMQTTSUB': { min: 3, max: 3 },
  '+KMQTTUNSUB': { min: 2, max: 2 },
};

/** Commands whose parameters carry a password ([BX-T]: Wi-Fi station settings, MQTT session). */
const PASSWORD_COMMANDS = new Set(['+SRWSTACFG', '+KMQTTCFG']);

/** A parameter as a number, when it is one. */
const int = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);

/**
 * The command as a fix line shows it: a set form with its passwords masked; another form of a
 * password-carrying command without its arguments (they cannot be told apart reliably); and
 * everything through the AT password redaction as well (harness/secrets.ts).
 */
function fixLine(line: AtLine, params: string[], fixed: string): string {
  if (line.form === 'set') return redactAtPasswords(redactLine(line, params), '***');
  if (PASSWORD_COMMANDS.has(line.name)) return `AT${line.name}... (the rest is not shown: it may hold a password)`;
  return redactAtPasswords(fixed, '***');
}

/** A fix line that quotes the command: its user name and password (MQTT) or Wi-Fi password masked. */
function redactLine(line: AtLine, params: string[]): string {
  const secret = (i: number): boolean =>
    (line.name === '+KMQTTCFG' && params.length >= 13 && i >= 12) || (line.name === '+SRWSTACFG' && i === 1);
  const masked = params.map((p, i) => (secret(i) && p ? (p.startsWith('"') ? '"***"' : '***') : p));
  return `AT${line.name}=${masked.join(',')}`;
}

/** Inline upload data that cannot be read as a certificate or key. */
export const atDataChecks: Check = (ctx) =>
  ctx.unreadableAtData.map((d) => finding('AT_DATA_INVALID', d.where, { command: d.command, reason: d.reason }));

/** Every line of the AT file. */
export const atFileChecks: Check = (ctx) => {
  const at = ctx.at;
  if (!at) return [];
  return at.lines.flatMap((line) => {
    const where = `${at.name}:${line.line}`;
    return [...quotes(line, where), ...parameters(ctx, line, where)];
  });
};

function quotes(line: AtLine, where: string): Finding[] {
  if (!hasTypographicQuotes(line.text)) return [];
  const fixed = asciiQuotes(line.text);
  const params = splitAtArgs(fixed.slice(fixed.indexOf('=') + 1)).params;
  return [finding('TYPOGRAPHIC_QUOTES', where, { command: `AT${line.name}`, fixed: fixLine(line, params, fixed) })];
}

/** Parameter count and values of the commands doctor knows ([BX-T]). */
function parameters(ctx: DoctorContext, line: AtLine, where: string): Finding[] {
  const rule = PARAMS[line.name];
  if (!rule) return [];
  const command = `AT${line.name}`;
  if (line.form === 'action') return [finding('AT_MISSING_PARAM', where, { kind: 'no-parameters', command })];
  if (line.form !== 'set') return [];
  const { params, unbalancedQuotes } = splitAtArgs(line.args);
  if (unbalancedQuotes) return [finding('AT_QUOTES', where, { command })];
  if (line.args.trim() === '' || params.length < rule.min) {
    const count = line.args.trim() === '' ? 0 : params.length;
    return [finding('AT_MISSING_PARAM', where, { kind: 'too-few', command, count, min: rule.min })];
  }
  if (params.length > rule.max)
    return [finding('AT_EXTRA_PARAM', where, { command, count: params.length, max: rule.max })];
  if (line.name === '+KCERTSTORE' || line.name === '+KPRIVKSTORE') return upload(ctx, line, params, where);
  if (line.name === '+KMQTTCFG') return mqttConfig(params, where);
  return [];
}

/** KCERTSTORE / KPRIVKSTORE: data type, byte count, slot index, then the data itself. */
function upload(ctx: DoctorContext, line: AtLine, params: string[], where: string): Finding[] {
  const c = ctx.constraints;
  const command = `AT${line.name}`;
  const isKey = line.name === '+KPRIVKSTORE';
  const type = isKey ? undefined : int(params[0]);
  if (!isKey && type !== 0 && type !== 1)
    return [finding('AT_RANGE', where, { kind: 'data-type', command, got: params[0] })];
  if (type === 1 && params.length < 3) return [finding('AT_MISSING_PARAM', where, { kind: 'slot-index', command })];
  // The byte count is the second parameter of both commands.
  const lenText = params[1];
  const len = int(lenText);
  if (lenText !== undefined && lenText !== '' && len === undefined)
    return [finding('AT_RANGE', where, { kind: 'byte-count', command, got: lenText })];
  const out: Finding[] = [];
  if (len !== undefined && len > c.slotMaxBytes)
    out.push(finding('SLOT_TOO_LARGE', where, { kind: 'declared', command, bytes: len, max: c.slotMaxBytes }));
  else if (len === 0) out.push(finding('AT_RANGE', where, { kind: 'zero-bytes', command, max: c.slotMaxBytes }));
  const indexText = isKey ? params[0] : params[2];
  const index = int(indexText);
  if ((isKey || type === 1) && (index === undefined || index > 2))
    out.push(finding('AT_RANGE', where, { kind: 'slot-index', command, got: indexText }));
  out.push(...byteCount(ctx, line, len, isKey ? 'key' : type === 0 ? 'root' : 'client', where));
  return out;
}

/** KMQTTCFG: TLS on, port, MQTT version, trailing comma. */
function mqttConfig(params: string[], where: string): Finding[] {
  const command = 'AT+KMQTTCFG';
  const secure = int(params[0]);
  const port = int(params[2]);
  const version = int(params[3]);
  const out: Finding[] = [];
  if (secure !== 0 && secure !== 1) out.push(finding('AT_RANGE', where, { kind: 'secure', command, got: params[0] }));
  else if (secure === 0) out.push(finding('AT_TLS_OFF', where, { command }));
  if (port === undefined || port > 65535)
    out.push(finding('AT_RANGE', where, { kind: 'port', command, got: params[2] }));
  if (version !== 3 && version !== 4)
    out.push(finding('AT_RANGE', where, { kind: 'version', command, got: params[3] }));
  if (params.length > 5 && params[params.length - 1] === '') out.push(finding('AT_TRAILING_COMMA', where, { command }));
  return out;
}

/** The declared byte count against the inline data, or against the one file that fits the slot. */
function byteCount(
  ctx: DoctorContext,
  line: AtLine,
  len: number | undefined,
  slot: 'root' | 'client' | 'key',
  where: string,
): Finding[] {
  const c = ctx.constraints;
  const command = `AT${line.name}`;
  const out: Finding[] = [];
  if (line.data !== undefined) {
    const actual = Buffer.byteLength(line.data, 'utf8');
    if (line.unterminated) out.push(finding('AT_NO_ESCAPE', where, { command }));
    if (len !== undefined && len !== actual) {
      const corrected = `${command}=${line.args.replace(String(len), String(actual))}`;
      out.push(finding('AT_BYTE_COUNT', where, { kind: 'inline', command, declared: len, actual, corrected }));
    }
    const { lineEndings } = lineEndingsOf(line.data);
    if (lineEndings === 'crlf' && !c.lineEndings.includes('crlf')) {
      const limit = { profile: c.name, source: c.sources.lineEndings ?? 'profile' };
      out.push(finding('LINE_ENDINGS', where, { kind: 'at-data', command, ...limit }));
    }
    if (actual > c.slotMaxBytes && (len === undefined || len <= c.slotMaxBytes))
      out.push(finding('SLOT_TOO_LARGE', where, { kind: 'inline', command, bytes: actual, max: c.slotMaxBytes }));
    return out;
  }
  if (len === undefined) return out;
  const f = fileForSlot(ctx.loaded, slot);
  if (f && f.bytes !== len) {
    const { file, bytes, lineEndings, finalNewline } = f;
    out.push(
      finding('AT_BYTE_COUNT', where, { kind: 'file', command, declared: len, file, bytes, lineEndings, finalNewline }),
    );
  }
  return out;
}

/** The file that goes into this slot, when exactly one of the files fits it. */
function fileForSlot(loaded: LoadedFile[], slot: 'root' | 'client' | 'key'): LoadedFile | undefined {
  const candidates = loaded.filter((f) =>
    slot === 'key'
      ? f.keys.length > 0
      : slot === 'root'
        ? f.certs.some((x) => isSelfSigned(x.cert) || x.cert.ca)
        : f.certs.some((x) => !x.cert.ca),
  );
  return candidates.length === 1 ? candidates[0] : undefined;
}
