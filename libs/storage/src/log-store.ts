/**
 * The log-store contract: what the Raft core reads (`RaftStorage`, synchronous and read-only)
 * plus the asynchronous, serialized writes a driver performs while handling a Ready.
 *
 *     driver                               LogStore
 *     ───────                              ────────
 *     ready = node.ready()
 *     await store.save({ snapshot,   ──►   records buffered in call order; one write and one
 *                        entries,          fdatasync cover every save buffered meanwhile
 *                        hardState })      (group commit); the promise resolves once durable
 *     send ready.messages, apply ...
 *     node.advance(ready)            ──►   the core reads back through RaftStorage
 */
import type { Entry, HardState, LogIndex, RaftStorage, SnapshotMeta } from '@keyval/raft';

/**
 * One atomic-in-order unit of writes, as a Ready carries them. Applied in the order a driver
 * must persist a Ready (ready.ts): `snapshot` first, then `entries`, then `hardState`.
 */
export interface LogUpdate {
  /**
   * A snapshot received from the leader: the log keeps its suffix after `snapshot.index` only
   * if it holds an entry with that index and term, and drops everything otherwise (§7).
   */
  readonly snapshot?: SnapshotMeta;
  /** Contiguous entries; any stored entries from entries[0].index on are replaced (§5.3). */
  readonly entries?: readonly Entry[];
  readonly hardState?: HardState;
}

/** How a save is made durable. */
export interface SaveOptions {
  /**
   * When true (the default) the promise resolves only after the update is on stable storage
   * (fdatasync). When false it resolves once the update is handed to the operating system: it
   * survives a process crash but not a power loss, until a later synced save covers it. Use
   * false only when a Ready's `mustSync` is false.
   */
  readonly sync?: boolean;
}

/** When one fdatasync started and ended (monotonic ms of the store's scheduler: performance.now() by default). */
export interface SyncTiming {
  readonly startMs: number;
  readonly endMs: number;
}

/** Whether a store accepts writes. */
export type LogStoreState =
  /** Healthy. */
  | 'ok'
  /** A write hit ENOSPC; writes are refused with DiskFullError until space returns. */
  | 'disk-full'
  /** A fatal error (failed fsync, I/O error); every call fails. The owner must crash. */
  | 'failed'
  | 'closed';

/** What a store reports about itself (for a member's health endpoint). */
export interface LogStoreHealth {
  readonly state: LogStoreState;
  /** True only in state `ok`. */
  readonly writable: boolean;
  /** Why the store is not `ok`, for health endpoints and logs. */
  readonly detail?: string;
}

/**
 * A durable (or in-memory) Raft log store.
 *
 * **Ordering.** Writes are serialized in call order: each write is validated and takes its
 * place in the log when it is called, and promises resolve in call order. A write's effect is
 * visible to the RaftStorage reads no later than when its promise resolves (implementations
 * may show it earlier). Reads never block.
 *
 * **Failures.** A write that is refused (see errors.ts) changes nothing. When a write fails
 * because the disk is full, every write buffered after it fails too (they were validated
 * against a log that now does not exist) and the store reads as it was before the failed
 * write. A fatal failure rejects every waiting write; the owner must crash and restart.
 *
 * Contract violations (a gap before entries[0], compacting past the last index...) are thrown
 * as RaftInvariantError, as MemoryStorage does, and change nothing.
 */
export interface LogStore extends RaftStorage {
  /** Persists `update` (snapshot, then entries, then hard state). */
  save(update: LogUpdate, options?: SaveOptions): Promise<void>;
  /** `save({ entries })`. */
  append(entries: readonly Entry[]): Promise<void>;
  /** `save({ hardState })`. */
  setHardState(hardState: HardState): Promise<void>;
  /** `save({ snapshot: meta })`: installs a snapshot received from the leader (§7). */
  applySnapshot(meta: SnapshotMeta): Promise<void>;
  /**
   * Log compaction (§7): the state machine has a snapshot at `meta.index`, which must be in
   * the log with `meta.term`; entries up to it are discarded (durable stores delete whole
   * segment files that lie before it). A no-op when `meta.index` is not after the current
   * snapshot.
   */
  compact(meta: SnapshotMeta): Promise<void>;
  /** Resolves once everything written before it is durable. */
  sync(): Promise<void>;
  health(): LogStoreHealth;
  /**
   * Bytes the entries in (after, through] take in the log, for metrics (a follower's lag in
   * bytes). Only entries the store holds count: indexes compacted away or past the last index
   * add nothing. O(through - after); never blocks.
   */
  logBytes(after: LogIndex, through: LogIndex): number;
  /**
   * When the most recent fdatasync ran (the scheduler's monotonic ms), for tracing: read right after a
   * synced save resolves, it is the sync that covered it. Stores that do not sync leave it out.
   */
  lastSyncTiming?(): SyncTiming | undefined;
  /** Waits for buffered writes, then releases files. Later writes reject with StoreClosedError. */
  close(): Promise<void>;
}

/** Where a store reports notable events (a torn tail truncated, disk full, a failed sync). */
export interface StorageLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A logger that drops everything. */
export const SILENT_LOGGER: StorageLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
