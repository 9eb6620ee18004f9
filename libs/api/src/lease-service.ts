/**
 * etcd's Lease service (`etcdserverpb.Lease`) on a member. Grants and revokes go through the
 * log on the leader (followers forward them); keepalives and TimeToLive are answered by the
 * leader's lessor (a follower relays keepalives over one stream to the leader, and forwards
 * TimeToLive); the lease list is the member's own applied state.
 *
 *     LeaseGrant ──► leader: id (picked if 0), TTL raised to the minimum ──► log ──► granted
 *     LeaseKeepAlive ──► each request in order: leader renews (TTL 0: no such lease)
 *                        └ follower: relay stream to the leader (again after a leader change)
 *     LeaseTimeToLive ──► leader: remaining TTL (-1: no such lease), granted TTL, keys
 */
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import type { BidiCall, HandlerFor, Metadata, ServerCall } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { NotLeaderError } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import type { RenewOutcome } from '@keyval/cluster';
import type { LeaseInfo, LeaseRecord, SessionHeader, WriteRequest, WriteResponse } from '@keyval/statemachine';
import { ETCD_MESSAGES, invalidArgument } from './api.errors';
import { header, writeToWire } from './etcd-response';
import type { HeaderContext } from './etcd-response';
import { toStatusError } from './error-status';
import { FORWARDED_KEY, backoff, callDeadline, onLeader, writeOnLeader } from './leader-calls';
import type { LeaderRouting } from './leader-calls';
import type { LeaderForwarder } from './leader-forwarder';
import { sessionFrom } from './kv-service';
import type { SpaceAdmission } from './kv-service';
import { SharedBarrier } from './shared-barrier';
import { readUntil } from './read-until';

/** etcd's MaxLeaseTTL, seconds. */
export const MAX_LEASE_TTL_SECONDS = 9_000_000_000;

/** Keepalives of one stream being renewed at once, at most (a limit on everything). */
export const KEEPALIVES_IN_FLIGHT_MAX = 256;

/** What the Lease service needs of a member. */
export interface LeaseBackend extends LeaderRouting {
  headerContext(): HeaderContext;
  revision(): number;
  write(op: WriteRequest, session: SessionHeader | undefined, deadlineMs: number): Promise<WriteResponse>;
  /**
   * Resolves once this member has applied everything committed before the call and, leading,
   * has confirmed it still leads (a linearizable read's barrier). A new leader applies its
   * predecessors' entries only after it took over, so until then its state misses leases
   * granted just before.
   */
  readBarrier(deadlineMs: number): Promise<void>;
  /**
   * As readBarrier, but leading it may pass on the Raft lease (§6.4.1: a quorum heard within an
   * election timeout, less the drift margin; else a heartbeat round) whatever the member's read
   * mode: before a lease renewal, which rests on the clocks anyway.
   */
  renewalBarrier(deadlineMs: number): Promise<void>;
  renewLease(id: bigint): RenewOutcome;
  leaseRemaining(id: bigint): { remainingSeconds: number; ttl: number } | 'not-found' | 'not-primary';
  leases(): readonly LeaseRecord[];
  lease(id: bigint): LeaseInfo | undefined;
  /** etcd's minimum TTL for the member's timing, seconds. */
  minLeaseTtlSeconds(): number;
  /** This member's id (the high bits of the lease ids it picks). */
  memberId(): bigint;
}

export interface LeaseServiceOptions {
  /** Deadline of a call that brings none, ms; also how long one keepalive may take. */
  readonly defaultTimeoutMs: number;
  /** The space quota in front of grants (AlarmService.admit); none: no quota. */
  readonly space?: SpaceAdmission;
}

/**
 * Lease ids as etcd picks them: the member id's low 16 bits, then the time in ms (40 bits) and
 * a counter (8 bits), as a positive int64.
 */
export class LeaseIdGenerator {
  private suffix: bigint;
  private readonly prefix: bigint;

  constructor(memberId: bigint, nowMs: number) {
    this.prefix = (memberId & 0xffffn) << 48n;
    this.suffix = (BigInt(Math.floor(nowMs)) & 0xff_ffff_ffffn) << 8n;
  }

