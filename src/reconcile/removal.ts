import type { Logger } from "pino";
import type { LoopMachine } from "./machine.js";
import type { Rollout } from "./rollout.js";
import { readStable, type SourceReader } from "./sources.js";
import type { OnRemove } from "./state.js";

export interface RemovalOptions {
  readonly sources: SourceReader;
  readonly onRemove: OnRemove;
  readonly removeGraceMs: number;
  readonly log: Logger;
}

/**
 * The grace period after the relation stopped naming a store: a writer that truncates and then
 * writes must not stop the agent. When it ends with still no store, `--on-remove stop` stops the
 * agent and forgets the last-known-good; `keep` leaves it running.
 */
export class RemovalGrace {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly machine: LoopMachine,
    private readonly rollout: Rollout,
    private readonly options: RemovalOptions,
    private readonly enqueue: (work: () => Promise<void>) => Promise<void>,
    /** Reconciles again when the data came back during the grace period. */
    private readonly retrigger: () => void,
  ) {}

  begin(): void {
    if (this.timer !== undefined) return;
    this.options.log.info(
      { event: "relation_removed", graceMs: this.options.removeGraceMs },
      "no store configured any more; waiting for the grace period",
    );
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.enqueue(() => this.end());
    }, this.options.removeGraceMs);
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async end(): Promise<void> {
    const resolution = await readStable(this.options.sources);
    const stillRemoved = resolution.decision.kind === "unconfigured";
    if (!stillRemoved || this.machine.state.applied === undefined) {
      this.machine.commit({ resolution, work: { kind: "idle" } });
      if (!stillRemoved) this.retrigger();
      return;
    }
    if (this.options.onRemove === "stop") {
      this.options.log.info(
        { event: "agent_stopping", reason: "relation removed" },
        "relation removed: stopping the agent",
      );
      await this.rollout.remove();
    }
    this.machine.commit({ resolution, work: { kind: "idle" } });
  }
}
