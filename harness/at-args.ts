/**
 * The argument list of an AT command as written (`AT+KMQTTCFG=0,"host",8883,...`), split once for
 * the base redaction pass (`secrets.ts`, which rewrites password fields in place) and pki's AT
 * file reader (`pki/upload.ts`, which checks a user's upload file).
 *
 * Two other readers keep their own rules on purpose: the AT engine's `parseParams` reads the
 * module's answers (a quote ends only before a comma, integers become numbers), and the virtual
 * module parses commands with its own code so a misunderstanding shared with the driver cannot
 * pass every test (docs/DESIGN.md).
 */

/**
 * Split on commas outside ASCII double quotes; each field keeps its raw text (quotes and spaces
 * included), so joining the fields with `,` gives the input back. Typographic quotes are NOT
 * quotes to the module ([report] docs/reference/field-report-2.6.3.md), so they are plain characters.
 */
export function splitAtArgs(args: string): { fields: string[]; unbalancedQuotes: boolean } {
  const fields: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of args) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      fields.push(cur);
      cur = '';
    } else cur += ch;
  }
  fields.push(cur);
  return { fields, unbalancedQuotes: quoted };
}