  next(): bigint {
    for (;;) {
      this.suffix = (this.suffix + 1n) & 0xffff_ffff_ffffn;
      const id = (this.prefix | this.suffix) & 0x7fff_ffff_ffff_ffffn;
      if (id !== 0n) {
        return id;
      }
    }
  }
}

/** Relays a follower's keepalives to the leader over one stream, answers in order. */
/** A keepalive's answer: the TTL (0: no such lease) and, relayed, the leader's header revision (0n here). */
interface Renewed {
  readonly ttl: bigint;
  readonly revision: bigint;
}

class KeepAliveRelay {
  private upstream:
    | {
        readonly call: BidiCall<etcd.LeaseKeepAliveRequest, etcd.LeaseKeepAliveResponse>;
        readonly leader: NodeId;
        readonly pending: Array<{
          resolve(renewed: Renewed): void;
          reject(error: unknown): void;
        }>;
      }
    | undefined;

  constructor(
    private readonly forwarder: LeaderForwarder,
    private readonly metadata: Metadata,
  ) {}

  renew(id: bigint, leader: NodeId): Promise<Renewed> {
    if (this.upstream === undefined || this.upstream.leader !== leader) {
      this.close();
      this.open(leader);
    }
    const upstream = this.upstream as NonNullable<KeepAliveRelay['upstream']>;
    return new Promise<Renewed>((resolve, reject) => {
      upstream.pending.push({ resolve, reject });
      upstream.call.send({ ID: id }).catch((error: unknown) => this.end(upstream, error));
    });
  }

  close(): void {
    if (this.upstream !== undefined) {
      this.upstream.call.cancel('the client stream ended');
      this.end(this.upstream, new GrpcStatusError(GrpcStatus.CANCELLED, 'the keepalive relay closed'));
    }
  }

  private open(leader: NodeId): void {
    const call = this.forwarder.openStream<etcd.LeaseKeepAliveRequest, etcd.LeaseKeepAliveResponse>(etcd.LeaseDefinition, 'leaseKeepAlive', this.metadata, leader);
    const upstream = {
      call,
      leader,
      pending: [] as Array<{
        resolve(renewed: Renewed): void;
        reject(error: unknown): void;
      }>,
    };
    this.upstream = upstream;
    void (async () => {
      try {
        for await (const response of call.responses) {
          upstream.pending.shift()?.resolve({ ttl: response.TTL, revision: response.header?.revision ?? 0n });
        }
        this.end(upstream, new GrpcStatusError(GrpcStatus.UNAVAILABLE, `${ETCD_MESSAGES.leaderChanged}: the leader ended the keepalive stream`));
      } catch (error) {
        this.end(upstream, error);
      }
    })();
  }

  private end(upstream: NonNullable<KeepAliveRelay['upstream']>, error: unknown): void {
    if (this.upstream === upstream) {
      this.upstream = undefined;
    }
    for (const waiter of upstream.pending.splice(0)) {
      waiter.reject(error);
    }
  }
}

export class LeaseService {
  private readonly ids: LeaseIdGenerator;
  /** The leadership check before renewals, one barrier shared by the keepalives waiting for it. */
  private readonly renewBarrier: SharedBarrier;

  constructor(
    private readonly backend: LeaseBackend,
    private readonly forwarder: LeaderForwarder,
    private readonly options: LeaseServiceOptions,
  ) {
    this.ids = new LeaseIdGenerator(backend.memberId(), Date.now());
    this.renewBarrier = new SharedBarrier((deadlineMs) => backend.renewalBarrier(deadlineMs));
  }

  private header(): etcd.ResponseHeader {
    return header(this.backend.revision(), this.backend.headerContext());
  }

