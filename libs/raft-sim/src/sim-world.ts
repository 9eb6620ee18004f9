/**
 * The simulated world: a clock, the event agenda, the members with their disks, the network
 * between them, the clients, the trace and the safety checker. It implements what members and
 * clients need from their surroundings (sending, scheduling, tracing) and runs events in
 * (time, sequence) order. Faults are injected by FaultInjector; phases by run-seed.ts.
 *
 *     clients ──requests/replies (client network)──▶ members ◀──raft messages (network)──▶ members
 *                                                      │ Ready writes
 *                                                      ▼
 *                                             disk: volatile view ─fsync─▶ durable copy
 */
import { ConfChangeType, EntryType, bootstrapEntries, decodeConfChangeEntry, nodeId } from '@keyval/raft';
import type { Entry, Message, NodeId, SnapshotRequest } from '@keyval/raft';
import type { ClientReply, ClientRequest } from './client-protocol';
import { describeOutcome, describeRequest } from './client-protocol';
import { describeMessage } from './describe';
import { EventQueue } from './event-queue';
import type { DelayModel, FaultProfile } from './fault-profile';
import { sampleDelay } from './fault-profile';
import { HistoryRecorder } from './history';
import { ProtocolChecker } from './protocol-checker';
import { SafetyChecker } from './safety-checker';
import type { SimClient } from './sim-client';
import { SimDisk } from './sim-disk';
import { SimMember } from './sim-member';
import type { ClientHost } from './sim-client';
import type { DriverMutation, FsyncIssued, MemberHost } from './sim-member';
import type { MemberKind, WorldMember } from './member-kind';
import { MAX_MEMBER_ID, SimNetwork } from './sim-network';
import { SimRandom, Stream } from './sim-random';
import { SimViolation, ViolationKind, simAssert } from './sim.errors';
import { Trace } from './trace';

/** Counters reported per seed. */
export interface WorldCounters {
  crashes: number;
  partitions: number;
  pauses: number;
  confChangesProposed: number;
  confChangesRefused: number;
  confChangesRefusedByDriver: number;
  transfers: number;
  transfersRefused: number;
  snapshotsSent: number;
  snapshotsFailed: number;
  unreachableReports: number;
  shutdowns: number;
  /** Scenario runs only: how often the script sprang its trap (the sequence lined up). */
  scenarioTraps: number;
}

export class SimWorld implements MemberHost, ClientHost {
  now = 0;
  readonly queue = new EventQueue();
  readonly checker = new SafetyChecker();
  readonly protocol: ProtocolChecker;
  readonly history = new HistoryRecorder();
  readonly network: SimNetwork;
  readonly members = new Map<number, WorldMember>();
  readonly clients: SimClient[] = [];
  readonly memberRandom: SimRandom;
  readonly diskRandom: SimRandom;
  readonly faultRandom: SimRandom;
  readonly clientRandom: SimRandom;
  private readonly snapshotRandom: SimRandom;
  private readonly clientNetRandom: SimRandom;
  /** Mutable in the liveness phase (faults healed). */
  snapshotFailProb: number;
  fsyncModel: DelayModel;
  readonly counters: WorldCounters = {
    crashes: 0, partitions: 0, pauses: 0, confChangesProposed: 0, confChangesRefused: 0, confChangesRefusedByDriver: 0,
    transfers: 0, transfersRefused: 0, snapshotsSent: 0, snapshotsFailed: 0, unreachableReports: 0, shutdowns: 0, scenarioTraps: 0,
  };
  /** Observers of elections (measurements, liveness). */
  readonly leaderListeners: ((member: WorldMember, term: number) => void)[] = [];
  private readonly removalSeen = new Set<number>();
  /** The most recent crash of a member that was leading (re-election measurements). */
  lastLeaderCrash: { term: number; atMs: number; measured: boolean; probe: boolean } | undefined = undefined;
  nextMemberId: number;
  private pendingViolation: unknown = undefined;
  private armedCrash: { readonly trigger: (writer: SimMember) => void; readonly strikes: (writer: SimMember, fsync: FsyncIssued) => boolean } | undefined = undefined;
  /** Scenario watchers called after every member input until they return true. */
  private inputWatchers: ((member: SimMember) => boolean)[] = [];

