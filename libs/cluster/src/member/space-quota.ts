/**
 * etcd's space quota (server/etcdserver/quota.go) on a member: a write that adds data is
 * admitted while the database's size on disk plus the write's estimated cost stays below the
 * quota. The size is the figure `Status.dbSize` reports (the RocksDB files, measured by
 * DiskUsageProbe). Deciding what to do when it is not (raise NOSPACE through the log, refuse
 * the write) is the caller's: see libs/api space-guard.ts.
 *
 *     write ─► not a put, txn or lease grant (delete, compact, revoke...) ─► admitted
 *           ─► adds data, NOSPACE active in the replicated state ───────► alarmed
 *           ─► dbSize + cost < quota (a txn that adds nothing too) ─────► admitted
 *           └► otherwise ───────────────────────────────────────────────► over-quota
 */
import { noSpaceAlarmed, writeCost } from '@keyval/statemachine';
import type { MembershipState, WriteRequest } from '@keyval/statemachine';

/** etcd's default quota (DefaultQuotaBytes): 2 GiB. */
export const DEFAULT_QUOTA_BACKEND_BYTES = 2 * 1024 * 1024 * 1024;

/** etcd's largest recommended quota (MaxQuotaBytes): 8 GiB; above it etcd (and KeyVal) warn. */
export const MAX_RECOMMENDED_QUOTA_BACKEND_BYTES = 8 * 1024 * 1024 * 1024;

/** The quota a `--quota-backend-bytes` value means: 0 is etcd's default. Throws RangeError for a negative or fractional one. */
export function resolveQuotaBackendBytes(configured: number): number {
  if (!Number.isSafeInteger(configured) || configured < 0) {
    throw new RangeError(`quota-backend-bytes must be a non-negative integer, got ${configured}`);
  }
  return configured === 0 ? DEFAULT_QUOTA_BACKEND_BYTES : configured;
}

/** What the quota says of one write. */
export type SpaceVerdict =
  | { readonly kind: 'admitted' }
  /** A NOSPACE alarm is active: the write would be rejected when applied anyway. */
  | { readonly kind: 'alarmed' }
  /** The write would take the database past the quota: raise NOSPACE and refuse it. */
  | { readonly kind: 'over-quota'; readonly dbBytes: number; readonly costBytes: number; readonly quotaBytes: number };

export interface SpaceQuotaSource {
  /**
   * The database's size on disk (Status.dbSize), bytes, with the measurement it comes from: a
   * measurement may be cached briefly (DiskUsageProbe); a new one has a new `measuredAt`.
   */
  dbBytes(): Promise<{ readonly bytes: number; readonly measuredAt: number }>;
  /** The applied membership (its alarm table). */
  membership(): MembershipState;
}

/** The requests etcd's quota server judges (quotaKVServer Put and Txn, quotaLeaseServer LeaseGrant); others pass. */
const QUOTA_CHECKED: ReadonlySet<WriteRequest['type']> = new Set(['put', 'txn', 'leaseGrant']);

export class SpaceQuota {
  /** The measurement the estimate starts from, and what was admitted since (not measured yet). */
  private measuredAt = Number.NaN;
  private admittedSinceBytes = 0;

  constructor(
    /** Resolved quota, bytes (resolveQuotaBackendBytes). */
    readonly quotaBytes: number,
    private readonly source: SpaceQuotaSource,
  ) {
    if (!Number.isSafeInteger(quotaBytes) || quotaBytes <= 0) {
      throw new RangeError(`space quota must be a positive integer, got ${quotaBytes}`);
    }
  }

  /** Judges one write (see the module comment). Never throws but for the size probe's own failure. */
  async check(op: WriteRequest): Promise<SpaceVerdict> {
    if (!QUOTA_CHECKED.has(op.type)) {
      return { kind: 'admitted' };
    }
    const costBytes = writeCost(op);
    if (costBytes > 0 && noSpaceAlarmed(this.source.membership())) {
      return { kind: 'alarmed' };
    }
    // A txn that adds nothing (reads, deletes) is still judged by the size, as etcd's quota
    // judges every Txn: refused while the database is at or over the quota.
    const measured = await this.source.dbBytes();
    if (measured.measuredAt !== this.measuredAt) {
      this.measuredAt = measured.measuredAt;
      this.admittedSinceBytes = 0;
    }
    // A cached size does not see the writes admitted since: count their cost, so a burst of
    // writes cannot run past the quota between two measurements.
    const dbBytes = measured.bytes + this.admittedSinceBytes;
    // etcd: available while size + cost < quota (strictly).
    if (dbBytes + costBytes < this.quotaBytes) {
      this.admittedSinceBytes += costBytes;
      return { kind: 'admitted' };
    }
    return { kind: 'over-quota', dbBytes, costBytes, quotaBytes: this.quotaBytes };
  }
}
