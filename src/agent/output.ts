import { createInterface } from "node:readline";
import type { ResultPromise } from "execa";
import type { Secrets } from "../log.js";
import { TAIL_LINES } from "./runner.js";

export type OutputSink = (stream: "stdout" | "stderr", line: string) => void;

/**
 * Forwards the agent's output line by line, the token scrubbed, to `sink`, and keeps its last
 * stderr lines in `tail` (for crash reports and rollback reasons).
 */
export function forwardOutput(
  subprocess: ResultPromise,
  secrets: Secrets,
  sink: OutputSink,
  tail: string[],
): void {
  for (const stream of ["stdout", "stderr"] as const) {
    const source = subprocess[stream];
    if (!source) continue;
    createInterface({ input: source, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (raw) => {
      const line = secrets.scrub(raw);
      if (stream === "stderr") {
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
      }
      sink(stream, line);
    });
  }
}
