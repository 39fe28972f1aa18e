import { readFileSync } from "node:fs";
import { renderFlags } from "../agent/flags.js";
import { CheckResultSchema } from "../gen/parca/sidecar/v1/sidecar_pb.js";
import { checkResultMessage, toJson } from "../messages.js";
import type { Problem } from "../problem.js";
import { scrub } from "../redact.js";
import { resolveSources } from "../relation/sources.js";
import { type CheckResult, checkStore } from "../store/check.js";
import { diagnose } from "../store/diagnosis.js";
import { pemCertificates } from "../store/roots.js";
import { TargetError, targetFromArgv } from "../store/target.js";
import { type Options, UsageError } from "./options.js";

export const DEFAULT_CHECK_TIMEOUT_MS = 5000;

/** Refuses a --ca-file that cannot serve: better a usage error now than a TLS failure later. */
export function validateCaFile(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(
      `--ca-file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? "error"})`,
    );
  }
  if (pemCertificates(text).length === 0)
    throw new UsageError(`--ca-file ${path}: holds no PEM certificate`);
  return path;
}

function failed(address: string, insecure: boolean, diagnosis: Problem): CheckResult {
  return { ok: false, address, insecure, stages: [], diagnosis, warnings: [], durationMs: 0 };
}

/** `check`: checks the configured store the way the agent will connect; exit 0 ok, 1 failed, 2 bad input. */
export async function checkCommand(
  options: Options,
  env: NodeJS.ProcessEnv,
  out: (line: string) => void,
): Promise<number> {
  const caFile = validateCaFile(options.optionalString("ca-file"));
  const timeoutMs = options.count("timeout-ms", DEFAULT_CHECK_TIMEOUT_MS);
  if (timeoutMs === 0) throw new UsageError("--timeout-ms must be more than 0");
  const agentVersion = options.optionalString("agent-version");
  const print = (result: CheckResult, secrets: readonly string[] = []) =>
    out(scrub(toJson(CheckResultSchema, checkResultMessage(result)), secrets));

  const { decision } = await resolveSources(options.strings("relation"), { reportMissing: true });
  if (decision.kind === "error") {
    print(failed("", false, decision.error.toProblem()));
    return 2;
  }
  if (decision.kind === "unconfigured") {
    print(
      failed("", false, {
        ...diagnose("NOT_CONFIGURED", { address: "", host: "" }),
        message: decision.reason,
      }),
    );
    return 2;
  }
  const { config } = decision;
  // The check needs the token itself, so it renders as mode `flag` whatever the agent uses.
  const rendered = renderFlags(options.baseArgs, config, { tokenMode: "flag", stateDir: "/" });
  const secrets = config.token === undefined ? [] : [config.token];
  let target: Awaited<ReturnType<typeof targetFromArgv>>;
  try {
    target = await targetFromArgv(rendered.argv, env, rendered.unsetEnv);
  } catch (err) {
    if (!(err instanceof TargetError)) throw err;
    print(
      failed(config.address, config.insecure, {
        code: "UNKNOWN",
        message: err.message,
        hint: err.hint,
        path: "",
      }),
      secrets,
    );
    return 1;
  }
  const result = await checkStore(target, {
    timeoutMs,
    env,
    ...(caFile ? { caFile } : {}),
    ...(agentVersion ? { agentVersion } : {}),
  });
  print(result, [...secrets, ...target.tokens]);
  return result.ok ? 0 : 1;
}
