/**
 * What a seed chooses: cluster size, Raft options, and the fault mix — how lossy and slow the
 * network is, how often it partitions and how, how slow fsync is, how often members crash,
 * whether membership changes and leader transfers happen, how often members snapshot, and
 * what the clients do. Every field is drawn from the seed's Profile stream, so a seed always
 * yields the same profile. Each fault family is switched on independently, so seeds cover
 * calm runs, single-fault runs and everything-at-once runs.
 */
import { SimRandom, Stream } from './sim-random';

/** A latency distribution: base + uniform jitter, and with `tailProb` an extra exponential tail. */
export interface DelayModel {
  readonly baseMs: number;
  readonly jitterMs: number;
  readonly tailProb: number;
  readonly tailMeanMs: number;
}

export type PartitionKind = 'halves' | 'majority-minority' | 'isolate-leader' | 'one-way' | 'bridge';
export const PARTITION_KINDS: readonly PartitionKind[] = ['halves', 'majority-minority', 'isolate-leader', 'one-way', 'bridge'];

export interface RaftOptions {
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly leaseReads: boolean;
  /** Tight flow-control limits (small messages, windows and uncommitted budget). */
  readonly maxInflightMessages: number | undefined;
  readonly maxMessageBytes: number | undefined;
  readonly maxUncommittedBytes: number | undefined;
}

export interface ClientProfile {
  readonly count: number;
  readonly keys: number;
  readonly thinkMaxMs: number;
  /** A write attempt with no answer after this long becomes indeterminate (`info`). */
  readonly attemptTimeoutMs: number;
  /** An operation that has not completed after this long is given up. */
  readonly opDeadlineMs: number;
  /** Chance a client sends to a random member instead of the leader it believes in. */
  readonly randomMemberProb: number;
  /** Chance a read asks for a lease read (only when the cluster enables leases). */
  readonly leaseReadProb: number;
  /** Scenarios only: relative weights of get, put, cas and delete (default 4:3:2:1). */
  readonly opMix?: readonly (readonly ['get' | 'put' | 'cas' | 'delete', number])[];
}

export interface FaultProfile {
  /** Short description of the enabled fault families, for reports. */
  readonly mix: string;
  readonly members: number;
  readonly tickMs: number;
  readonly electionTimeoutTicks: number;
  readonly heartbeatTicks: number;
  readonly safetyTicks: number;
  readonly raft: RaftOptions;
  readonly network: {
    readonly dropProb: number;
    readonly dupProb: number;
    readonly delay: DelayModel;
    readonly clientDelay: DelayModel;
    readonly clientDropProb: number;
  };
  readonly disk: {
    readonly fsync: DelayModel;
    /** On a crash, each pending batch in turn made it to disk anyway with this chance. */
    readonly writebackProb: number;
  };
  /** Faults (partitions, crashes, membership, transfers) start after this time. */
  readonly faultStartMs: number;
  /** Mean gap between partitions in ms; 0 = never. */
  readonly partitionGapMs: number;
  readonly partitionMinMs: number;
  readonly partitionMaxMs: number;
  readonly partitionKinds: readonly PartitionKind[];
  /** Mean gap between crashes in ms; 0 = never. */
  readonly crashGapMs: number;
  readonly crashLeaderProb: number;
  readonly downMinMs: number;
  readonly downMaxMs: number;
  /** Mean gap between membership actions in ms; 0 = never. */
  readonly membershipGapMs: number;
  readonly maxAddedMembers: number;
  /** Mean gap between process pauses (stalls) in ms; 0 = never. */
  readonly pauseGapMs: number;
  readonly pauseMaxMs: number;
  /** Each member's clock runs at a rate in [1 - drift, 1 + drift] (well inside the lease margin). */
  readonly clockDrift: number;
  /** Scenarios only: fixed clock rates by member id (index 0 unused), instead of drawn ones. */
  readonly clockRates?: readonly number[];
  /** Mean gap between leader transfers in ms; 0 = never. */
  readonly transferGapMs: number;
  /** A member snapshots every this many applied entries; 0 = never. */
  readonly snapshotEvery: number;
  /** Entries kept behind the compaction point (the log's trailing window). */
  readonly snapshotTrailing: number;
  readonly snapshotTransferMs: DelayModel;
  readonly snapshotFailProb: number;
  readonly clients: ClientProfile;
}

