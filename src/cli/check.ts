import { readFileSync } from "node:fs";
import { CheckResultSchema } from "../gen/parca/sidecar/v1/sidecar_pb.js";
import { Secrets, scrubValues } from "../log.js";
import { checkResultMessage, toJson } from "../messages.js";
import { storeChecker } from "../reconcile/checker.js";
import { resolveSources } from "../relation/sources.js";
import { type CheckResult, failedCheck } from "../store/check.js";
import { diagnose } from "../store/diagnosis.js";
import { pemCertificates } from "../store/roots.js";
import { type Options, UsageError } from "./options.js";

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

/** `check`: checks the configured store the way the agent will connect; exit 0 ok, 1 failed, 2 bad input. */
export async function checkCommand(
  options: Options,
  env: NodeJS.ProcessEnv,
  out: (line: string) => void,
): Promise<number> {
  const caFile = validateCaFile(options.optionalString("ca-file"));
  const timeoutMs = options.count("timeout-ms");
  if (timeoutMs === 0) throw new UsageError("--timeout-ms must be more than 0");
  const agentVersion = options.optionalString("agent-version");
  const secrets = new Secrets();
  // The result's messages were scrubbed where they were made; this scrubs its string values
  // once more, never the JSON around them.
  const print = (result: CheckResult) => {
    const json = JSON.parse(toJson(CheckResultSchema, checkResultMessage(result)));
    out(JSON.stringify(scrubValues(json, secrets)));
  };

  const { decision } = await resolveSources(options.strings("relation"), { reportMissing: true });
  if (decision.kind === "error") {
    print(failedCheck("", false, decision.error.toProblem()));
    return 2;
  }
  if (decision.kind === "unconfigured") {
    const notConfigured = diagnose("NOT_CONFIGURED", { address: "", host: "" });
    print(failedCheck("", false, { ...notConfigured, message: decision.reason }));
    return 2;
  }
  secrets.add(decision.config.token);
  // The same check `run` makes: the agent's argv rendered with the token, its environment.
  const checker = storeChecker({
    baseArgs: options.baseArgs,
    env,
    timeoutMs,
    secrets,
    ...(caFile ? { caFile } : {}),
    ...(agentVersion ? { agentVersion } : {}),
  });
  const result = await checker.check(decision.config);
  print(result);
  return result.ok ? 0 : 1;
}
