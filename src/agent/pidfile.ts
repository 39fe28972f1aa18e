import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { writeFileAtomic } from "../core/atomic.js";
import { stopAgentGroup } from "./group.js";
import { type ProcessIdentity, pgidOf, processesWithEnv, sameProcess } from "./proc.js";

/** The agent's environment marker: finds an agent of this state dir even without a pidfile. */
export const STATE_MARKER = "PARCA_AGENT_SIDECAR_STATE";
const PIDFILE_NAME = "agent.pid";

interface PidfileContent extends ProcessIdentity {
  readonly pgid: number;
}

/**
 * The supervised agent's process group, kept in `<state dir>/agent.pid` with the leader's start
 * time and executable, so a successor can tell the group from a reused pid.
 */
export class Pidfile {
  readonly path: string;

  constructor(
    private readonly stateDir: string,
    private readonly log: Logger,
  ) {
    this.path = join(stateDir, PIDFILE_NAME);
  }

  /** Records a started agent; a failure is logged (a successor still finds it by its marker). */
  async write(identity: ProcessIdentity, pgid: number): Promise<void> {
    const content = JSON.stringify({ ...identity, pgid } satisfies PidfileContent);
    await writeFileAtomic(this.path, content, { durable: false }).catch((err: unknown) =>
      this.log.warn(
        { event: "pidfile_write_failed", path: this.path, error: (err as Error).message },
        "cannot write the pidfile",
      ),
    );
  }

  /** Removes the pidfile; a failure (a read-only state dir) is logged, never thrown. */
  async remove(): Promise<void> {
    await rm(this.path, { force: true }).catch((err: unknown) =>
      this.log.warn(
        { event: "pidfile_remove_failed", path: this.path, error: (err as Error).message },
        "cannot remove the pidfile",
      ),
    );
  }

  private async read(): Promise<PidfileContent | undefined> {
    try {
      const data = JSON.parse(await readFile(this.path, "utf8"));
      if (typeof data.pid === "number" && typeof data.pgid === "number") return data;
    } catch {
      // no pidfile, or not ours: nothing to trust
    }
    return undefined;
  }

  /**
   * Stops a predecessor's agent left running by a sidecar that died: the group in the pidfile
   * when its leader's start time and executable still match, and any group whose processes carry
   * this state dir's marker. Never signals anything that matches neither, nor `spare`.
   */
  async reapPredecessors(stopTimeoutMs: number, spare?: number): Promise<number[]> {
    const pgids = new Set<number>();
    const recorded = await this.read();
    if (recorded && sameProcess(recorded)) pgids.add(recorded.pgid);
    for (const pid of processesWithEnv(STATE_MARKER, this.stateDir)) {
      const pgid = pgidOf(pid);
      if (pgid !== undefined) pgids.add(pgid);
    }
    const own = pgidOf(process.pid);
    const reaped: number[] = [];
    for (const pgid of pgids) {
      if (pgid <= 1 || pgid === own || pgid === spare) continue;
      const how = await stopAgentGroup(pgid, stopTimeoutMs);
      this.log.warn(
        { event: "predecessor_stopped", pgid, how },
        "stopped an agent left by a previous sidecar",
      );
      reaped.push(pgid);
    }
    await this.remove();
    return reaped;
  }
}