/** What the command line may pin instead of letting the seed choose. */
export interface ProfileOverrides {
  readonly members?: number;
  readonly safetyTicks?: number;
  readonly tickMs?: number;
}

export const DEFAULT_TICK_MS = 10;
export const ELECTION_TIMEOUT_TICKS = 15;
export const HEARTBEAT_TICKS = 5;
export const ALLOWED_MEMBER_COUNTS: readonly number[] = [3, 5, 7];

type Families = Record<'partitions' | 'crashes' | 'membership' | 'transfers' | 'snapshots' | 'lossy' | 'slowDisk' | 'lateMessages' | 'pauses' | 'drift', boolean>;

/**
 * The profile of `seed`. Draws happen in a fixed order (the helpers below are called in
 * sequence), so a seed's profile only changes when this function does.
 */
export function chooseProfile(seed: number, overrides: ProfileOverrides = {}): FaultProfile {
  const r = SimRandom.stream(seed, Stream.Profile);
  const members = overrides.members ?? r.weighted([[3, 3], [5, 2], [7, 1]]);
  const on: Families = {
    partitions: r.chance(0.6),
    crashes: r.chance(0.6),
    membership: r.chance(0.4),
    transfers: r.chance(0.4),
    snapshots: r.chance(0.7),
    lossy: r.chance(0.6),
    slowDisk: r.chance(0.4),
    lateMessages: r.chance(0.3),
    pauses: r.chance(0.3),
    drift: r.chance(0.5),
  };
  const checkQuorum = r.chance(0.85);
  const tight = r.chance(0.25);
  const raft = chooseRaftOptions(r, checkQuorum, tight);
  const snapshotEvery = on.snapshots ? r.between(3, 60) : 0;
  const mix = Object.entries(on)
    .filter(([, enabled]) => enabled)
    .map(([name]) => name)
    .concat(tight ? ['tight-limits'] : [])
    .join('+');
  const safetyTicks = overrides.safetyTicks ?? r.between(300, 1200);
  const network = chooseNetwork(r, on);
  const disk = chooseDisk(r, on);
  const timings = chooseFaultTimings(r, on);
  return {
    mix: mix === '' ? 'calm' : mix,
    members,
    tickMs: overrides.tickMs ?? DEFAULT_TICK_MS,
    electionTimeoutTicks: ELECTION_TIMEOUT_TICKS,
    heartbeatTicks: HEARTBEAT_TICKS,
    safetyTicks,
    raft,
    network,
    disk,
    ...timings,
    snapshotEvery,
    snapshotTrailing: snapshotEvery === 0 ? 0 : r.between(0, 2 * snapshotEvery),
    snapshotTransferMs: { baseMs: r.between(2, 20), jitterMs: r.between(1, 40), tailProb: 0.05, tailMeanMs: 100 },
    snapshotFailProb: on.lossy ? r.pick([0, 0.1, 0.3]) : 0,
    clients: chooseClients(r, raft),
  };
}

function chooseRaftOptions(r: SimRandom, checkQuorum: boolean, tight: boolean): RaftOptions {
  return {
    preVote: r.chance(0.85),
    checkQuorum,
    leaseReads: checkQuorum && r.chance(0.5),
    maxInflightMessages: tight ? r.between(1, 8) : undefined,
    maxMessageBytes: tight ? r.between(100, 1000) : undefined,
    maxUncommittedBytes: tight ? r.between(1000, 8000) : undefined,
  };
}

function chooseNetwork(r: SimRandom, on: Families): FaultProfile['network'] {
  return {
    dropProb: on.lossy ? r.pick([0.01, 0.03, 0.05, 0.1, 0.2]) : 0,
    dupProb: on.lossy ? r.pick([0, 0.01, 0.05]) : 0,
    delay: on.lateMessages
      ? { baseMs: r.between(0, 2), jitterMs: r.between(1, 15), tailProb: r.pick([0.005, 0.02, 0.05]), tailMeanMs: r.between(100, 1000) }
      : { baseMs: r.between(0, 2), jitterMs: r.between(1, 15), tailProb: on.lossy ? r.pick([0, 0.01, 0.05]) : 0, tailMeanMs: r.between(10, 80) },
    clientDelay: { baseMs: 0, jitterMs: r.between(1, 5), tailProb: 0.01, tailMeanMs: 20 },
    clientDropProb: on.lossy ? r.pick([0, 0.01, 0.03]) : 0,
  };
}

