import pino, { type Logger } from "pino";
import { type Secrets, scrubValues } from "./secrets.js";

export type { Logger } from "pino";
export type LogFormat = "json" | "pretty";

const LEVELS: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};
const SKIP = new Set(["level", "time", "pid", "hostname", "msg", "component", "event"]);

/** One human line for a pino JSON line: time, level, component, event, message, fields. */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json);
  } catch {
    return json;
  }
  const time = new Date(Number(entry.time)).toISOString().slice(11, 23);
  const level = LEVELS[Number(entry.level)] ?? String(entry.level);
  const who = [entry.component, entry.event].filter(Boolean).join(" ");
  const fields = Object.entries(entry)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `${time} ${level.padEnd(5)} ${who ? `[${who}] ` : ""}${String(entry.msg ?? "")}${fields ? ` ${fields}` : ""}\n`;
}

/** Fields whose values are constants from the code: never secret, and kept intact for parsers. */
/**
 * Scrubs a serialized log line. Inside its string values, not across the line: a short token
 * (say "ta") must not turn the key "status" into garbage or break the JSON.
 */
function scrubLine(line: string, secrets: Secrets): string {
  if (secrets.size === 0) return line;
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return secrets.scrub(line);
  }
  return `${JSON.stringify(scrubValues(entry, secrets))}\n`;
}

export interface LoggerOptions {
  readonly level: string;
  readonly format: LogFormat;
  readonly secrets: Secrets;
  readonly destination: { write(line: string): unknown };
}

/**
 * pino with secrets scrubbed from every serialized line, raw and JSON-escaped: pino's own
 * `redact` works by key only and would miss a token inside free text.
 */
export function createLogger(options: LoggerOptions): Logger {
  const stream = {
    write(line: string) {
      const clean = scrubLine(line, options.secrets);
      options.destination.write(options.format === "pretty" ? prettyLine(clean) : clean);
    },
  };
  return pino(
    {
      level: options.level,
      base: { pid: process.pid },
      redact: { paths: ["token", "*.token", "config.token"], censor: "<redacted>" },
    },
    stream,
  );
}
