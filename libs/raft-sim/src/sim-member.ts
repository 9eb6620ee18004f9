/**
 * One simulated cluster member: a RaftNode over a SimDisk, a KV state machine, and the driver
 * that handles each Ready in the documented order (libs/raft/src/ready.ts):
 *
 *     ready = node.ready()
 *     1. earlyMessages → network now
 *     2. snapshot, entries, hard state → disk (volatile view now; durable after the fsync)
 *     ── fsync completes after a simulated delay (at once when !mustSync) ──
 *     3. messages → network
 *     4. restore the snapshot's image; apply committedEntries; answer clients
 *     5. readStates: answered once applied >= index; failedReads: answered "failed"
 *     node.advance(ready); maybe snapshot and compact; next Ready
 *
 * A crash discards the RaftNode, the state machine and everything not durable; a restart
 * builds a new RaftNode from the durable copy and the newest durable image.
 */
import { EMPTY_HARD_STATE, RaftNode, ReadMode, Role, SeededRandom } from '@keyval/raft';
import type { ConfChange, Entry, HardState, LogIndex, Message, NodeId, RaftConfig, RaftStatus, Ready, SnapshotMeta } from '@keyval/raft';
import type { ClientReply, ClientRequest, ReplyOutcome } from './client-protocol';
import { readContext } from './client-protocol';
import { sampleDelay } from './fault-profile';
import type { DelayModel, FaultProfile } from './fault-profile';
import { KvStateMachine, encodeCommand } from './kv-state-machine';
import type { SmImage } from './kv-state-machine';
import { MemberRequests, refusal } from './member-requests';
import { describeMember } from './describe';
import type { WorldMember } from './member-kind';
import type { DurableLogView, ProtocolChecker, WrittenLogView } from './protocol-checker';
import type { SafetyChecker } from './safety-checker';
import { SimDisk } from './sim-disk';
import { mixSeed } from './sim-random';
import type { SimRandom } from './sim-random';
import { SimViolation, ViolationKind } from './sim.errors';

/** What a member needs from the world around it. */
export interface MemberHost {
  readonly now: number;
  readonly profile: FaultProfile;
  readonly checker: SafetyChecker;
  /** Checks fed from what the member exposes: its Readies, messages and served reads. */
  readonly protocol: ProtocolChecker;
  readonly memberRandom: SimRandom;
  readonly diskRandom: SimRandom;
  /** fsync latency now (the liveness phase removes its tail). */
  readonly fsyncModel: DelayModel;
  readonly mutation: DriverMutation | undefined;
  readonly seed: number;
  schedule(delayMs: number, run: () => void): void;
  log(line: string): void;
  send(from: WorldMember, messages: readonly Message[]): void;
  reply(from: WorldMember, reply: ClientReply): void;
  onLeader(member: WorldMember, term: number): void;
  onApplied(member: WorldMember, entry: Entry): void;
  /** A Ready's writes went to disk and an fsync was issued (armed crashes strike here). */
  onFsyncIssued(member: SimMember, fsync: FsyncIssued): void;
  /**
   * An input was handled by the core, before the resulting Ready is taken: scenarios react
   * here (a partition now cuts the messages that input produced).
   */
  afterInput(member: WorldMember): void;
}

/**
 * Deliberate driver bugs, for testing that the checkers catch them (never used by the CLI):
 * - `ack-before-fsync`: a Ready's `messages` (votes, append acknowledgements) leave before its
 *   writes are durable (applying still waits for the fsync);
 * - `drop-hard-state`: hard state (term, vote, commit) is never written;
 * - `lying-fsync`: an fsync reports success without making anything durable.
 */
export type DriverMutation = 'ack-before-fsync' | 'drop-hard-state' | 'lying-fsync';

/** An fsync a member issued: whether its Ready changes the term or vote, and its hard state. */
export interface FsyncIssued {
  readonly voteChanged: boolean;
  readonly hardState: HardState | undefined;
}

