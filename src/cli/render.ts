import { resolve } from "node:path";
import { create } from "@bufbuild/protobuf";
import { renderFlags, type TokenMode } from "../agent/flags.js";
import { problemMessage, storeMessage, toJson } from "../api/messages.js";
import { RenderResultSchema } from "../gen/parca/sidecar/v1/sidecar_pb.js";
import { resolveSources } from "../relation/sources.js";
import { redactArgv } from "../secrets.js";
import type { Options } from "./options.js";

/** `render`: prints the agent's argv for the current relation data; touches no network or file. */
export async function renderCommand(
  options: Options,
  out: (line: string) => void,
): Promise<number> {
  const tokenMode = options.choice<TokenMode>("token-mode");
  const stateDir = resolve(options.string("state-dir"));
  const showToken = options.flag("show-token");
  const base = options.baseArgs;
  const resolution = await resolveSources(options.strings("relation"), { reportMissing: true });
  const warnings = resolution.warnings.map(problemMessage);
  const { decision } = resolution;
  if (decision.kind === "error") {
    const error = decision.error.toProblem();
    out(
      toJson(
        RenderResultSchema,
        create(RenderResultSchema, {
          configured: false,
          reason: error.message,
          error: problemMessage(error),
          warnings,
        }),
      ),
    );
    return 2;
  }
  const missing = resolution.warnings.find((w) => w.code === "SOURCE_MISSING");
  if (decision.kind === "unconfigured" && missing) {
    // A path that does not exist is a mistake here, not "not configured yet" as for `run`.
    out(
      toJson(
        RenderResultSchema,
        create(RenderResultSchema, {
          configured: false,
          reason: missing.message,
          error: problemMessage(missing),
          warnings,
        }),
      ),
    );
    return 2;
  }
  if (decision.kind === "unconfigured") {
    const argv = showToken ? [...base] : redactArgv(base);
    out(
      toJson(
        RenderResultSchema,
        create(RenderResultSchema, { configured: false, reason: decision.reason, argv, warnings }),
      ),
    );
    return 0;
  }
  const rendered = renderFlags(base, decision.config, { tokenMode, stateDir });
  const argv = showToken ? [...rendered.argv] : redactArgv(rendered.argv);
  out(
    toJson(
      RenderResultSchema,
      create(RenderResultSchema, {
        configured: true,
        store: storeMessage(decision.config),
        argv,
        warnings,
      }),
    ),
  );
  return 0;
}
