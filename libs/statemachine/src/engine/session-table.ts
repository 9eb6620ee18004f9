/**
 * Client sessions (dissertation §6.3): for each client, the last sequence number applied and
 * the outcome it produced, so a retry is answered from memory instead of being applied twice.
 *
 * Everything here is a function of the log: sessions are ordered by the log index that last
 * used them (which is also log-time order, since log time never decreases), expire when idle
 * for more than the TTL of log time, and the least recently used one is evicted beyond
 * `maxSessions`. A restarted or restored member rebuilds the same order from `lastIndex`, so
 * every member expires and evicts the same sessions at the same index.
 *
 * The table records which sessions changed since the last `drainChanges`, so the RocksDB
 * implementation writes only those in its batch.
 */
import type { ClientId, SessionInfo } from '../command-types';
import { invariant } from '../errors';
import type { StateMachineLimits } from '../limits';

/** One session, immutable (replaced on every change). */
export interface SessionRecord {
  /** clientKey(clientId): the map key, latin1 of the encoded client id. */
  readonly key: string;
  readonly clientId: ClientId;
  readonly lastSeq: number;
  /** Log index of the entry that last used the session. */
  readonly lastIndex: number;
  /** Log time of that use. */
  readonly lastSeenMs: number;
  /** The encoded outcome of `lastSeq`, or null when it exceeded maxRememberedResponseBytes. */
  readonly outcome: Uint8Array | null;
}

export type SessionLimits = Pick<StateMachineLimits, 'maxSessions' | 'sessionTtlMs' | 'maxRememberedResponseBytes'>;

export class SessionTable {
  /** Insertion order is lastIndex order: a use deletes and re-inserts. */
  private readonly byKey = new Map<string, SessionRecord>();
  /** Keys written or deleted since the last drainChanges. */
  private readonly changed = new Set<string>();

  constructor(private readonly limits: SessionLimits) {}

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): SessionRecord | undefined {
    return this.byKey.get(key);
  }

  /** Drops every session idle for longer than the TTL at log time `nowMs`. */
  expire(nowMs: number): void {
    for (const record of this.byKey.values()) {
      if (nowMs - record.lastSeenMs <= this.limits.sessionTtlMs) {
        break; // the rest were used later
      }
      this.delete(record.key);
    }
  }

  /**
   * Records that `seq` of the client was applied at `index` with `outcome` (its encoding).
   * Evicts the least recently used session when a new one would pass maxSessions.
   */
  remember(key: string, clientId: ClientId, seq: number, index: number, nowMs: number, outcome: Uint8Array): void {
    const previous = this.byKey.get(key);
    invariant(previous === undefined || seq > previous.lastSeq, () => `session ${key}: seq ${seq} is not after ${previous?.lastSeq}`);
    if (previous === undefined && this.byKey.size >= this.limits.maxSessions) {
      const oldest = this.byKey.keys().next().value as string;
      this.delete(oldest);
    }
    const retained = outcome.byteLength <= this.limits.maxRememberedResponseBytes ? outcome : null;
    this.set({ key, clientId, lastSeq: seq, lastIndex: index, lastSeenMs: nowMs, outcome: retained });
  }

  /** Marks a session used by a retry at `index` (moves it to the back of the eviction order). */
  touch(key: string, index: number, nowMs: number): void {
    const record = this.byKey.get(key);
    invariant(record !== undefined, `touch of unknown session ${key}`);
    this.set({ ...record, lastIndex: index, lastSeenMs: Math.max(record.lastSeenMs, nowMs) });
  }

  /** Replaces the whole table (open, restore); the records may come in any order. */
  load(records: readonly SessionRecord[]): void {
    this.byKey.clear();
    this.changed.clear();
    const sorted = [...records].sort((a, b) => a.lastIndex - b.lastIndex);
    for (const record of sorted) {
      invariant(!this.byKey.has(record.key), `duplicate session ${record.key}`);
      this.byKey.set(record.key, record);
    }
  }

  /** Every session, least recently used first. */
  records(): SessionRecord[] {
    return [...this.byKey.values()];
  }

  /** Sessions for inspection. */
  info(): SessionInfo[] {
    return this.records().map((r) => ({ clientId: r.clientId, lastSeq: r.lastSeq, lastIndex: r.lastIndex, lastSeenMs: r.lastSeenMs, retained: r.outcome !== null }));
  }

  /** What changed since the last call: records to write and keys to delete. */
  drainChanges(): { upserts: SessionRecord[]; deletes: string[] } {
    const upserts: SessionRecord[] = [];
    const deletes: string[] = [];
    for (const key of this.changed) {
      const record = this.byKey.get(key);
      if (record === undefined) {
        deletes.push(key);
      } else {
        upserts.push(record);
      }
    }
    this.changed.clear();
    return { upserts, deletes };
  }

  private set(record: SessionRecord): void {
    this.byKey.delete(record.key);
    this.byKey.set(record.key, record);
    this.changed.add(record.key);
  }

  private delete(key: string): void {
    this.byKey.delete(key);
    this.changed.add(key);
  }
}
