import type { Logger } from "pino";
import { createLogger, type LogFormat } from "../../src/log.js";
import { Secrets } from "../../src/secrets.js";

/** The sidecar's logger with every line it writes kept here, and the secrets it scrubs. */
export function capturedLogger(
  level = "debug",
  format: LogFormat = "json",
): { log: Logger; lines: string[]; secrets: Secrets } {
  const lines: string[] = [];
  const secrets = new Secrets();
  const log = createLogger({
    level,
    format,
    secrets,
    destination: { write: (line: string) => lines.push(line) },
  });
  return { log, lines, secrets };
}
