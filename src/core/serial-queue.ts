/** Runs async work one piece at a time, in order; a failure does not stop the queue. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const next = this.tail.then(work, work);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Settles once everything queued so far has run. */
  drained(): Promise<void> {
    return this.run(async () => undefined);
  }
}
