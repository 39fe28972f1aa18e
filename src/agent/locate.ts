import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { type Problem, problem } from "../problem.js";
import { type FlagsFormat, formatFlagsFile } from "./flags-file.js";
import { ambiguous, describe as describePod, findPodAgent, type PodAgentSpec } from "./pod.js";
import type { Launch } from "./runner.js";
import {
  argsDrift,
  driftedFlags,
  managedFlagsOn,
  notFound,
  readsConfigFile,
  runningProcess,
} from "./verify.js";

/** How an agent managed elsewhere is found: never used to signal it. */
export type AgentLocation =
  | { readonly kind: "pidfile"; readonly path: string }
  | { readonly kind: "unit"; readonly name: string }
  | { readonly kind: "process"; readonly spec: PodAgentSpec };

/** A systemd unit name as `systemctl` takes it (validated: it is passed as one argument). */
export const UNIT_NAME = /^[A-Za-z0-9_.@:-]+$/;

/** How long after a restart command the new agent may take to show up. */
const RESTART_PROOF_MS = 5000;

export interface Seen {
  readonly pid: number;
  readonly startTime: string;
}

export interface Verification {
  readonly seen?: Seen;
  readonly problem?: Problem;
}

/** Finds the agent an external manager runs, and checks that it runs what was rendered. */
export class AgentLocator {
  constructor(
    private readonly location: AgentLocation,
    private readonly flags: {
      readonly file: string;
      readonly format: FlagsFormat;
      readonly base?: Readonly<Record<string, unknown>>;
    },
  ) {}

  get describe(): string {
    const at = this.location;
    if (at.kind === "process") return describePod(at.spec);
    return at.kind === "pidfile" ? `--agent-pidfile ${at.path}` : `--agent-unit ${at.name}`;
  }

  /** The agent's pid now, if one is found. */
  async find(): Promise<number | undefined> {
    if (this.location.kind === "process") {
      const found = findPodAgent(this.location.spec);
      return found.kind === "one" ? found.agent.pid : undefined;
    }
    let text: string;
    try {
      text =
        this.location.kind === "pidfile"
          ? await readFile(this.location.path, "utf8")
          : (
              await execa(
                "systemctl",
                ["show", "--property=MainPID", "--value", this.location.name],
                {
                  reject: false,
                  timeout: 5000,
                },
              )
            ).stdout;
    } catch {
      return undefined;
    }
    const pid = Number(String(text).trim().split("\n")[0]);
    return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
  }

  /** The agent process found now, if any. */
  async current(): Promise<Seen | undefined> {
    return (await this.running())?.seen;
  }

  /** The agent found now: its pid and start time, and its argv. */
  private async running(): Promise<{ seen: Seen; argv: string[] } | undefined> {
    const pid = await this.find();
    const agent = pid === undefined ? undefined : runningProcess(pid);
    if (pid === undefined || agent === undefined) return undefined;
    return { seen: { pid, startTime: agent.startTime }, argv: agent.argv };
  }

  /** After a restart: a new process (pid or start time) that runs the launch, within a few seconds. */
  async afterRestart(before: Seen | undefined, launch: Launch): Promise<Verification> {
    const until = Date.now() + RESTART_PROOF_MS;
    for (;;) {
      const now = await this.now(launch);
      const fresh =
        now.seen !== undefined &&
        (before === undefined ||
          now.seen.pid !== before.pid ||
          now.seen.startTime !== before.startTime);
      if (fresh) return now;
      if (Date.now() >= until) {
        if (now.seen === undefined) return now;
        return {
          seen: now.seen,
          problem: problem(
            "AGENT_NOT_RESTARTED",
            `the restart command succeeded but the agent (pid ${now.seen.pid}) was not restarted`,
            "check the restart command: a typo in the unit name, or a manager that ignores the change (snap set without a restart)",
          ),
        };
      }
      await sleep(100);
    }
  }

  /** Why no agent is found: none, or (a pod's agent) several. */
  private missing() {
    if (this.location.kind === "process") {
      const found = findPodAgent(this.location.spec);
      if (found.kind === "many") return ambiguous(this.location.spec, found.pids);
    }
    return notFound(this.describe);
  }

  /** What runs now, compared with the launch. */
  async now(launch: Launch): Promise<Verification> {
    const agent = await this.running();
    if (agent === undefined) return { problem: this.missing() };
    const { seen } = agent;
    const pid = seen.pid;
    if (this.flags.format === "yaml") {
      const onCommandLine = managedFlagsOn(agent.argv);
      const readsFile = readsConfigFile(agent.argv, this.flags.file);
      // The file holds what was rendered (an edit by hand would show here).
      const content = await readFile(this.flags.file, "utf8").catch(() => "");
      const fileKept = content === formatFlagsFile("yaml", launch, this.flags.base);
      const drift = [
        ...(readsFile ? [] : [`--config-path=${this.flags.file}`]),
        ...onCommandLine,
        ...(fileKept ? [] : [`the flags in ${this.flags.file}`]),
      ];
      return drift.length > 0 ? { seen, problem: argsDrift(drift, pid) } : { seen };
    }
    const drift = driftedFlags(agent.argv, launch.argv);
    return drift.length > 0 ? { seen, problem: argsDrift(drift, pid) } : { seen };
  }
}
