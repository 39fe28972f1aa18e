/**
 * An error with a stable code from this project's contract; the original error stays `cause`,
 * so nothing is lost when one boundary's error becomes another's.
 */
export class CodedError<C extends string = string> extends Error {
  constructor(
    readonly code: C,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The errno code of a Node error (`ENOENT`, `ERR_SSL_…`), or "". */
export function errnoCode(err: unknown): string {
  return String((err as NodeJS.ErrnoException | undefined)?.code ?? "");
}

/** What to say about a failed system call: its errno code when it has one, else its message. */
export function errnoOrMessage(err: unknown): string {
  return errnoCode(err) || (err instanceof Error ? err.message : String(err));
}

/** The messages of an error and of its causes, outermost first. */
export function causeChain(err: unknown): string[] {
  const messages: string[] = [];
  const seen = new Set<unknown>();
  for (let e = err; e !== undefined && e !== null && !seen.has(e); ) {
    seen.add(e);
    messages.push(e instanceof Error ? e.message : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return messages;
}