  /** The service's handlers for one server; `shutdown` (the server's drain) ends keepalive streams. */
  implementation(shutdown?: AbortSignal): {
    readonly [K in keyof typeof etcd.LeaseDefinition.methods]: HandlerFor<(typeof etcd.LeaseDefinition.methods)[K]>;
  } {
    return {
      leaseGrant: async (req, call) => {
        if (req.TTL > BigInt(MAX_LEASE_TTL_SECONDS)) {
          throw new GrpcStatusError(GrpcStatus.OUT_OF_RANGE, ETCD_MESSAGES.leaseTtlTooLarge);
        }
        if (req.ID < 0n) {
          throw invalidArgument(`lease id ${req.ID} is negative: lease ids are positive int64`);
        }
        // etcd's quota: a grant costs the same whatever its id and TTL.
        await this.options.space?.admit({ type: 'leaseGrant', id: req.ID, ttl: 0 }, call);
        return this.write('leaseGrant', req, call, () => {
          const ttl = Math.max(Number(req.TTL < 0n ? 0n : req.TTL), this.backend.minLeaseTtlSeconds());
          return {
            type: 'leaseGrant',
            id: req.ID === 0n ? this.ids.next() : req.ID,
            ttl,
          };
        });
      },
      leaseRevoke: async (req, call) => {
        if (req.ID <= 0n) {
          throw new GrpcStatusError(GrpcStatus.NOT_FOUND, ETCD_MESSAGES.leaseNotFound);
        }
        return this.write('leaseRevoke', req, call, () => ({
          type: 'leaseRevoke',
          id: req.ID,
        }));
      },
      leaseKeepAlive: async (requests, call) => {
        const relay = new KeepAliveRelay(this.forwarder, call.metadata);
        // A stream a follower relays here is never relayed again: if this member no longer
        // leads, the stream ends and the follower finds the new leader.
        const forwarded = call.metadata.get(FORWARDED_KEY) !== undefined;
        // A draining server ends the stream at once (its client goes on with another member).
        const stop = new AbortController();
        const onShutdown = (): void => stop.abort();
        shutdown?.addEventListener('abort', onShutdown);
        if (shutdown?.aborted === true) {
          stop.abort();
        }
        // Renewals of one stream run side by side (a renewal waits for a leadership barrier;
        // one at a time, a stream got one answer per barrier), at most KEEPALIVES_IN_FLIGHT_MAX;
        // answers go out as each is ready (a client matches them by lease id, as etcd's does).
        const inFlight = new Set<Promise<void>>();
        let failure: { error: unknown } | undefined;
        const throwIfFailed = (): void => {
          if (failure !== undefined) throw failure.error;
        };
        try {
          await readUntil(requests, stop.signal, async (request) => {
            throwIfFailed();
            // The header is taken before the renewal (etcd: a lease revoked at revision r is
            // never reported renewed at a later one).
            // Relayed, the leader's header (taken before its renewal) wins when it is newer:
            // this member may not have applied yet what the client already saw acknowledged.
            const head = this.header();
            const one: Promise<void> = this.renew(request.ID, relay, forwarded)
              .then((renewed) => call.write({ header: renewed.revision > head.revision ? { ...head, revision: renewed.revision } : head, ID: request.ID, TTL: renewed.ttl }))
              .catch((error: unknown) => {
                failure ??= { error };
              })
              .finally(() => inFlight.delete(one));
            inFlight.add(one);
            if (inFlight.size >= KEEPALIVES_IN_FLIGHT_MAX) {
              await Promise.race(inFlight);
            }
            throwIfFailed();
          });
          if (!stop.signal.aborted) {
            await Promise.all(inFlight);
            throwIfFailed();
          }
        } finally {
          shutdown?.removeEventListener('abort', onShutdown);
          relay.close();
        }
        if (stop.signal.aborted) {
          throw new GrpcStatusError(GrpcStatus.UNAVAILABLE, ETCD_MESSAGES.stopped);
        }
      },
      leaseTimeToLive: async (req, call) => {
        const deadlineMs = callDeadline(call, this.options.defaultTimeoutMs);
        return onLeader(this.backend, {
          call,
          deadlineMs,
          retrySafe: true,
          local: async () => {
            await this.backend.readBarrier(deadlineMs); // as renew: no -1 for a lease not applied yet
            return this.timeToLive(req);
          },
          forward: async (leader) => (await this.forwarder.forward(etcd.LeaseDefinition, 'leaseTimeToLive', req, call.metadata, leader, deadlineMs)) as etcd.LeaseTimeToLiveResponse,
        });
      },
      leaseLeases: async () => ({
        header: this.header(),
        leases: this.backend.leases().map((lease) => ({ ID: lease.id })),
      }),
    };
  }

