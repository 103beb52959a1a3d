/**
 * Errors of the report area. Unreadable or invalid results files are configuration errors at
 * the edge (`BXHIL_CONFIG`, so `bx-hil compare` exits 2): the message names the file, the field
 * and what a valid value looks like.
 */
import { ConfigError } from '../errors.ts';

/** A results.json that cannot be read, is not JSON, or does not match `bx-hil/results@1`. */
export class ResultsFileError extends ConfigError {
  /** The file (or label) the results came from. */
  readonly file: string;

  constructor(file: string, field: string, value: unknown, message: string, options?: { cause?: unknown }) {
    super(field, value, message, options);
    this.file = file;
  }
}
