import { type Problem, problem } from "../problem.js";
import { STRONG_TOKEN_LENGTH } from "../secrets.js";
import type { RelationError } from "./errors.js";
import { readSource, type SourceRead } from "./source.js";
import { type StoreConfig, sameStore } from "./types.js";

/** One source as reported in status: what it holds, its error, its warnings. */
export interface SourceReport {
  readonly path: string;
  readonly configured: boolean;
  readonly error?: Problem;
  readonly warnings: readonly Problem[];
}

/** What all sources say together: the first source that is configured or in error decides. */
export type Decision =
  | { readonly kind: "configured"; readonly config: StoreConfig; readonly path: string }
  | { readonly kind: "unconfigured"; readonly reason: string }
  | { readonly kind: "error"; readonly error: RelationError };

export interface Resolution {
  readonly decision: Decision;
  readonly sources: readonly SourceReport[];
  /** Every source's warnings, in source order. */
  readonly warnings: readonly Problem[];
}

export interface ResolveOptions {
  /** Report a missing source as SOURCE_MISSING (done at start, so a mistyped path shows). */
  readonly reportMissing?: boolean;
}

const weakToken = (token: string | undefined) =>
  token !== undefined && token.length < STRONG_TOKEN_LENGTH;

/** A `--relation` path that does not exist: a warning, so a mistyped path is not a silent wait. */
export function sourceMissing(path: string): Problem {
  return problem(
    "SOURCE_MISSING",
    `relation source ${path} does not exist`,
    "check the --relation path (and the volume or hook that writes it); the sidecar waits for it to appear",
    path,
  );
}

/** Reads every source in order and decides which store config (if any) is wanted. */
export async function resolveSources(
  paths: readonly string[],
  options: ResolveOptions = {},
): Promise<Resolution> {
  const reads = await Promise.all(paths.map((path) => readSource(path)));
  return decide(reads, options);
}

export function decide(reads: readonly SourceRead[], options: ResolveOptions = {}): Resolution {
  let decision: Decision | undefined;
  const sources: SourceReport[] = [];
  for (const read of reads) {
    const warnings: Problem[] = [];
    if (read.kind === "missing" && options.reportMissing) warnings.push(sourceMissing(read.path));
    if (read.kind === "unconfigured" && read.lookalike) warnings.push(read.lookalike);
    if (read.kind === "configured") warnings.push(...read.warnings);
    if (read.kind === "configured" && read.config.insecure && read.config.token !== undefined) {
      warnings.push(
        problem(
          "TOKEN_OVER_PLAINTEXT",
          `the bearer token in ${read.path} is sent over plaintext gRPC (remote-store-insecure is "true")`,
          'use TLS (remote-store-insecure: "false", through an ingress), or accept that anyone on the path can read the token',
          read.path,
        ),
      );
    }
    if (read.kind === "configured" && weakToken(read.config.token)) {
      warnings.push(
        problem(
          "WEAK_TOKEN",
          `the bearer token in ${read.path} has fewer than ${STRONG_TOKEN_LENGTH} characters; it is redacted only where it stands as a value`,
          "use a longer, random token at the store and in the relation data",
          read.path,
        ),
      );
    }
    if (read.kind === "configured" && decision?.kind === "configured") {
      if (!sameStore(read.config, decision.config)) {
        warnings.push(
          problem(
            "CONFLICT",
            `relation source ${read.path} holds a different store config than ${decision.path}, which is used`,
            `remove the stale source or make both agree; the first --relation path that is configured wins`,
            read.path,
          ),
        );
      }
    }
    if (decision === undefined) {
      if (read.kind === "configured") {
        decision = { kind: "configured", config: read.config, path: read.path };
      } else if (read.kind === "error") {
        decision = { kind: "error", error: read.error };
      }
    }
    sources.push({
      path: read.path,
      configured: read.kind === "configured",
      ...(read.kind === "error" ? { error: read.error.toProblem() } : {}),
      warnings,
    });
  }
  return {
    decision: decision ?? { kind: "unconfigured", reason: unconfiguredReason(reads) },
    sources,
    warnings: sources.flatMap((s) => s.warnings),
  };
}

function unconfiguredReason(reads: readonly SourceRead[]): string {
  if (reads.length === 0) return "no relation source is given (--relation)";
  const parts = reads.map((r) =>
    r.kind === "missing"
      ? `${r.path} does not exist`
      : `${r.path} holds no remote-store-address${r.kind === "unconfigured" && r.lookalike ? ` (${r.lookalike.message}; ${r.lookalike.hint})` : ""}`,
  );
  return `no store configured: ${parts.join("; ")}`;
}

/** Whether two reads say the same thing (a stable read; an invalid one is logged once). */
export function sameResolution(a: Resolution | undefined, b: Resolution | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const key = (r: Resolution) =>
    JSON.stringify([
      r.decision.kind === "error" ? r.decision.error.toProblem() : r.decision,
      r.sources,
    ]);
  return key(a) === key(b);
}
