import { basename, join } from "node:path";
import { type Problem, problem } from "../problem.js";
import { RELATION_KEYS } from "./types.js";

/** How far (in edits, after `_`/`.`/case are folded) a name may be from a key to look like it. */
const MAX_EDITS = 2;
const DATA_FILE = /\.(json|ya?ml)$/i;

function fold(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[_.\s]+/g, "-");
}

/** Levenshtein distance, giving up (returning limit + 1) once it exceeds `limit`. */
function edits(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const value = Math.min(
        (previous[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
      row.push(value);
      best = Math.min(best, value);
    }
    if (best > limit) return limit + 1;
    previous = row;
  }
  return previous[b.length] as number;
}

/** The relation key `name` looks like without being it, if any. */
export function lookalikeOf(name: string): string | undefined {
  if ((RELATION_KEYS as readonly string[]).includes(name)) return undefined;
  const folded = fold(name);
  return RELATION_KEYS.find((key) => folded === key || edits(folded, key, MAX_EDITS) <= MAX_EDITS);
}

/**
 * UNKNOWN_KEYS: names in a source that look like the relation's keys but are not (other keys are
 * ignored, as Juju's own `private-address` and friends must be), and, in a directory, data files
 * that were meant to be the source itself.
 */
export function unknownKeys(
  path: string,
  names: Iterable<string>,
  { directory }: { readonly directory: boolean },
): Problem | undefined {
  const meant: string[] = [];
  const files: string[] = [];
  for (const name of names) {
    const key = lookalikeOf(name);
    if (key !== undefined) meant.push(`${name} (did you mean ${key}?)`);
    else if (directory && DATA_FILE.test(name)) files.push(name);
  }
  if (meant.length > 0) {
    return problem(
      "UNKNOWN_KEYS",
      `relation source ${path} has keys that look like the relation's but are not: ${meant.join(", ")}`,
      `rename them; the relation's keys are ${RELATION_KEYS.join(", ")}`,
      path,
    );
  }
  if (files.length > 0) {
    const first = files[0] as string;
    return problem(
      "UNKNOWN_KEYS",
      `relation source ${path} is a directory holding ${files.join(", ")}, not key files`,
      `point --relation at the file itself (--relation ${join(path, first)}), or write one file per key (${RELATION_KEYS.join(", ")})`,
      path,
    );
  }
  return undefined;
}

/** Whether `path` names a single key file (a Secret's file), not a whole source. */
export function isKeyFile(path: string): boolean {
  return (RELATION_KEYS as readonly string[]).includes(basename(path));
}
