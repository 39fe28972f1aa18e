import { existsSync } from "node:fs";
import type { Logger } from "pino";
import type { Problem } from "../problem.js";
import type { RelationError } from "../relation/errors.js";
import { type Resolution, resolveSources, sourceMissing } from "../relation/sources.js";

/** Where the loop reads the relation data from; a fake in the loop's fast tests. */
export interface SourceReader {
  /** One read of every source. */
  read(): Promise<Resolution>;
  /** SOURCE_MISSING for paths missing at start that have not appeared since. */
  missing(): Problem[];
}

const MAX_STABLE_READS = 10;

export function sameResolution(a: Resolution | undefined, b: Resolution | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const key = (r: Resolution) =>
    JSON.stringify([
      r.decision.kind === "error" ? r.decision.error.toProblem() : r.decision,
      r.sources,
    ]);
  return key(a) === key(b);
}

/** Logs relation data that cannot be used (once per change of it: the caller compares). */
export function logInvalid(log: Logger, e: RelationError): void {
  log.warn({ event: "relation_invalid", code: e.code, path: e.path, hint: e.hint }, e.message);
}

/** Reads every source until two consecutive reads agree: a writer may be mid-way. */
export async function readStable(reader: SourceReader): Promise<Resolution> {
  let previous = await reader.read();
  for (let i = 0; i < MAX_STABLE_READS; i++) {
    const next = await reader.read();
    if (sameResolution(previous, next)) return next;
    previous = next;
  }
  return previous;
}

/** The relation files named by --relation. */
export class RelationReader implements SourceReader {
  private readonly missingAtStart: Set<string>;

  constructor(private readonly paths: readonly string[]) {
    this.missingAtStart = new Set(paths.filter((path) => !existsSync(path)));
  }

  async read(): Promise<Resolution> {
    for (const path of this.missingAtStart) if (existsSync(path)) this.missingAtStart.delete(path);
    return resolveSources(this.paths);
  }

  missing(): Problem[] {
    return [...this.missingAtStart].map(sourceMissing);
  }
}
