/**
 * The leader's side of leases (etcd's lessor as primary): when each lease expires, renewals
 * (keepalives), and revoking expired leases through the log. The leases themselves — granted
 * TTL, checkpointed remaining TTL, attached keys — are replicated state (the state machine);
 * only time is local, on the leader.
 *
 *     becomes leader ──► promote: every lease expires at now + (checkpointed remaining, else
 *                        the TTL) + extendMs (the election timeout: a keepalive the old
 *                        leader answered can be no later than that)
 *     keepalive ───────► renew: expires at now + TTL (a checkpointed remaining TTL is cleared
 *                        through the log, as etcd)
 *     every tick ──────► expired leases ──► propose revoke (at most revokesPerSecond)
 *     every interval ──► propose checkpoints of the remaining TTLs, so a new leader neither
 *                        restarts a lease from its full TTL nor expires it early
 *     loses leadership ► demote: forget every expiry (renewals answer "not primary")
 */
import type { LeaseRecord, WriteRequest, WriteResponse } from '@keyval/statemachine';
import type { Clock } from '../driver/clock';
import type { DriverLogger } from '../driver/raft-driver';

export interface LessorHost {
  /** Leases as applied. */
  leases(): readonly LeaseRecord[];
  lease(id: bigint): LeaseRecord | undefined;
  /** Proposes a write through the log (as leader); resolves once applied. */
  propose(op: WriteRequest): Promise<WriteResponse>;
}

export interface LessorOptions {
  /** Added to every expiry when this member becomes leader (etcd: the election timeout), ms. */
  readonly extendMs: number;
  /** How often remaining TTLs are checkpointed through the log, ms (etcd: 5 minutes). */
  readonly checkpointIntervalMs: number;
  /** Expired leases revoked per second at most (etcd: 1000). */
  readonly revokesPerSecond: number;
  /** How often expiries are checked, ms (etcd: 500). */
  readonly tickMs: number;
  /** Checkpoints per log entry at most (etcd: 1000). */
  readonly checkpointBatch: number;
}

export const DEFAULT_LESSOR_OPTIONS: LessorOptions = { extendMs: 1000, checkpointIntervalMs: 5 * 60 * 1000, revokesPerSecond: 1000, tickMs: 500, checkpointBatch: 1000 };

/** The outcome of a renewal on this member. */
export type RenewOutcome = { readonly ttl: number } | 'not-found' | 'not-primary';

export class Lessor {
  /** Expiry of each lease, monotonic ms; only while primary. */
  private readonly expiries = new Map<bigint, number>();
  private primary = false;
  private readonly revoking = new Set<bigint>();
  private ticker: { cancel(): void } | undefined;
  private checkpointer: { cancel(): void } | undefined;
  /** Counters (metrics, tests). */
  readonly counters = { renewals: 0, revokesProposed: 0, checkpointsProposed: 0 };

  constructor(
    private readonly host: LessorHost,
    private readonly clock: Clock,
    private readonly options: LessorOptions,
    private readonly logger?: DriverLogger,
  ) {}

  get isPrimary(): boolean {
    return this.primary;
  }

  start(): void {
    this.ticker = this.clock.setInterval(() => this.tick(), this.options.tickMs);
    this.checkpointer = this.clock.setInterval(() => this.checkpoint(), this.options.checkpointIntervalMs);
  }

  stop(): void {
    this.ticker?.cancel();
    this.checkpointer?.cancel();
    this.demote();
  }

  /** This member became leader: every lease gets its (checkpointed) remaining TTL, extended. */
  promote(): void {
    const now = this.clock.nowMs();
    this.primary = true;
    this.expiries.clear();
    for (const lease of this.host.leases()) {
      this.expiries.set(lease.id, now + this.options.extendMs + 1000 * (lease.remainingTtl > 0 ? lease.remainingTtl : lease.ttl));
    }
  }

  /** This member no longer leads. */
  demote(): void {
    this.primary = false;
    this.expiries.clear();
    this.revoking.clear();
  }

  /** A grant applied (while primary): the lease lives a TTL from now. */
  granted(id: bigint, ttlSeconds: number): void {
    if (this.primary) {
      this.expiries.set(id, this.clock.nowMs() + 1000 * ttlSeconds);
    }
  }

  /** A revoke applied. */
  revoked(id: bigint): void {
    this.expiries.delete(id);
    this.revoking.delete(id);
  }