/** Inputs a paused member queues at most. */
export const MAX_DEFERRED_INPUTS = 200_000;


export class SimMember implements WorldMember {
  readonly num: number;
  node: RaftNode | undefined = undefined;
  sm = new KvStateMachine();
  up = false;
  /** Bumped on every start; events from an older incarnation are ignored. */
  incarnation = 0;
  /** Set once a committed configuration removed it; it is never restarted. */
  removed = false;
  /** The simulation's own disk is never damaged. */
  readonly retired = false;
  private inFlight: Ready | undefined = undefined;
  private readonly receivedImages = new Map<LogIndex, SmImage>();
  private readonly requests = new MemberRequests(
    (request, outcome) => this.answer(request, outcome),
    (term, arrivedMs) => this.host.protocol.readServed(this.num, term, arrivedMs),
  );
  private lastImageIndex = 0;
  /** The hard state of the last Ready written (to tell vote changes apart). */
  private lastHard: HardState = EMPTY_HARD_STATE;
  private pausedUntilMs = 0;
  private deferred: (() => void)[] = [];
  /** This member's clock rate (1 = exact); ticks come every tickMs * clockRate. */
  private readonly clockRate: number;
  /** The term this member was last seen leading (election detection). */
  private ledTerm = -1;
  /** Leader of this term when its previous Ready was taken (append-only check). */
  private leaderAtLastReady = -1;
  /** Leader-completeness checks waiting for this leader's next Ready. */
  private completeness: { term: number } | undefined = undefined;
  readonly stats = { readies: 0, fsyncs: 0, applied: 0, snapshotsTaken: 0, snapshotsInstalled: 0, crashes: 0 };

  constructor(
    readonly id: NodeId,
    readonly disk: SimDisk,
    private readonly host: MemberHost,
  ) {
    this.num = Number(id);
    const drift = host.profile.clockDrift;
    const fixed = host.profile.clockRates?.[this.num];
    this.clockRate = fixed ?? 1 + (drift === 0 ? 0 : (host.memberRandom.nextFloat() * 2 - 1) * drift);
  }

  /** Starts (or restarts) the member from its durable state. */
  start(): void {
    const image = this.disk.newestDurableImage();
    this.sm = new KvStateMachine(image);
    this.lastImageIndex = image?.index ?? 0;
    if (image !== undefined) {
      this.host.checker.onRestore(this.num, image.index, image.term, image.chainDigest);
    }
    this.incarnation++;
    this.up = true;
    this.ledTerm = -1;
    this.leaderAtLastReady = -1;
    this.lastHard = this.disk.volatile.hardState();
    this.host.protocol.started(this.num, this.lastHard);
    this.node = new RaftNode(this.raftConfig(image?.index ?? (0 as LogIndex)), this.disk.volatile);
    this.scheduleTicks();
    this.host.log(`m${this.num} start (incarnation ${this.incarnation}, applied ${this.sm.appliedIndex}, log ${this.disk.volatile.firstIndex()}..${this.disk.volatile.lastIndex()})`);
  }

  /**
   * Ticks every tickMs of this member's clock, which runs at its own rate (drift) and phase.
   * Each tick is an input like any other: a paused member handles missed ticks on resuming.
   */
  private scheduleTicks(): void {
    const incarnation = this.incarnation;
    const periodMs = this.host.profile.tickMs * this.clockRate;
    const startMs = this.host.now + 1 + this.host.memberRandom.nextInt(this.host.profile.tickMs);
    let k = 0;
    const tick = (): void => {
      if (!this.up || this.incarnation !== incarnation) {
        return;
      }
      this.input(() => this.core().tick());
      k++;
      this.host.schedule(Math.max(1, Math.round(startMs + k * periodMs) - this.host.now), tick);
    };
    this.host.schedule(startMs - this.host.now, tick);
  }

