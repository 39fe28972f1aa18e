import { readFileSync } from "node:fs";
import { pemCertificates } from "../store/roots.js";
import { UsageError } from "./options.js";

/** Refuses a --ca-file that cannot serve: better a usage error now than a TLS failure later. */
export function validateCaFile(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(
      `--ca-file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
  if (pemCertificates(text).length === 0)
    throw new UsageError(`--ca-file ${path}: holds no PEM certificate`);
  return path;
}
