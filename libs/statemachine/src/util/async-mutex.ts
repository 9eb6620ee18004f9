/**
 * A FIFO mutex for async sections (apply batches, restore, close): at most one runs at a time,
 * in the order they asked.
 */
export class AsyncMutex {
  private tail: Promise<void> = Promise.resolve();

  /** Runs `section` once every earlier section has finished; returns its result. */
  run<T>(section: () => Promise<T>): Promise<T> {
    const result = this.tail.then(section);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
