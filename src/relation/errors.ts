import { CodedError } from "../core/errors.js";
import type { Problem } from "../problem.js";

export type RelationErrorCode =
  | "UNREADABLE"
  | "MALFORMED"
  | "TOO_LARGE"
  | "INVALID_ADDRESS"
  | "INVALID_INSECURE"
  | "INVALID_TOKEN";

/**
 * Relation data that cannot be turned into a store config. The message and hint never hold the
 * token; the original error (if any) is kept as `cause` and is never printed as is, since parser
 * messages quote the input.
 */
export class RelationError extends CodedError<RelationErrorCode> {
  override readonly name = "RelationError";

  constructor(
    code: RelationErrorCode,
    message: string,
    readonly hint: string,
    readonly path = "",
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }

  withPath(path: string): RelationError {
    return new RelationError(this.code, this.message, this.hint, path, { cause: this.cause });
  }

  toProblem(): Problem {
    return { code: this.code, message: this.message, hint: this.hint, path: this.path };
  }
}
