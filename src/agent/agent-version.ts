import { execa } from "execa";

/** How long `<agent> --version` may take before the version counts as unknown. */
export const VERSION_TIMEOUT_MS = 2000;

/**
 * The version the agent binary reports (`parca-agent, version v0.41.0 (commit: …)`), or
 * undefined: no answer within the timeout, a non-zero exit, an empty version (an unversioned
 * build), or anything that is not the agent (a wrapper script that starts it).
 */
export async function learnAgentVersion(
  agentPath: string,
  env: NodeJS.ProcessEnv,
  timeoutMs = VERSION_TIMEOUT_MS,
): Promise<string | undefined> {
  const result = await execa(agentPath, ["--version"], {
    env,
    extendEnv: false,
    reject: false,
    timeout: timeoutMs,
    stdin: "ignore",
    stderr: "ignore",
    maxBuffer: 64 * 1024,
    cleanup: true,
  });
  if (result.failed) return undefined;
  return /^parca-agent, version (v?\d+\.\d+\.\d+\S*) /m.exec(String(result.stdout))?.[1];
}