  constructor(
    readonly seed: number,
    readonly profile: FaultProfile,
    readonly trace: Trace,
    readonly mutation: DriverMutation | undefined = undefined,
    /** Only the classic (consequence) checks: no ProtocolChecker rules (for comparisons). */
    readonly classicChecks = false,
    /** Which member implementation runs (member-kind.ts). */
    readonly memberKind: MemberKind = 'sim',
  ) {
    this.protocol = new ProtocolChecker(!classicChecks);
    this.network = new SimNetwork(SimRandom.stream(seed, Stream.Network), { ...profile.network });
    this.memberRandom = SimRandom.stream(seed, Stream.Members);
    this.diskRandom = SimRandom.stream(seed, Stream.Disk);
    this.faultRandom = SimRandom.stream(seed, Stream.Faults);
    this.clientRandom = SimRandom.stream(seed, Stream.Clients);
    this.snapshotRandom = SimRandom.stream(seed, Stream.Snapshots);
    this.clientNetRandom = SimRandom.stream(seed, Stream.Network, 1);
    this.snapshotFailProb = profile.snapshotFailProb;
    this.fsyncModel = profile.disk.fsync;
    this.nextMemberId = profile.members + 1;
  }

  /** The initial configuration's voters: members 1..n. */
  initialVoters(): NodeId[] {
    const ids: NodeId[] = [];
    for (let i = 1; i <= this.profile.members; i++) {
      ids.push(nodeId(i));
    }
    return ids;
  }

  /** One fsync's latency (ms) by the current model (production members' simulated disks). */
  sampleFsyncMs(r: SimRandom): number {
    return sampleDelay(r, this.fsyncModel);
  }

  /**
   * A check failed inside asynchronous member code, where throwing would only reach the
   * member's own error handling: recorded, and thrown by runUntilAsync after the current event.
   */
  violation(error: unknown): void {
    this.pendingViolation ??= error;
  }

  /** Adds already-created members (production members are created asynchronously) and starts them. */
  bootstrapWith(members: readonly WorldMember[]): void {
    for (const member of members) {
      simAssert(!this.members.has(member.num), () => `member ${member.num} added twice`);
      this.members.set(member.num, member);
    }
    for (const member of members) {
      member.start();
    }
  }

  /** Creates and starts the initial members, all bootstrapped with the same configuration. */
  bootstrap(): void {
    const ids = this.initialVoters();
    for (const id of ids) {
      const boot = bootstrapEntries(ids);
      this.addMember(id, new SimDisk(boot)).start();
    }
  }

  addMember(id: NodeId, disk: SimDisk): SimMember {
    simAssert(Number(id) <= MAX_MEMBER_ID && !this.members.has(Number(id)), () => `member id ${id} unusable`);
    const member = new SimMember(id, disk, this);
    this.members.set(member.num, member);
    return member;
  }

  /** Starts a brand-new member with empty storage (once per id). */
  startNewMember(id: NodeId): void {
    if (this.members.has(Number(id))) {
      return;
    }
    if (this.memberKind === 'sim') {
      this.log(`m${id} created (new member, empty storage)`);
      this.addMember(id, new SimDisk()).start();
      return;
    }
    // Production members are created ahead (asynchronously), empty, and joined here.
    const spare = this.spareMembers.get(Number(id));
    simAssert(spare !== undefined, () => `no spare production member for new member ${id}`);
    this.spareMembers.delete(Number(id));
    this.members.set(spare.num, spare);
    this.log(`m${id} created (new member, empty storage)`);
    spare.start();
  }

  /** Members created ahead for ids that membership changes may add (production members). */
  readonly spareMembers = new Map<number, WorldMember>();

  schedule(delayMs: number, run: () => void): void {
    this.queue.push(this.now + delayMs, run);
  }

  /** Runs events up to and including `untilMs`, or until `stop()` returns true. */
  runUntil(untilMs: number, stop: () => boolean = () => false): void {
    while (this.runNext(untilMs, stop)) {
      // one event per turn
    }
  }

  /** Runs the next event if it is due by `untilMs` and `stop()` is false; returns whether it ran one. */
  private runNext(untilMs: number, stop: () => boolean): boolean {
    const next = this.queue.peekTime();
    if (next === undefined || next > untilMs || stop()) {
      return false;
    }
    const event = this.queue.pop();
    if (event === undefined) {
      return false;
    }
    this.now = event.time;
    event.run();
    return true;
  }

