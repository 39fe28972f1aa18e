import { renderFlags } from "../agent/flags.js";
import type { StoreConfig } from "../relation/types.js";
import type { Secrets } from "../secrets.js";
import { type CheckResult, checkStore, failedCheck } from "../store/check.js";
import { TargetError, targetFromArgv } from "../store/target.js";

/** Checks a store config the way the agent would connect with it. */
export interface Checker {
  /** Never rejects; once `signal` aborts, it settles soon and its result means nothing. */
  check(config: StoreConfig, signal?: AbortSignal): Promise<CheckResult>;
}

export interface StoreCheckerOptions {
  readonly baseArgs: readonly string[];
  /** The agent's environment (PARCA_BEARER_TOKEN, SSL_CERT_FILE…). */
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
  readonly caFile?: string;
  readonly agentVersion?: string;
  readonly secrets: Secrets;
}

/** The real check: render the agent's argv (token as a flag, to have it), then probe the store. */
export function storeChecker(options: StoreCheckerOptions): Checker {
  return {
    async check(config, signal) {
      const rendered = renderFlags(options.baseArgs, config, { tokenMode: "flag", stateDir: "/" });
      try {
        const target = await targetFromArgv(rendered.argv, options.env, rendered.unsetEnv);
        for (const token of target.tokens) options.secrets.add(token);
        return await checkStore(target, {
          timeoutMs: options.timeoutMs,
          env: options.env,
          ...(options.caFile ? { caFile: options.caFile } : {}),
          ...(options.agentVersion ? { agentVersion: options.agentVersion } : {}),
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        if (!(err instanceof TargetError)) throw err;
        const diagnosis = { code: "UNKNOWN", message: err.message, hint: err.hint, path: "" };
        return failedCheck(config.address, config.insecure, diagnosis);
      }
    },
  };
}
