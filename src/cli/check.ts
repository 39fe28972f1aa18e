import { checkResultMessage, toJson } from "../api/messages.js";
import { CheckResultSchema } from "../gen/parca/sidecar/v1/sidecar_pb.js";
import { storeChecker } from "../reconcile/checker.js";
import { resolveSources } from "../relation/sources.js";
import { Secrets, scrubValues } from "../secrets.js";
import { type CheckResult, failedCheck } from "../store/check.js";
import { diagnose } from "../store/diagnosis.js";
import { validateCaFile } from "./ca-file.js";
import { type Options, UsageError } from "./options.js";

/** The short human summary `check` prints on a terminal. */
export function humanCheck(result: CheckResult): string {
  const where = result.address
    ? `${result.address} (${result.insecure ? "plaintext" : "TLS"})`
    : "no store";
  const stages = result.stages.map((s) => `${s.name}${s.ok ? "" : " ✗"}`).join(" → ");
  const lines = result.ok
    ? [`✓ ${where}: ok in ${result.durationMs.toFixed(1)} ms (${stages})`]
    : [
        `✗ ${where}: ${result.diagnosis?.code ?? "FAILED"} — ${result.diagnosis?.message ?? ""}`,
        ...(result.diagnosis?.hint ? [`  hint: ${result.diagnosis.hint}`] : []),
        ...(stages ? [`  stages: ${stages}`] : []),
      ];
  for (const w of result.warnings) lines.push(`  warning ${w.code}: ${w.message} — ${w.hint}`);
  return lines.join("\n");
}

/**
 * `check`: checks the configured store the way the agent will connect; exit 0 ok, 1 failed, 2
 * bad input. Prints a short summary on a terminal, the CheckResult JSON otherwise (or --json).
 */
export async function checkCommand(
  options: Options,
  env: NodeJS.ProcessEnv,
  out: (line: string) => void,
  isTty = false,
): Promise<number> {
  const caFile = validateCaFile(options.optionalString("ca-file"));
  const timeoutMs = options.count("timeout-ms");
  if (timeoutMs === 0) throw new UsageError("--timeout-ms must be more than 0");
  const agentVersion = options.optionalString("agent-version");
  const secrets = new Secrets();
  // The result's messages were scrubbed where they were made; this scrubs its string values
  // once more, never the JSON around them.
  const human = isTty && !options.flag("json");
  const print = (result: CheckResult) => {
    const json = JSON.parse(toJson(CheckResultSchema, checkResultMessage(result)));
    const scrubbed = scrubValues(json, secrets);
    out(human ? secrets.scrub(humanCheck(result)) : JSON.stringify(scrubbed));
  };

  const resolution = await resolveSources(options.strings("relation"), { reportMissing: true });
  const { decision } = resolution;
  if (decision.kind === "error") {
    print(failedCheck("", false, decision.error.toProblem()));
    return 2;
  }
  const missing = resolution.warnings.find((w) => w.code === "SOURCE_MISSING");
  if (decision.kind === "unconfigured" && missing) {
    print(failedCheck("", false, missing));
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
  const checked = await checker.check(decision.config);
  // The relation data's own warnings (TOKEN_OVER_PLAINTEXT, UNKNOWN_KEYS, …) come first.
  const result = { ...checked, warnings: [...resolution.warnings, ...checked.warnings] };
  print(result);
  return result.ok ? 0 : 1;
}
