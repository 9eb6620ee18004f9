/**
 * The in-memory LogStore: raft's MemoryStorage behind the asynchronous LogStore contract.
 * Writes apply at once and resolve immediately; nothing survives the process. Used by tests
 * and the simulation, and as the reference the durable store is checked against.
 */
import { MemoryStorage } from '@keyval/raft';
import type { Entry, HardState, LogIndex, SnapshotMeta, Term } from '@keyval/raft';
import { StoreClosedError } from './errors';
import type { LogStore, LogStoreHealth, LogUpdate, SaveOptions } from './log-store';
import { planCompact, planUpdate } from './log-update-plan';

/** A LogStore in memory: writes apply and resolve at once; `health()` is always `ok` until closed. */
export class MemoryLogStore implements LogStore {
  private readonly storage = new MemoryStorage();
  private closed = false;

  hardState(): HardState {
    return this.storage.hardState();
  }

  snapshotMeta(): SnapshotMeta {
    return this.storage.snapshotMeta();
  }

  firstIndex(): LogIndex {
    return this.storage.firstIndex();
  }

  lastIndex(): LogIndex {
    return this.storage.lastIndex();
  }

  term(index: LogIndex): Term {
    return this.storage.term(index);
  }

  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    return this.storage.entries(lo, hi, maxBytes);
  }

  /** All entries after the snapshot (for tests and checkers). */
  allEntries(): readonly Entry[] {
    return this.storage.allEntries();
  }

  async save(update: LogUpdate, _options?: SaveOptions): Promise<void> {
    this.assertOpen();
    // Validate the whole update first so that a refused one changes nothing.
    planUpdate(this.storage, update);
    if (update.snapshot !== undefined) {
      this.storage.applySnapshot(update.snapshot);
    }
    if (update.entries !== undefined) {
      this.storage.append(update.entries);
    }
    if (update.hardState !== undefined) {
      this.storage.setHardState(update.hardState);
    }
  }

  append(entries: readonly Entry[]): Promise<void> {
    return this.save({ entries });
  }

  setHardState(hardState: HardState): Promise<void> {
    return this.save({ hardState });
  }

  applySnapshot(meta: SnapshotMeta): Promise<void> {
    return this.save({ snapshot: meta });
  }

  async compact(meta: SnapshotMeta): Promise<void> {
    this.assertOpen();
    if (planCompact(this.storage, meta)) {
      this.storage.compact(meta);
    }
  }

  async sync(): Promise<void> {
    this.assertOpen();
  }

  logBytes(after: LogIndex, through: LogIndex): number {
    const lo = Math.max(after + 1, this.firstIndex());
    const hi = Math.min(through, this.lastIndex()) + 1;
    let bytes = 0;
    if (lo < hi) {
      for (const entry of this.storage.entries(lo as LogIndex, hi as LogIndex, Number.POSITIVE_INFINITY)) {
        bytes += entry.data.byteLength;
      }
    }
    return bytes;
  }

  health(): LogStoreHealth {
    return this.closed ? { state: 'closed', writable: false, detail: 'closed' } : { state: 'ok', writable: true };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new StoreClosedError();
    }
  }
}
