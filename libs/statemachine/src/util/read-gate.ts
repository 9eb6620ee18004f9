/**
 * Coordinates readers (range reads, snapshot exports) with the two things that must not
 * overlap them:
 * - a write in flight (an apply batch being written): readers arriving meanwhile wait, so a
 *   reader never pairs the new data on disk with the old revision in memory; readers already
 *   running hold their own point-in-time view (a RocksDB iterator) and go on;
 * - an exclusive section (swapping the database on restore, closing): it waits for running
 *   readers to finish, and readers arriving meanwhile wait for it.
 */
export class ReadGate {
  private readers = 0;
  private writing = false;
  private exclusive = false;
  private waiters: Array<() => void> = [];
  private drained: Array<() => void> = [];

  /**
   * Enters a read: waits until no write or exclusive section is in flight, then runs `open`
   * synchronously in the same turn as that check (so what it captures - an iterator, the
   * revision - belongs to one committed state) and returns its result. Pair with `exitRead`.
   */
  async enterRead<T>(open: () => T): Promise<T> {
    while (this.writing || this.exclusive) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.readers++;
    try {
      return open();
    } catch (error) {
      this.exitRead();
      throw error;
    }
  }

  exitRead(): void {
    this.readers--;
    if (this.readers === 0) {
      this.wake('drained');
    }
  }

  /** Marks a write in flight (synchronously, before the write is issued). */
  beginWrite(): void {
    this.writing = true;
  }

  endWrite(): void {
    this.writing = false;
    this.wake('waiters');
  }

  /** Waits for running readers, then holds new ones until `endExclusive`. */
  async beginExclusive(): Promise<void> {
    this.exclusive = true;
    while (this.readers > 0) {
      await new Promise<void>((resolve) => this.drained.push(resolve));
    }
  }

  endExclusive(): void {
    this.exclusive = false;
    this.wake('waiters');
  }

  private wake(which: 'waiters' | 'drained'): void {
    const list = which === 'waiters' ? this.waiters : this.drained;
    if (which === 'waiters') {
      this.waiters = [];
    } else {
      this.drained = [];
    }
    list.forEach((resolve) => resolve());
  }
}
