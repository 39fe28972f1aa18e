/**
 * A problem found on the way from relation data to a running agent: a stable code, one sentence
 * saying what is wrong, a hint naming what to change, and the path it concerns (if any).
 * Errors and warnings share this shape; the API carries it as `parca.sidecar.v1.Problem`.
 */
export interface Problem {
  readonly code: string;
  readonly message: string;
  readonly hint: string;
  readonly path: string;
}

export function problem(code: string, message: string, hint: string, path = ""): Problem {
  return { code, message, hint, path };
}

/** Quotes a value for a message: JSON-escaped (control characters visible) and capped. */
export function quote(value: string, max = 80): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(cut);
}