  /**
   * The process stalls (GC pause, VM preemption) until `untilMs`: inputs (ticks, messages,
   * client requests, fsync completions) queue up and are handled in arrival order on resuming.
   * The disk keeps working: an fsync completes durably even while the process is stalled.
   */
  pause(untilMs: number): void {
    if (!this.up || untilMs <= this.pausedUntilMs) {
      return;
    }
    this.pausedUntilMs = untilMs;
    const incarnation = this.incarnation;
    this.host.schedule(untilMs - this.host.now, () => {
      if (this.up && this.incarnation === incarnation && this.host.now >= this.pausedUntilMs) {
        const queued = this.deferred;
        this.deferred = [];
        this.host.log(`m${this.num} resumes after a pause (${queued.length} queued inputs)`);
        for (const fn of queued) {
          this.input(fn);
        }
      }
    });
  }

  private raftConfig(applied: LogIndex): RaftConfig {
    const p = this.host.profile;
    return {
      id: this.id,
      electionTimeoutTicks: p.electionTimeoutTicks,
      heartbeatTicks: p.heartbeatTicks,
      random: new SeededRandom(mixSeed(this.host.seed, this.num, this.incarnation)),
      preVote: p.raft.preVote,
      checkQuorum: p.raft.checkQuorum,
      leaseReads: p.raft.leaseReads,
      applied,
      ...(p.raft.maxInflightMessages === undefined ? {} : { maxInflightMessages: p.raft.maxInflightMessages }),
      ...(p.raft.maxMessageBytes === undefined ? {} : { maxMessageBytes: p.raft.maxMessageBytes }),
      ...(p.raft.maxUncommittedBytes === undefined ? {} : { maxUncommittedBytes: p.raft.maxUncommittedBytes }),
    };
  }

  /** The process dies: volatile state and unsynced writes are lost (some may have been written back). */
  crash(writtenBack: number): void {
    if (!this.up) {
      return;
    }
    this.up = false;
    this.node = undefined;
    this.inFlight = undefined;
    this.receivedImages.clear();
    this.requests.clear();
    this.completeness = undefined;
    this.deferred = [];
    this.pausedUntilMs = 0;
    this.disk.crash(writtenBack);
    this.stats.crashes++;
  }

  core(): RaftNode {
    if (this.node === undefined) {
      throw new SimViolation(ViolationKind.DriverContract, `member ${this.num} is down`);
    }
    return this.node;
  }

  /** Runs an input against the core, then looks for a new leadership and drains Readies. */
  input(fn: () => void): void {
    if (!this.up) {
      return;
    }
    if (this.host.now < this.pausedUntilMs) {
      if (this.deferred.length >= MAX_DEFERRED_INPUTS) {
        throw new SimViolation(ViolationKind.DriverContract, `member ${this.num} queued more than ${MAX_DEFERRED_INPUTS} inputs while paused`);
      }
      this.deferred.push(fn);
      return;
    }
    fn();
    this.observe();
    this.host.afterInput(this);
    this.pump();
  }

  /** Election detection right after the input that caused it (election safety, completeness). */
  private observe(): void {
    const node = this.core();
    if (node.role !== Role.Leader) {
      return;
    }
    const st = node.status();
    if (st.term !== this.ledTerm) {
      this.ledTerm = st.term;
      this.completeness = { term: st.term };
      this.host.checker.onLeader(this.num, st.term);
      this.host.onLeader(this, st.term);
    }
    this.host.checker.onLeaderCommit(st.term, st.commit);
  }

  /** Whether the core currently believes it leads (and in which term). */
  leaderTerm(): number | undefined {
    if (this.node === undefined) {
      return undefined;
    }
    return this.node.role === Role.Leader ? this.node.term : undefined;
  }

  /** A message arrived from the network. */
  deliver(message: Message): void {
    this.input(() => this.core().step(message));
  }

