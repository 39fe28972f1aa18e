import { readFileSync } from "node:fs";

/** Set by the single-file build (scripts/package.ts), which has no package.json beside it. */
declare const PARCA_AGENT_SIDECAR_VERSION: string | undefined;

let known: string | undefined;

/** The sidecar's version, from its package.json (read once) or from the single-file build. */
export function version(): string {
  known ??=
    typeof PARCA_AGENT_SIDECAR_VERSION === "string"
      ? PARCA_AGENT_SIDECAR_VERSION
      : String(
          JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version,
        );
  return known;
}
