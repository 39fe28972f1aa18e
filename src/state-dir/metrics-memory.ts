import { access, writeFile } from "node:fs/promises";
import { join } from "node:path";

const METRICS_SEEN = "agent-metrics-seen";

/** Whether an agent on this state dir ever exported its write counters. */
export interface MetricsMemory {
  seen(): Promise<boolean>;
  markSeen(): Promise<void>;
}

/** The memory as a marker file in the state dir. */
export function metricsMemory(stateDir: string): MetricsMemory {
  const marker = join(stateDir, METRICS_SEEN);
  return {
    seen: () =>
      access(marker).then(
        () => true,
        () => false,
      ),
    markSeen: () => writeFile(marker, ""),
  };
}

/** No state dir to remember in: never seen. */
export const NO_METRICS_MEMORY: MetricsMemory = {
  seen: async () => false,
  markSeen: async () => undefined,
};