  /** A grant or revoke through the log on the leader (the op is built there: ids and TTLs are the leader's). */
  private write<Res>(method: 'leaseGrant' | 'leaseRevoke', request: unknown, call: ServerCall, op: () => WriteRequest): Promise<Res> {
    const session = sessionFrom(call.metadata);
    return writeOnLeader(this.backend, this.forwarder, {
      call,
      service: etcd.LeaseDefinition,
      method,
      request,
      hasSession: session !== undefined,
      defaultTimeoutMs: this.options.defaultTimeoutMs,
      local: async (deadlineMs) => writeToWire(await this.backend.write(op(), session, deadlineMs), this.backend.headerContext()) as Res,
    });
  }

  private timeToLive(req: etcd.LeaseTimeToLiveRequest): etcd.LeaseTimeToLiveResponse {
    const remaining = this.backend.leaseRemaining(req.ID);
    if (remaining === 'not-primary') {
      throw new NotLeaderError(undefined); // leadership is moving: retried
    }
    if (remaining === 'not-found') {
      return {
        header: this.header(),
        ID: req.ID,
        TTL: -1n,
        grantedTTL: 0n,
        keys: [],
      };
    }
    const keys = req.keys ? (this.backend.lease(req.ID)?.keys ?? []).map((key) => Buffer.from(key, 'latin1')) : [];
    return {
      header: this.header(),
      ID: req.ID,
      TTL: BigInt(remaining.remainingSeconds),
      grantedTTL: BigInt(remaining.ttl),
      keys,
    };
  }

  /**
   * Before a leader renews (etcd's ensureLeadership and waitAppliedIndex): it still leads, and
   * it has applied what was committed before — a leader just elected has not applied its
   * predecessor's last grants yet, and answered a keepalive of such a lease "not found" (TTL
   * 0: the client drops a live lease; chaos `--workload lease --faults pause`). False while
   * it cannot tell yet; throws the barrier's error once the deadline passed.
   */
  private async barrierPassed(deadlineMs: number): Promise<boolean> {
    try {
      await this.renewBarrier.pass(deadlineMs);
      return true;
    } catch (error) {
      if (performance.now() >= deadlineMs) {
        throw toStatusError(error);
      }
      return false;
    }
  }

  /** One keepalive: here when leading, else relayed; retried across leader changes. */
  private async renew(id: bigint, relay: KeepAliveRelay, forwarded: boolean): Promise<Renewed> {
    const deadlineMs = performance.now() + this.options.defaultTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      // Only a confirmed leader asks its lessor: a member that has just stepped down may not
      // have demoted its lessor yet, whose expiries ran on through a pause ("not found" for a
      // lease the new leader keeps).
      const leading = this.backend.isLeader();
      const outcome = leading && (await this.barrierPassed(deadlineMs)) ? this.backend.renewLease(id) : 'not-primary';
      if (outcome === 'not-found') {
        return { ttl: 0n, revision: 0n };
      }
      if (outcome !== 'not-primary') {
        return { ttl: BigInt(outcome.ttl), revision: 0n };
      }
      if (forwarded) {
        throw new GrpcStatusError(GrpcStatus.UNAVAILABLE, ETCD_MESSAGES.notLeader);
      }
      try {
        const known = this.backend.leaderId();
        if (leading || known === this.backend.memberId() || this.backend.isLeader()) {
          throw new NotLeaderError(undefined); // leading, but not confirmed or the lessor not promoted yet
        }
        const leader = known !== 0n ? known : await this.backend.waitForLeader(deadlineMs);
        return await relay.renew(id, leader);
      } catch (error) {
        // A renewal may be repeated: whatever failed, try again until the deadline.
        if (performance.now() >= deadlineMs) {
          throw toStatusError(error);
        }
        await backoff(attempt);
      }
    }
  }
}
