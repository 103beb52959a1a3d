/**
 * Errors of the pki layer (docs/STYLE.md §4): stable `code`, typed fields, a message that names the
 * cause and the fix. Callers and tests match on `code`.
 */
import { HarnessError } from '../errors.ts';

/** An unknown scenario id was asked for. Code `BXHIL_PKI_SCENARIO`. */
export class UnknownScenarioError extends HarnessError {
  readonly id: string;
  readonly known: readonly string[];

  constructor(id: string, known: readonly string[]) {
    super(
      'BXHIL_PKI_SCENARIO',
      `unknown scenario "${id}": use one of ${known.join(', ')} (list them with \`bx-hil scenarios\`)`,
    );
    this.id = id;
    this.known = known;
  }
}

/** Why an input file cannot be used at all (doctor exit code 2). */
export type InputProblem =
  | 'not-found'
  | 'directory'
  | 'too-large'
  | 'empty'
  | 'binary'
  | 'bad-pem'
  | 'encrypted-no-passphrase'
  | 'bad-passphrase'
  | 'unrecognised';

/**
 * An input file that cannot be read as a certificate, key or AT file. Code `BXHIL_PKI_INPUT`.
 * The message is one line naming the file, the cause and the fix; it never quotes key material.
 */
export class PkiInputError extends HarnessError {
  readonly file: string;
  readonly problem: InputProblem;

  constructor(file: string, problem: InputProblem, message: string, options?: { cause?: unknown }) {
    super('BXHIL_PKI_INPUT', message, options);
    this.file = file;
    this.problem = problem;
  }
}