  /** A snapshot arrived in full with its image: keep the image, then step the message. */
  deliverSnapshot(message: Message & { type: 'Snapshot' }, image: SmImage): void {
    if (!this.up) {
      return;
    }
    this.receivedImages.set(message.snapshot.index, image);
    this.deliver(message);
  }

  private pump(): void {
    const node = this.node;
    while (this.up && node !== undefined && this.node === node && this.inFlight === undefined && node.hasReady()) {
      this.handleReady(node, node.ready());
    }
  }

  private handleReady(node: RaftNode, rd: Ready): void {
    this.inFlight = rd;
    this.stats.readies++;
    this.host.protocol.readyTaken(this.num, rd, this.disk.volatile, this.host.now);
    const leaderNow = node.role === Role.Leader ? node.term : -1;
    this.host.send(this, rd.earlyMessages);
    let snapshot: { meta: SnapshotMeta; image: SmImage } | undefined;
    if (rd.snapshot !== undefined) {
      const image = this.receivedImages.get(rd.snapshot.index);
      if (image === undefined || image.term !== rd.snapshot.term) {
        throw new SimViolation(ViolationKind.DriverContract, `member ${this.num}: Ready asks to install snapshot ${rd.snapshot.index}/t${rd.snapshot.term} but no such snapshot was received`);
      }
      snapshot = { meta: rd.snapshot, image };
      this.receivedImages.clear();
    }
    const lastBefore = this.disk.volatile.lastIndex();
    const hardState = this.host.mutation === 'drop-hard-state' ? undefined : rd.hardState;
    const previousHard = this.lastHard;
    this.lastHard = rd.hardState ?? this.lastHard;
    this.disk.write({ snapshot, entries: rd.entries, hardState });
    this.host.checker.onWrite(this.num, this.disk.volatile, rd.entries);
    if (leaderNow >= 0 && this.leaderAtLastReady === leaderNow) {
      this.host.checker.checkLeaderAppend(this.num, leaderNow, lastBefore, rd.entries, snapshot !== undefined);
    }
    this.leaderAtLastReady = leaderNow;
    if (this.completeness !== undefined && leaderNow === this.completeness.term) {
      this.host.checker.checkLeaderCompleteness(this.num, leaderNow, this.disk.volatile);
      this.completeness = undefined;
    }
    if (!rd.mustSync) {
      this.finishReady(node, rd, snapshot?.image);
      return;
    }
    const early = this.host.mutation === 'ack-before-fsync';
    if (early) {
      this.host.send(this, rd.messages);
    }
    const incarnation = this.incarnation;
    const voteChanged = rd.hardState !== undefined && (rd.hardState.term !== previousHard.term || rd.hardState.vote !== previousHard.vote);
    this.host.onFsyncIssued(this, { voteChanged, hardState: rd.hardState });
    this.host.schedule(sampleDelay(this.host.diskRandom, this.host.fsyncModel), () => {
      if (this.up && this.incarnation === incarnation && this.inFlight === rd) {
        if (this.host.mutation !== 'lying-fsync') {
          this.disk.sync();
        }
        this.stats.fsyncs++;
        this.input(() => this.finishReady(node, rd, snapshot?.image, early));
      }
    });
  }

  /** Steps 3–5 of the Ready contract, once the Ready's writes are durable. */
  private finishReady(node: RaftNode, rd: Ready, image: SmImage | undefined, messagesSent = false): void {
    if (!messagesSent) {
      this.host.send(this, rd.messages);
    }
    if (image !== undefined) {
      this.sm.restore(image);
      this.lastImageIndex = image.index;
      this.stats.snapshotsInstalled++;
      this.host.checker.onRestore(this.num, image.index, image.term, image.chainDigest);
      this.host.log(`m${this.num} installed snapshot ${image.index}/t${image.term}`);
      this.requests.skippedTo(image.index);
    }
    for (const entry of rd.committedEntries) {
      this.applyEntry(entry);
    }
    this.requests.readStates(rd.readStates, rd.failedReads);
    this.requests.serveReads(this.sm.appliedIndex, (key) => this.sm.get(key));
    this.inFlight = undefined;
    node.advance(rd);
    this.maybeSnapshot();
  }

