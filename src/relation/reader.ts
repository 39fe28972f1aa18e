import { existsSync } from "node:fs";
import type { Problem } from "../problem.js";
import { type Resolution, resolveSources, sameResolution, sourceMissing } from "./sources.js";

/** Where the loop reads the relation data from; a fake in the loop's fast tests. */
export interface SourceReader {
  /** One read of every source. */
  read(): Promise<Resolution>;
  /** SOURCE_MISSING for paths missing at start that have not appeared since. */
  missing(): Problem[];
}

const MAX_STABLE_READS = 10;

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
