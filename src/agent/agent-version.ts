import { spawn } from "node:child_process";

/** How long `<agent> --version` may take before the version counts as unknown. */
export const VERSION_TIMEOUT_MS = 2000;

/**
 * The version the agent binary reports (`parca-agent, version v0.41.0 (commit: …)`), or
 * undefined: no answer within the timeout, an empty version (an unversioned build), or
 * anything that is not the agent. Run in a process group of its own that is SIGKILLed once it
 * is done: a wrapper that does not exec may have started something that keeps running (and
 * holds the output pipe) whatever `--version` means to it. `signal` gives up at once (unknown).
 */
export function learnAgentVersion(
  agentPath: string,
  env: NodeJS.ProcessEnv,
  timeoutMs = VERSION_TIMEOUT_MS,
  signal?: AbortSignal,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(agentPath, ["--version"], {
      env,
      detached: true,
      stdio: ["ignore", "pipe", "ignore"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      if (out.length < 64 * 1024) out += chunk.toString();
    });
    const finish = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", finish);
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // the group is gone
      }
      child.stdout.destroy();
      resolve(/^parca-agent, version (v?\d+\.\d+\.\d+\S*) /m.exec(out)?.[1]);
    };
    const timer = setTimeout(finish, timeoutMs);
    signal?.addEventListener("abort", finish, { once: true });
    if (signal?.aborted) finish();
    child.once("error", finish);
    // Its output is read to the end unless something it left behind holds the pipe open.
    child.once("exit", () => setTimeout(finish, 50));
    child.stdout.once("end", () => child.exitCode !== null && finish());
  });
}
