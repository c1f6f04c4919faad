/** The one error type kdistill raises for user-facing problems: a message that says what is wrong and what to do. */
export class KdError extends Error {
  /** A stable short code (e.g. 'SHAPE_MISMATCH') that tests and the CLI can match on. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'KdError';
    this.code = code;
  }
}
