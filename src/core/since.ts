/** When a value last changed, as it is looked at: `see` it on every change, read `at`. */
export class Since<T> {
  private value: T;
  private changedAt: number;

  constructor(value: T, now = Date.now()) {
    this.value = value;
    this.changedAt = now;
  }

  /** Records the value now; returns since when (ms since the epoch) it has held. */
  see(value: T, now = Date.now()): number {
    if (value !== this.value) {
      this.value = value;
      this.changedAt = now;
    }
    return this.changedAt;
  }
}
