import { createRequire } from "node:module";
import type * as Yaml from "yaml";

let loaded: typeof Yaml | undefined;

/**
 * The yaml package, loaded on first use: relation data is mostly JSON, and loading it would cost
 * every start-up ~2.4 MB of heap (start-up allocation also decides when V8's memory reducer runs).
 * In the single-file build (CommonJS, scripts/package.ts) `require` exists and names the bundled
 * copy, still evaluated only here; as an ES module, the package is required from node_modules.
 */
export function yaml(): typeof Yaml {
  loaded ??= (
    typeof require === "function" ? require("yaml") : createRequire(import.meta.url)("yaml")
  ) as typeof Yaml;
  return loaded;
}
