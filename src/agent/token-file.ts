import { writeFileAtomic } from "../core/atomic.js";
import { errnoOrMessage } from "../core/errors.js";

/** A launch that could not be prepared; the running agent was not touched. */
export class ApplyError extends Error {
  override readonly name = "ApplyError";
}

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
