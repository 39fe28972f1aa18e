import { Listeners } from "../core/listeners.js";
import { INITIAL_STATE, type LoopState, type Work } from "./state.js";

/**
 * The loop's state and its only writer. `commit` replaces the state as a whole, runs the exit
 * action of the work it leaves (clearing that work's timer, aborting its check) and tells the
 * listeners; nothing else writes it, so what status derives from it cannot drift.
 */
export class LoopMachine {
  private current: LoopState = INITIAL_STATE;
  private readonly listeners = new Listeners();
  private readonly exits = new Map<Work["kind"], () => void>();

  /** The current state; read-only, replaced on every change. */
  get state(): LoopState {
    return this.current;
  }

  get work(): Work {
    return this.current.work;
  }

  /** Runs `action` whenever the loop leaves work of this kind. */
  onExit(kind: Work["kind"], action: () => void): void {
    this.exits.set(kind, action);
  }

  /** Called after every change. */
  onChange(listener: () => void): () => void {
    return this.listeners.subscribe(listener);
  }

  /** The one transition: the fields given replace the current ones. */
  commit(patch: Partial<LoopState>): void {
    const before = this.current;
    // Once stopped, only the applied config may still change (the agent stopped at shutdown).
    const work = before.work.kind === "stopped" ? before.work : (patch.work ?? before.work);
    this.current = { ...before, ...patch, work };
    if (work !== before.work && work.kind !== before.work.kind)
      this.exits.get(before.work.kind)?.();
    this.listeners.emit();
  }
}
