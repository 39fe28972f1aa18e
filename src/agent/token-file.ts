import { rm } from "node:fs/promises";
import type { Logger } from "pino";
import { writeFileAtomic } from "../core/atomic.js";
import { errnoOrMessage } from "../core/errors.js";
import { ApplyError } from "./runner.js";

/** Writes the token file 0600, or throws ApplyError naming the file (never the token). */
export async function writeTokenFile(file: {
  readonly path: string;
  readonly content: string;
}): Promise<void> {
  try {
    await writeFileAtomic(file.path, file.content);
  } catch (err) {
    throw new ApplyError(`cannot write the token file ${file.path}: ${errnoOrMessage(err)}`, {
      cause: err,
    });
  }
}

/** Removes the token file once no agent needs it; a failure is logged, never thrown. */
export async function removeTokenFile(path: string, log: Logger): Promise<void> {
  try {
    await rm(path, { force: true });
  } catch (err) {
    log.warn(
      { event: "token_file_not_removed", path, error: errnoOrMessage(err) },
      "cannot remove the token file",
    );
  }
}