  /**
   * runUntil for asynchronous members: after each event, every promise continuation it caused
   * runs (one setImmediate turn: nothing real is pending, so the microtask queue is empty when
   * it fires) before the next event. Only the agenda makes time pass.
   */
  async runUntilAsync(untilMs: number, stop: () => boolean = () => false): Promise<void> {
    for (;;) {
      this.throwPending();
      if (!this.runNext(untilMs, stop)) {
        return;
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private throwPending(): void {
    const pending = this.pendingViolation;
    if (pending !== undefined) {
      this.pendingViolation = undefined;
      throw pending;
    }
  }

  log(line: string): void {
    this.trace.log(this.now, line);
  }

  // MemberHost -----------------------------------------------------------------------------

  send(from: WorldMember, messages: readonly Message[]): void {
    for (const m of messages) {
      this.protocol.messageSent(from.num, m, from.durableLog(), from.writtenLog());
      if (m.type === 'Snapshot') {
        this.transferSnapshot(SimWorld.sim(from), m);
        continue;
      }
      const to = Number(m.to);
      const delays = this.network.plan(from.num, to);
      if (delays.length === 0) {
        this.log(`drop ${describeMessage(m)}`);
      }
      const target = this.members.get(to);
      if ((target === undefined || !target.up || !this.network.linkOpen(from.num, to)) && m.type === 'Append') {
        this.reportUnreachable(from, m.to);
      }
      for (const delay of delays) {
        this.schedule(delay, () => this.deliver(m));
      }
    }
  }

  private deliver(m: Message): void {
    const target = this.members.get(Number(m.to));
    if (target === undefined || !target.up || !this.network.linkOpen(Number(m.from), Number(m.to))) {
      this.log(`lost ${describeMessage(m)}`);
      return;
    }
    this.log(`recv ${describeMessage(m)}`);
    target.deliver(m);
  }

  /** The transport noticed `to` cannot be reached; the sender's driver tells its core. */
  private reportUnreachable(from: WorldMember, to: NodeId): void {
    const incarnation = from.incarnation;
    this.schedule(this.memberRandom.between(5, 50), () => {
      if (from.up && from.incarnation === incarnation) {
        this.counters.unreachableReports++;
        from.unreachable(to);
      }
    });
  }

  /**
   * Streams the leader's snapshot image to the follower: after a transfer delay it arrives
   * whole (and the follower's core gets the message) or fails; either way the leader's core
   * is told through reportSnapshot.
   */
  private transferSnapshot(from: SimMember, m: SnapshotRequest): void {
    const image = from.disk.imageFor(m.snapshot.index);
    if (image === undefined || image.term !== m.snapshot.term) {
      throw new SimViolation(ViolationKind.DriverContract, `leader ${from.num} sends snapshot ${m.snapshot.index}/t${m.snapshot.term} but has no image there`);
    }
    this.counters.snapshotsSent++;
    this.log(`snapshot-send ${describeMessage(m)}`);
    const to = Number(m.to);
    const incarnation = from.incarnation;
    const report = (ok: boolean): void => {
      if (!ok) {
        this.counters.snapshotsFailed++;
      }
      this.schedule(1, () => {
        if (from.up && from.incarnation === incarnation) {
          this.log(`m${from.num} reportSnapshot(${to}, ${ok})`);
          from.input(() => from.core().reportSnapshot(m.to, ok));
        }
      });
    };
    this.schedule(sampleDelay(this.snapshotRandom, this.profile.snapshotTransferMs), () => {
      const target = this.members.get(to);
      const ok = target !== undefined && target.up && this.network.linkOpen(from.num, to) && this.network.linkOpen(to, from.num) && !this.snapshotRandom.chance(this.snapshotFailProb);
      this.log(`snapshot-${ok ? 'done' : 'failed'} ${describeMessage(m)}`);
      if (ok && target !== undefined) {
        SimWorld.sim(target).deliverSnapshot(m, image);
      }
      report(ok);
    });
  }

  reply(from: WorldMember, reply: ClientReply): void {
    const client = this.clients[reply.client];
    simAssert(client !== undefined, () => `reply to unknown client ${reply.client}`);
    if (this.clientNetRandom.chance(this.profile.network.clientDropProb)) {
      return;
    }
    this.schedule(sampleDelay(this.clientNetRandom, this.profile.network.clientDelay), () => {
      this.log(`c${reply.client} <- m${from.num} ${reply.opId}#${reply.attempt} ${describeOutcome(reply.outcome)}`);
      client.onReply(reply);
    });
  }

  onLeader(member: WorldMember, term: number): void {
    this.log(`m${member.num} became leader of term ${term}`);
    for (const listener of this.leaderListeners) {
      listener(member, term);
    }
  }

  onApplied(member: WorldMember, entry: Entry): void {
    if (entry.type !== EntryType.ConfChange) {
      return;
    }
    const { change, config } = decodeConfChangeEntry(entry.data);
    const target = Number(change.nodeId);
    if ((change.type === ConfChangeType.AddLearner || change.type === ConfChangeType.AddVoter) && !this.members.has(target)) {
      this.startNewMember(change.nodeId);
    }
    if (change.type === ConfChangeType.RemoveMember && !this.removalSeen.has(target)) {
      this.removalSeen.add(target);
      this.log(`committed: remove ${target} (voters now ${config.voters.join(',')}) at ${entry.index}, applied first by m${member.num}`);
      this.scheduleShutdown(target, this.faultRandom.between(50, 1000));
    }
  }

  /** A removed member is shut down for good (the operator stops its process). */
  scheduleShutdown(num: number, delayMs: number): void {
    const member = this.members.get(num);
    if (member === undefined) {
      return;
    }
    member.removed = true;
    this.schedule(delayMs, () => {
      if (member.up) {
        this.counters.shutdowns++;
        this.log(`m${num} shut down (removed from the cluster)`);
        member.crash(0);
      }
    });
  }

  // ClientHost -----------------------------------------------------------------------------

  sendRequest(client: SimClient, member: number, request: ClientRequest): void {
    if (this.clientNetRandom.chance(this.profile.network.clientDropProb)) {
      this.log(`c${client.index} -> m${member} ${describeRequest(request)} (dropped)`);
      return;
    }
    this.schedule(sampleDelay(this.clientNetRandom, this.profile.network.clientDelay), () => {
      const target = this.members.get(member);
      this.log(`c${client.index} -> m${member} ${describeRequest(request)}${target?.up === true ? '' : ' (member down)'}`);
      target?.onClientRequest(request);
    });
  }

  memberIds(): readonly number[] {
    const ids: number[] = [];
    for (const member of this.members.values()) {
      if (!member.removed) {
        ids.push(member.num);
      }
    }
    return ids;
  }

  // Queries --------------------------------------------------------------------------------

  /** The up member that believes it leads in the highest term, if any. */
  currentLeader(): WorldMember | undefined {
    let best: WorldMember | undefined;
    let bestTerm = -1;
    for (const member of this.members.values()) {
      const term = member.up ? member.leaderTerm() : undefined;
      if (term !== undefined && term > bestTerm) {
        best = member;
        bestTerm = term;
      }
    }
    return best;
  }

  /** The simulation's own member `m` (scenarios and snapshot transfers run only with that kind). */
  static sim(m: WorldMember): SimMember {
    simAssert(m instanceof SimMember, () => `m${m.num} is not the simulation's own member kind`);
    return m;
  }

  upMembers(): WorldMember[] {
    return [...this.members.values()].filter((m) => m.up);
  }

  /**
   * Arms (or disarms, with undefined) a crash that strikes when a member issues an fsync that
   * `strikes` accepts (default: any), right after that Ready's early messages went out.
   */
  armCrash(trigger: ((writer: SimMember) => void) | undefined, strikes: (writer: SimMember, fsync: FsyncIssued) => boolean = () => true): void {
    this.armedCrash = trigger === undefined ? undefined : { trigger, strikes };
  }

  onFsyncIssued(member: SimMember, fsync: FsyncIssued): void {
    const armed = this.armedCrash;
    if (armed !== undefined && member.up && armed.strikes(member, fsync)) {
      this.armedCrash = undefined;
      // After the current input completes (the Ready's early messages are already out).
      this.schedule(0, () => armed.trigger(member));
    }
  }

  /** Calls `watch` after every member input (before its Ready is taken) until it returns true. */
  watchInputs(watch: (member: SimMember) => boolean): void {
    this.inputWatchers.push(watch);
  }

  afterInput(member: WorldMember): void {
    if (this.inputWatchers.length > 0 && member instanceof SimMember) {
      this.inputWatchers = this.inputWatchers.filter((watch) => !watch(member));
    }
  }

  /**
   * Crashes a member; with `writebackProb`, some pending batches still reach the disk (or
   * exactly `writtenBack` of them, when given: scenarios).
   */
  crash(member: WorldMember, probe = false, writtenBack: number | undefined = undefined): void {
    const term = member.leaderTerm();
    if (term !== undefined) {
      this.lastLeaderCrash = { term, atMs: this.now, measured: false, probe };
    }
    this.counters.crashes++;
    if (!(member instanceof SimMember)) {
      // The production member's simulated file system keeps a seeded prefix of its unsynced writes.
      member.crash(0);
      return;
    }
    if (writtenBack === undefined) {
      writtenBack = 0;
      while (writtenBack < member.disk.pendingCount && this.diskRandom.chance(this.profile.disk.writebackProb)) {
        writtenBack++;
      }
    }
    this.log(`m${member.num} CRASH (${member.disk.pendingCount} unsynced batches, ${writtenBack} written back)`);
    member.crash(writtenBack);
  }
}
