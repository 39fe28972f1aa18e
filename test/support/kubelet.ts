import { type ChildProcess, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { STANDIN } from "./procs.js";

export interface KubeletOptions {
  /** The agent container's command line after argv[0] (its --config-path among them). */
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** argv[0] of the stand-in agent, as the official image runs it. */
  readonly name?: string;
  /** A real agent binary to run instead of the stand-in (its path is its argv[0]). */
  readonly binary?: string;
  /** Before the first start: the agent container waits on the sidecar's startup probe. */
  readonly startupGate?: () => Promise<boolean>;
}

/**
 * Plays the kubelet and the container runtime for one agent container: starts the stand-in agent
 * (argv[0] `parca-agent`, in its own process group as a container would be), or a real agent
 * binary, whenever the previous one exited, and SIGKILLs whatever is left of the old one first, as
 * the runtime does.
 */
export class KubeletStandIn {
  /** The pid of each agent container start, in order. */
  readonly starts: number[] = [];
  private current: ChildProcess | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: KubeletOptions) {}

  start(): void {
    this.loop = this.run();
  }

  get pid(): number | undefined {
    return this.current?.pid;
  }

  private async run(): Promise<void> {
    while (!this.stopped && this.options.startupGate && !(await this.options.startupGate()))
      await sleep(100);
    while (!this.stopped) {
      const { binary } = this.options;
      const [command, args] = binary
        ? [binary, this.options.args]
        : [process.execPath, [STANDIN, ...this.options.args]];
      const child = spawn(command, args, {
        argv0: binary ?? this.options.name ?? "parca-agent",
        env: { PATH: process.env.PATH, ...this.options.env },
        stdio: ["ignore", "ignore", "ignore"],
        detached: true,
      });
      this.current = child;
      if (child.pid !== undefined) this.starts.push(child.pid);
      await new Promise<void>((resolve) => child.once("exit", () => resolve()));
      killGroup(child.pid);
      // The kubelet's back-off, shortened: 10 s doubling in a real node.
      if (!this.stopped) await sleep(100);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    killGroup(this.current?.pid);
    await this.loop;
  }
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Gone.
  }
}
