/** A set of listeners for one kind of event. */
export class Listeners<E = void> {
  private readonly set = new Set<(event: E) => void>();

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: (event: E) => void): () => void {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }

  emit(event: E): void {
    for (const listener of this.set) listener(event);
  }
}
