/**
 * Leases (etcd's lessor state that is replicated): each lease's granted TTL, the remaining TTL
 * its last checkpoint recorded, and the keys attached to it. Expiry itself is not here: time
 * passes on the leader, which revokes an expired lease through the log (libs/cluster
 * lessor); every member applies the same grants, checkpoints and revokes.
 *
 * Apply stages its changes (a batch's grants, revokes, checkpoints, attachments) and commits
 * them together with the batch, so readers outside apply (the leader's lessor, TimeToLive)
 * see committed leases only. The RocksDB machine writes the committed changes in the batch's
 * write batch.
 */
import { invariant } from '../errors';

/** A lease as applied. */
export interface LeaseRecord {
  readonly id: bigint;
  /** Granted TTL, seconds. */
  readonly ttl: number;
  /** Remaining TTL at the last checkpoint, seconds; 0 when none (the full TTL counts). */
  readonly remainingTtl: number;
}

/** A lease with its keys (latin1 key strings), for reads. */
export interface LeaseInfo extends LeaseRecord {
  readonly keys: readonly string[];
}

interface Staged {
  /** The lease after the batch; null when revoked; undefined when only its keys changed. */
  record?: LeaseRecord | null;
  readonly attached: Set<string>;
  readonly detached: Set<string>;
}

/** What a batch changed, for the RocksDB write batch. */
export interface LeaseChanges {
  readonly upserts: LeaseRecord[];
  readonly deletes: bigint[];
  readonly attached: Array<{ readonly id: bigint; readonly key: string }>;
  readonly detached: Array<{ readonly id: bigint; readonly key: string }>;
}

export class LeaseTable {
  private readonly leases = new Map<bigint, LeaseRecord>();
  private readonly keysOf = new Map<bigint, Set<string>>();
  private staged = new Map<bigint, Staged>();

  /** Committed leases. */
  get size(): number {
    return this.leases.size;
  }

  /** The lease as apply sees it (staged changes included). */
  get(id: bigint): LeaseRecord | undefined {
    const staged = this.staged.get(id);
    if (staged?.record !== undefined) {
      return staged.record ?? undefined;
    }
    return this.leases.get(id);
  }

  grant(id: bigint, ttl: number): void {
    invariant(this.get(id) === undefined, () => `lease ${id} granted twice`);
    this.stage(id).record = { id, ttl, remainingTtl: 0 };
  }

  /** Revokes a lease; returns its keys (latin1), which the caller deletes. */
  revoke(id: bigint): string[] {
    invariant(this.get(id) !== undefined, () => `revoke of unknown lease ${id}`);
    const keys = this.keys(id);
    const staged = this.stage(id);
    staged.record = null;
    staged.attached.clear();
    for (const key of keys) {
      staged.detached.add(key);
    }
    return keys;
  }

  checkpoint(id: bigint, remainingTtl: number): void {
    const lease = this.get(id);
    if (lease !== undefined) {
      this.stage(id).record = { ...lease, remainingTtl };
    }
  }

  attach(id: bigint, key: string): void {
    const staged = this.stage(id);
    staged.detached.delete(key);
    staged.attached.add(key);
  }

  detach(id: bigint, key: string): void {
    const staged = this.stage(id);
    if (!staged.attached.delete(key) || this.keysOf.get(id)?.has(key) === true) {
      staged.detached.add(key);
    }
  }

  /** The keys of a lease as apply sees it, sorted (etcd revokes them in key order). */
  keys(id: bigint): string[] {
    const staged = this.staged.get(id);
    const keys = new Set(this.keysOf.get(id) ?? []);
    if (staged !== undefined) {
      staged.detached.forEach((key) => keys.delete(key));
      staged.attached.forEach((key) => keys.add(key));
    }
    return [...keys].sort();
  }

  /** What committing the staged changes will change (nothing is changed yet). */
  prepare(): LeaseChanges {
    const changes: LeaseChanges = { upserts: [], deletes: [], attached: [], detached: [] };
    for (const [id, staged] of this.staged) {
      const keys = this.keysOf.get(id);
      for (const key of staged.detached) {
        if (keys?.has(key) === true) {
          changes.detached.push({ id, key });
        }
      }
      for (const key of staged.attached) {
        if (keys?.has(key) !== true) {
          changes.attached.push({ id, key });
        }
      }
      if (staged.record === null) {
        changes.deletes.push(id);
      } else if (staged.record !== undefined) {
        changes.upserts.push(staged.record);
      }
    }
    return changes;
  }

  /** Makes the staged changes visible. */
  commit(): void {
    for (const [id, staged] of this.staged) {
      let keys = this.keysOf.get(id);
      for (const key of staged.detached) {
        keys?.delete(key);
      }
      if (staged.attached.size > 0) {
        if (keys === undefined) {
          keys = new Set();
          this.keysOf.set(id, keys);
        }
        for (const key of staged.attached) {
          keys.add(key);
        }
      }
      if (keys !== undefined && keys.size === 0) {
        this.keysOf.delete(id);
      }
      if (staged.record === null) {
        invariant(!this.keysOf.has(id), () => `lease ${id} revoked with keys still attached`);
        this.leases.delete(id);
      } else if (staged.record !== undefined) {
        this.leases.set(id, staged.record);
      }
    }
    this.staged = new Map();
  }

  /** Drops staged changes (a batch that failed: the machine stops anyway). */
  discard(): void {
    this.staged = new Map();
  }

  /** Replaces the whole table (open, restore). */
  load(leases: readonly LeaseRecord[], attachments: Iterable<{ id: bigint; key: string }>): void {
    this.leases.clear();
    this.keysOf.clear();
    this.staged = new Map();
    for (const lease of leases) {
      this.leases.set(lease.id, lease);
    }
    for (const { id, key } of attachments) {
      invariant(this.leases.has(id), () => `key attached to unknown lease ${id}`);
      let keys = this.keysOf.get(id);
      if (keys === undefined) {
        keys = new Set();
        this.keysOf.set(id, keys);
      }
      keys.add(key);
    }
  }

  /** Committed leases, by id. */
  records(): LeaseRecord[] {
    return [...this.leases.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** A committed lease with its keys. */
  info(id: bigint): LeaseInfo | undefined {
    const lease = this.leases.get(id);
    return lease === undefined ? undefined : { ...lease, keys: [...(this.keysOf.get(id) ?? [])].sort() };
  }

  private stage(id: bigint): Staged {
    let staged = this.staged.get(id);
    if (staged === undefined) {
      staged = { attached: new Set(), detached: new Set() };
      this.staged.set(id, staged);
    }
    return staged;
  }
}
