import { errnoOrMessage } from "../core/errors.js";
import type { Effect } from "../loop/effects.js";
import type { LoopEvent } from "../loop/events.js";
import { readStable } from "../relation/reader.js";
import type { CheckGate } from "./check-gate.js";
import type { ReconcilerOptions } from "./options.js";

/** Work that `abortApply` gave up on. */
export class Aborted extends Error {
  override readonly name = "Aborted";
}

/** What carrying out an effect needs of the loop's runner. */
export interface Performer {
  readonly options: ReconcilerOptions;
  readonly gate: CheckGate;
  /** A reconcile read waits behind the work running now. */
  readonly readQueued: boolean;
  /** Runs `work` as the one an `abortApply` gives up on; then its failure is Aborted. */
  abortable(work: (signal: AbortSignal) => Promise<void>): Promise<void>;
}

/**
 * Carries out one effect with I/O, in the loop's turn, and says what came of it as the next
 * event: the stable read, the check's result, how the apply ended, whether the last-known-good
 * was written, that the agent was stopped.
 */
export async function perform(loop: Performer, effect: Effect): Promise<LoopEvent | undefined> {
  const { options } = loop;
  switch (effect.type) {
    case "read": {
      const resolution = await readStable(options.sources);
      return {
        type: "read",
        purpose: effect.purpose,
        resolution,
        missing: options.sources.missing(),
      };
    }
    case "check": {
      const { config } = effect;
      const checked = await loop.gate.check(config, effect.since);
      const unsettledSince = options.unsettledSince?.();
      return {
        type: "checked",
        config,
        startedAt: checked?.startedAt ?? Number.NaN,
        newerQueued: loop.readQueued,
        ...(checked ? { result: checked.result } : {}),
        ...(unsettledSince === undefined ? {} : { unsettledSince }),
      };
    }
    case "apply": {
      const { request } = effect;
      try {
        await loop.abortable((signal) => options.runner.apply(request.launch, signal));
      } catch (err) {
        if (err instanceof Aborted)
          return { type: "applyEnded", request, outcome: { kind: "aborted" } };
        const message = options.secrets.scrub((err as Error).message);
        return { type: "applyEnded", request, outcome: { kind: "failed", message } };
      }
      const { eventAt } = request;
      const reactionMs = eventAt === undefined ? undefined : performance.now() - eventAt;
      const outcome = {
        kind: "applied",
        ...(reactionMs === undefined ? {} : { reactionMs }),
        ...(options.runner.keepsAgent ? { keptAgent: true } : {}),
      } as const;
      return { type: "applyEnded", request, outcome };
    }
    case "stopAgent":
      await loop.abortable((signal) => options.runner.stop(signal));
      await options.knownGood.clear();
      return { type: "agentStopped" };
    case "persist": {
      const record = { ...effect.knownGood, appliedAt: new Date().toISOString() };
      const after = effect.after ? { after: effect.after } : {};
      try {
        await options.knownGood.save(record);
        return { type: "persisted", ...after };
      } catch (err) {
        options.log.error(
          {
            event: "state_write_failed",
            path: options.knownGood.path,
            error: (err as Error).message,
          },
          "cannot persist the last-known-good config; the agent keeps running",
        );
        return { type: "persisted", error: errnoOrMessage(err), ...after };
      }
    }
    default:
      return undefined;
  }
}
