import { olderThan, parseVersion } from "../core/version.js";
import { FLAG_V2_SCHEMA } from "../flag-names.js";

/** The store RPC an agent writes its profiles with (docs/store-protocol.md). */
export type WriteRpc = "Write" | "WriteArrow";

export interface AgentWrite {
  readonly rpc: WriteRpc;
  /** Why this RPC, in a few words: the version and the flag that decided it. */
  readonly why: string;
}

/** Agents before v0.47.1 know only the Write stream. */
const V2_SCHEMA_FLAG = [0, 47, 1] as const;
/** From v0.48 on, `--remote-store-use-v2-schema` (WriteArrow) defaults to true. */
const V2_SCHEMA_DEFAULT = [0, 48, 0] as const;

/**
 * Which RPC the agent will write with. `useV2Schema`: the agent's `--remote-store-use-v2-schema`,
 * when its argv sets it. An unknown or unparsable version means the newest agent's behaviour.
 */
export function agentWriteRpc(
  version: string | undefined,
  useV2Schema: boolean | undefined,
): AgentWrite {
  const parsed = parseVersion(version);
  const name = parsed ? `agent ${version?.trim()}` : "agent version unknown (newest assumed)";
  if (parsed && olderThan(parsed, V2_SCHEMA_FLAG)) {
    return { rpc: "Write", why: `${name}: before v0.47.1 only the Write stream` };
  }
  if (useV2Schema !== undefined) {
    return {
      rpc: useV2Schema ? "WriteArrow" : "Write",
      why: `${name}, ${FLAG_V2_SCHEMA}=${useV2Schema}`,
    };
  }
  if (parsed && olderThan(parsed, V2_SCHEMA_DEFAULT)) {
    return { rpc: "Write", why: `${name}: ${FLAG_V2_SCHEMA} defaults to false before v0.48` };
  }
  return { rpc: "WriteArrow", why: `${name}: ${FLAG_V2_SCHEMA} defaults to true from v0.48` };
}