  /** A keepalive: renews the lease for its TTL, unless it does not exist or already expired. */
  renew(id: bigint): RenewOutcome {
    if (!this.primary) {
      return 'not-primary';
    }
    const lease = this.host.lease(id);
    if (lease === undefined) {
      return 'not-found';
    }
    const now = this.clock.nowMs();
    const expiry = this.expiries.get(id);
    if (expiry !== undefined && expiry <= now) {
      return 'not-found'; // expired: being revoked
    }
    this.expiries.set(id, now + 1000 * lease.ttl);
    this.counters.renewals++;
    if (lease.remainingTtl > 0) {
      // etcd clears a checkpointed remaining TTL on renewal, so a new leader uses the full TTL.
      this.proposeQuietly({ type: 'leaseCheckpoint', checkpoints: [{ id, remainingTtl: 0 }] }, 'clear a lease checkpoint');
    }
    return { ttl: lease.ttl };
  }

  /** Seconds left before a lease expires (etcd's TimeToLive, truncated), as the leader knows it. */
  remaining(id: bigint): { remainingSeconds: number; ttl: number } | 'not-found' | 'not-primary' {
    if (!this.primary) {
      return 'not-primary';
    }
    const lease = this.host.lease(id);
    if (lease === undefined) {
      return 'not-found';
    }
    const expiry = this.expiries.get(id) ?? this.clock.nowMs() + 1000 * lease.ttl;
    return { remainingSeconds: Math.trunc((expiry - this.clock.nowMs()) / 1000), ttl: lease.ttl };
  }

  /** Revokes what expired (bounded per tick), and follows grants and revokes it did not see. */
  private tick(): void {
    if (!this.primary) {
      return;
    }
    const now = this.clock.nowMs();
    const live = new Set<bigint>();
    for (const lease of this.host.leases()) {
      live.add(lease.id);
      if (!this.expiries.has(lease.id)) {
        this.expiries.set(lease.id, now + 1000 * lease.ttl);
      }
    }
    let budget = Math.max(1, Math.floor((this.options.revokesPerSecond * this.options.tickMs) / 1000));
    for (const [id, expiry] of this.expiries) {
      if (!live.has(id)) {
        this.expiries.delete(id);
      } else if (expiry <= now && !this.revoking.has(id) && budget > 0) {
        budget--;
        this.revoke(id);
      }
    }
  }

  private revoke(id: bigint): void {
    this.revoking.add(id);
    this.counters.revokesProposed++;
    this.host.propose({ type: 'leaseRevoke', id }).then(
      () => this.revoked(id),
      (error: unknown) => {
        this.revoking.delete(id); // retried on a later tick while still primary
        if (this.primary) {
          this.logger?.warn('revoking an expired lease failed; will retry', { lease: id.toString(16), error: String(error) });
        }
      },
    );
  }

  /** Checkpoints every lease whose remaining TTL (rounded up) differs from its recorded one. */
  private checkpoint(): void {
    if (!this.primary) {
      return;
    }
    const now = this.clock.nowMs();
    const checkpoints: Array<{ id: bigint; remainingTtl: number }> = [];
    for (const lease of this.host.leases()) {
      const expiry = this.expiries.get(lease.id);
      if (expiry === undefined || expiry <= now) {
        continue;
      }
      const remainingTtl = Math.ceil((expiry - now) / 1000);
      if (remainingTtl < lease.ttl && remainingTtl !== lease.remainingTtl) {
        checkpoints.push({ id: lease.id, remainingTtl });
      }
    }
    for (let at = 0; at < checkpoints.length; at += this.options.checkpointBatch) {
      this.counters.checkpointsProposed++;
      this.proposeQuietly({ type: 'leaseCheckpoint', checkpoints: checkpoints.slice(at, at + this.options.checkpointBatch) }, 'checkpoint leases');
    }
  }

  private proposeQuietly(op: WriteRequest, what: string): void {
    this.host.propose(op).catch((error: unknown) => {
      if (this.primary) {
        this.logger?.warn(`${what} failed`, { error: String(error) });
      }
    });
  }
}

/**
 * etcd's minimum lease TTL: 1.5 election timeouts (in whole ticks of the heartbeat), rounded
 * up to seconds.
 */
export function minLeaseTtlSeconds(electionMs: number, heartbeatMs: number): number {
  const electionTicks = Math.floor(electionMs / heartbeatMs);
  return Math.ceil((Math.floor((3 * electionTicks) / 2) * heartbeatMs) / 1000);
}
