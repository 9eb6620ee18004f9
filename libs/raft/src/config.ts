/**
 * Configuration of one member's Raft core. All durations are in ticks; the driver decides
 * how long a tick is (10 ms by default in KeyVal). Randomness comes from `random`, so a
 * simulation replays exactly from its seed.
 */
import type { LogIndex, NodeId } from './types';

/** A source of uniform integers, seeded by the caller. */
export interface RandomSource {
  /** A uniform integer in [0, bound). */
  nextInt(bound: number): number;
}

export interface RaftConfig {
  /** This member's id; never NO_NODE. */
  readonly id: NodeId;
  /** T: a follower campaigns after a randomized timeout in [T, 2T) ticks without a leader. */
  readonly electionTimeoutTicks: number;
  /** The leader sends heartbeats every this many ticks; must be < electionTimeoutTicks. */
  readonly heartbeatTicks: number;
  readonly random: RandomSource;
  /** §9.6 pre-vote: campaign only after a majority says it would vote. Default true. */
  readonly preVote?: boolean;
  /** §6.2 check-quorum: a leader steps down without a quorum's contact for T ticks. Default true. */
  readonly checkQuorum?: boolean;
  /**
   * Lease reads (§6.4.1): serve reads without a heartbeat round while the lease holds. Needs
   * checkQuorum. The lease lasts T - leaseDriftMarginTicks from when the heartbeat round a
   * quorum acknowledged was sent. Default false.
   */
  readonly leaseReads?: boolean;
  /** Clock-drift allowance subtracted from the lease; must be in [1, T). Default ceil(T/5). */
  readonly leaseDriftMarginTicks?: number;
  /** Largest payload one entry may carry. Default 1.5 MiB + 64 KiB of framing headroom. */
  readonly maxEntryBytes?: number;
  /** Append messages are filled with entries up to this many bytes. Default 1 MiB. */
  readonly maxMessageBytes?: number;
  /** At most this many Append messages in flight to one follower. Default 256. */
  readonly maxInflightMessages?: number;
  /** At most this many entry bytes in flight to one follower. Default 32 MiB. */
  readonly maxInflightBytes?: number;
  /** The leader drops proposals once this many bytes are appended but uncommitted. Default 64 MiB. */
  readonly maxUncommittedBytes?: number;
  /** At most this many bytes of committed entries per Ready. Default 16 MiB. */
  readonly maxCommittedBytesPerReady?: number;
  /**
   * The index the state machine has applied (from its own durable state). Committed entries
   * handed out in Ready start after it. Default: the snapshot index.
   */
  readonly applied?: LogIndex;
}

/** RaftConfig with every default filled in and validated. */
export type ResolvedRaftConfig = Required<RaftConfig>;

export class InvalidRaftConfigError extends Error {
  constructor(message: string) {
    super(`invalid raft config: ${message}`);
    this.name = 'InvalidRaftConfigError';
  }
}

export function resolveConfig(config: RaftConfig): ResolvedRaftConfig {
  const T = config.electionTimeoutTicks;
  const resolved: ResolvedRaftConfig = {
    preVote: true,
    checkQuorum: true,
    leaseReads: false,
    leaseDriftMarginTicks: Math.max(1, Math.ceil(T / 5)),
    maxEntryBytes: 1.5 * 1024 * 1024 + 64 * 1024,
    maxMessageBytes: 1024 * 1024,
    maxInflightMessages: 256,
    maxInflightBytes: 32 * 1024 * 1024,
    maxUncommittedBytes: 64 * 1024 * 1024,
    maxCommittedBytesPerReady: 16 * 1024 * 1024,
    applied: 0 as LogIndex,
    ...config,
  };
  const positive: (keyof ResolvedRaftConfig)[] = [
    'electionTimeoutTicks',
    'heartbeatTicks',
    'maxEntryBytes',
    'maxMessageBytes',
    'maxInflightMessages',
    'maxInflightBytes',
    'maxUncommittedBytes',
    'maxCommittedBytesPerReady',
  ];
  for (const key of positive) {
    const value = resolved[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw new InvalidRaftConfigError(`${key} must be a positive integer, got ${String(value)}`);
    }
  }
  if (resolved.id === 0n) {
    throw new InvalidRaftConfigError('id must not be 0');
  }
  if (resolved.heartbeatTicks >= T) {
    throw new InvalidRaftConfigError(`heartbeatTicks (${resolved.heartbeatTicks}) must be less than electionTimeoutTicks (${T})`);
  }
  if (resolved.leaseReads && !resolved.checkQuorum) {
    throw new InvalidRaftConfigError('leaseReads needs checkQuorum');
  }
  const margin = resolved.leaseDriftMarginTicks;
  if (!Number.isSafeInteger(margin) || margin < 1 || margin >= T) {
    throw new InvalidRaftConfigError(`leaseDriftMarginTicks must be in [1, ${T}), got ${margin}`);
  }
  if (resolved.maxMessageBytes > resolved.maxInflightBytes) {
    throw new InvalidRaftConfigError('maxMessageBytes must not exceed maxInflightBytes');
  }
  return resolved;
}

/**
 * A small, fast seeded generator (SplitMix32-style mixing of a Weyl sequence). Deterministic
 * across platforms; not for cryptography.
 */
export class SeededRandom implements RandomSource {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  nextInt(bound: number): number {
    if (!Number.isSafeInteger(bound) || bound <= 0) {
      throw new RangeError(`bound must be a positive integer, got ${bound}`);
    }
    return Math.floor((this.nextUint32() / 0x1_0000_0000) * bound);
  }

  /** A uniform float in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / 0x1_0000_0000;
  }
}
