import { performance } from "node:perf_hooks";
import type { Problem } from "../problem.js";
import { type DiagnosisCode, diagnose, StoreCheckError, type WarningCode } from "./diagnosis.js";
import type { CheckOptions, Stage } from "./result.js";
import type { Target } from "./target.js";

/** One check run: its deadline, the stages it went through, and what it holds open. */
export class Run {
  readonly stages: Stage[] = [];
  readonly warnings: Problem[] = [];
  readonly started = performance.now();
  readonly deadline: number;
  /** The address TCP reached, for follow-up probes. */
  ip = "";
  /** The first error the connection itself reported. */
  transportError: unknown;
  private readonly open: { destroy(): void }[] = [];

  constructor(
    readonly target: Target,
    readonly options: CheckOptions,
  ) {
    this.deadline = this.started + options.timeoutMs;
  }

  remaining(): number {
    return Math.max(0, this.deadline - performance.now());
  }

  hold<T extends { destroy(): void }>(resource: T): T {
    this.open.push(resource);
    return resource;
  }

  close(): void {
    for (const resource of this.open.splice(0).reverse()) resource.destroy();
  }

  warn(code: WarningCode): void {
    this.warnings.push(diagnose(code, { address: this.target.address, host: this.target.host }));
  }

  /** Runs a stage within what is left of the budget, and records it. */
  async stage<T>(name: string, work: () => Promise<T>): Promise<T> {
    const start = performance.now();
    const timeoutCode: DiagnosisCode =
      name === "dns" || name === "tcp" ? "CONNECT_TIMEOUT" : "DEADLINE_EXCEEDED";
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const { signal } = this.options;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreCheckError(timeoutCode)), this.remaining());
      onAbort = () => reject(new StoreCheckError("UNKNOWN", "check aborted"));
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
    try {
      const value = await Promise.race([work(), timeout]);
      this.stages.push({ name, ok: true, durationMs: performance.now() - start });
      return value;
    } catch (err) {
      this.stages.push({ name, ok: false, durationMs: performance.now() - start });
      throw err;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
  }
}