  private applyEntry(entry: Entry): void {
    const { result, duplicate } = this.sm.apply(entry);
    this.stats.applied++;
    this.host.checker.onApply(this.num, entry, this.sm.chainDigest);
    if (duplicate && result !== undefined) {
      throw new SimViolation(ViolationKind.DuplicateApply, `member ${this.num} applied client operation ${result.opId} a second time at ${entry.index}`);
    }
    this.host.onApplied(this, entry);
    this.requests.applied(entry, result);
  }

  /** Every `snapshotEvery` applied entries: a durable image, and compaction keeping a trailing window. */
  private maybeSnapshot(): void {
    const every = this.host.profile.snapshotEvery;
    if (every === 0 || this.sm.appliedIndex - this.lastImageIndex < every) {
      return;
    }
    const image = this.sm.image();
    this.disk.saveImage(image);
    this.lastImageIndex = image.index;
    this.stats.snapshotsTaken++;
    const target = this.disk.newestImageAtOrBelow(image.index - this.host.profile.snapshotTrailing);
    if (target !== undefined && target.index > this.disk.volatile.snapshotMeta().index) {
      this.disk.compact({ index: target.index, term: target.term, config: target.config });
      this.host.log(`m${this.num} snapshot at ${image.index}, log compacted to ${target.index}`);
    }
  }

  /** A client request arrived. Writes are proposed; reads go through ReadIndex. */
  onClientRequest(request: ClientRequest): void {
    if (!this.up) {
      return;
    }
    if (this.requests.full) {
      this.answer(request, { type: 'rejected', reason: 'member overloaded' });
      return;
    }
    // When the request reached the member: a paused member handles it later, but as of then.
    const arrivedMs = this.host.now;
    this.input(() => {
      try {
        if (request.kind === 'get') {
          const context = readContext(request);
          const term = this.core().term;
          this.core().readIndex(context, request.lease ? ReadMode.Lease : ReadMode.Safe);
          this.requests.readRequested(context, request, term, arrivedMs);
        } else {
          const ticket = this.core().propose(encodeCommand(request.command));
          this.requests.proposed(ticket, request);
        }
      } catch (error) {
        this.answer(request, refusal(error));
      }
    });
  }

  answer(request: ClientRequest, outcome: ReplyOutcome): void {
    this.host.reply(this, { client: request.client, opId: request.opId, attempt: request.attempt, outcome });
  }

  proposeConfChange(change: ConfChange, failed: (reason: string) => void): void {
    try {
      this.core().proposeConfChange(change);
    } catch (error) {
      failed(error instanceof Error ? error.message : String(error));
    }
  }

  transferLeadership(target: NodeId): void {
    this.core().transferLeadership(target);
  }

  unreachable(to: NodeId): void {
    this.input(() => this.core().reportUnreachable(to));
  }

  status(): RaftStatus | undefined {
    return this.node?.status();
  }

  get unsyncedWrites(): number {
    return this.disk.pendingCount;
  }

  get appliedIndex(): number {
    return this.sm.appliedIndex;
  }

  get chainDigest(): number {
    return this.sm.chainDigest;
  }

  hasApplied(opId: string): boolean {
    return this.sm.hasApplied(opId);
  }

  writtenLog(): WrittenLogView {
    return this.disk.volatile;
  }

  durableLog(): DurableLogView & WrittenLogView {
    return this.disk.durableView();
  }

  describe(): string {
    return describeMember(this);
  }

  pendingProposalCount(): number {
    return this.requests.pendingProposals;
  }

  /** The proposals pending here, each named by member, incarnation, index and term. */
  pendingProposalIds(): string[] {
    return this.up ? this.requests.pendingProposalKeys().map((key) => `m${this.num}#${this.incarnation}:${key}`) : [];
  }
}
