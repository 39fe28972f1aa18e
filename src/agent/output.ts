import { createInterface } from "node:readline";
import type { ResultPromise } from "execa";
import type { Logger } from "pino";
import type { Secrets } from "../secrets.js";
import { TAIL_LINES } from "./runner.js";

export type OutputSink = (stream: "stdout" | "stderr", line: string) => void;

/** The agent's output as log lines of the sidecar's own. */
export function logSink(log: Logger): OutputSink {
  return (stream, line) => log.info({ event: "agent_output", stream }, line);
}

/**
 * A line in which the agent says something is wrong: logrus's warning and worse
 * (`level=error msg="Failed to setup gRPC connection (try 1 of 5): …"`), a Go panic, Kong's
 * refusal (`parca-agent: error: …`).
 */
const TROUBLE =
  /\blevel=(warning|error|fatal|panic)\b|"level":"(warning|error|fatal|panic)"|^panic: |: error: /;

export function isTrouble(line: string): boolean {
  return TROUBLE.test(line);
}

/**
 * Forwards the agent's output line by line, the token scrubbed, to `sink`, and keeps its last
 * stderr lines in `tail` (for crash reports and rollback reasons).
 */
export function forwardOutput(
  subprocess: ResultPromise,
  secrets: Secrets,
  sink: OutputSink,
  tail: string[],
  onStderr?: (line: string) => void,
): void {
  for (const stream of ["stdout", "stderr"] as const) {
    const source = subprocess[stream];
    if (!source) continue;
    createInterface({ input: source, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (raw) => {
      const line = secrets.scrub(raw);
      if (stream === "stderr") {
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        onStderr?.(line);
      }
      sink(stream, line);
    });
  }
}