function chooseDisk(r: SimRandom, on: Families): FaultProfile['disk'] {
  return {
    fsync: on.slowDisk
      ? { baseMs: r.between(1, 5), jitterMs: r.between(1, 20), tailProb: r.pick([0.01, 0.05]), tailMeanMs: r.between(20, 100) }
      : { baseMs: 0, jitterMs: r.between(1, 3), tailProb: 0, tailMeanMs: 0 },
    writebackProb: r.pick([0, 0.3, 0.7]),
  };
}

type FaultTimings = Pick<
  FaultProfile,
  | 'faultStartMs' | 'partitionGapMs' | 'partitionMinMs' | 'partitionMaxMs' | 'partitionKinds' | 'crashGapMs' | 'crashLeaderProb'
  | 'downMinMs' | 'downMaxMs' | 'membershipGapMs' | 'maxAddedMembers' | 'pauseGapMs' | 'pauseMaxMs' | 'clockDrift' | 'transferGapMs'
>;

function chooseFaultTimings(r: SimRandom, on: Families): FaultTimings {
  return {
    faultStartMs: r.between(300, 1500),
    partitionGapMs: on.partitions ? r.between(300, 3000) : 0,
    partitionMinMs: 50,
    partitionMaxMs: r.between(300, 3000),
    partitionKinds: r.chance(0.5) ? PARTITION_KINDS : [r.pick(PARTITION_KINDS)],
    crashGapMs: on.crashes ? r.between(300, 3000) : 0,
    crashLeaderProb: r.pick([0.2, 0.5, 0.8]),
    downMinMs: 10,
    downMaxMs: r.between(100, 2500),
    membershipGapMs: on.membership ? r.between(500, 3000) : 0,
    maxAddedMembers: r.between(1, 3),
    pauseGapMs: on.pauses ? r.between(300, 3000) : 0,
    pauseMaxMs: r.between(50, 1500),
    clockDrift: on.drift ? r.pick([0.01, 0.03, 0.05]) : 0,
    transferGapMs: on.transfers ? r.between(500, 3000) : 0,
  };
}

function chooseClients(r: SimRandom, raft: RaftOptions): ClientProfile {
  return {
    count: r.between(2, 5),
    keys: r.between(3, 5),
    thinkMaxMs: r.between(0, 40),
    attemptTimeoutMs: r.between(200, 800),
    opDeadlineMs: r.between(1000, 3000),
    randomMemberProb: r.pick([0, 0.1, 0.3]),
    leaseReadProb: raft.leaseReads ? 0.5 : 0,
  };
}

/** Samples a delay (ms, integer >= 0) from a model. */
export function sampleDelay(r: SimRandom, model: DelayModel): number {
  let ms = model.baseMs + (model.jitterMs > 0 ? r.nextInt(model.jitterMs + 1) : 0);
  if (model.tailProb > 0 && r.chance(model.tailProb)) {
    ms += r.exponential(model.tailMeanMs);
  }
  return ms;
}

/** One line describing a profile, for reports. */
export function describeProfile(p: FaultProfile): string {
  const raft = `preVote=${p.raft.preVote} checkQuorum=${p.raft.checkQuorum} lease=${p.raft.leaseReads}${p.raft.maxInflightMessages === undefined ? '' : ` inflight=${p.raft.maxInflightMessages} msgBytes=${p.raft.maxMessageBytes} uncommitted=${p.raft.maxUncommittedBytes}`}`;
  const net = `drop=${p.network.dropProb} dup=${p.network.dupProb} delay=${p.network.delay.baseMs}+${p.network.delay.jitterMs}ms tail=${p.network.delay.tailProb}x${p.network.delay.tailMeanMs}ms drift=${p.clockDrift}`;
  const snap = p.snapshotEvery === 0 ? 'snapshots=off' : `snapshots every ${p.snapshotEvery} keep ${p.snapshotTrailing} fail=${p.snapshotFailProb}`;
  return `members=${p.members} mix=${p.mix} safety=${p.safetyTicks} ticks; ${raft}; ${net}; ${snap}; clients=${p.clients.count} keys=${p.clients.keys}`;
}
