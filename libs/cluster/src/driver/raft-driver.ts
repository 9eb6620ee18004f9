/**
 * The member loop: drives one RaftNode with a scheduler's time, a durable log store, a state
 * machine and the peer transport. This file is the façade — what callers use (propose, read
 * barriers, delivery of messages, leadership, stop) — over parts that each do one job:
 *
 *     ticker.ts ──tick──┐   transport ──deliver──┐   clients ──propose / readBarrier──┐
 *                      ▼                         ▼                                   ▼
 *                    RaftNode ──ready──▶ ready-loop.ts (order asserted: ready-order.ts)
 *                                          ├─ log-persistence.ts    entries + hard state, disk-full back-off
 *                                          ├─ snapshot-coordinator.ts  send / receive / install / take
 *                                          ├─ apply-queue.ts        committed entries, in order, in the background
 *                                          └─ leader-watch.ts       who leads; waitForLeader
 *     waiters.ts: proposals resolved by index once applied, reads once applied >= read index
 *     peer-timing.ts: heartbeat round trips, unreachable peers
 *
 * Time, timers and deferred tasks come only from the injected Scheduler (clock.ts).
 */
import type { Context } from '@opentelemetry/api';
import { RaftInvariantError, RaftNode, ReadMode, Role } from '@keyval/raft';
import type { ConfChange, Entry, LogIndex, Message, NodeId, RaftStatus, SnapshotMeta } from '@keyval/raft';
import type { DriverObserver } from '../member/member-observer';
import type { SnapshotChunkIn, SnapshotOffer, TransportReceiver } from '../transport/transport';
import { REAL_SCHEDULER } from './clock';
import type { Scheduler } from './clock';
import { assembleDriver } from './driver-assembly';
import { NOOP_LOGGER, newCounters } from './driver-options';
import type { DriverLogger, DriverOptions } from './driver-options';
import { MemberStoppedError } from './driver.errors';
import { RequestIntake } from './request-intake';
import type { ApplyQueue } from './apply-queue';
import type { LeaderWatch } from './leader-watch';
import type { PeerTiming } from './peer-timing';
import type { ReadyLoop } from './ready-loop';
import type { SnapshotCoordinator } from './snapshot-coordinator';
import type { ProposalWaiters, ReadWaiters } from './waiters';
import type { Ticker } from './ticker';
import type { RaftTracing } from './raft-tracing';

export type { DriverCounters, DriverLogger, DriverOptions, DriverSnapshots, DriverStateMachine } from './driver-options';

export class RaftDriver<R> implements TransportReceiver {
  readonly id: NodeId;
  private node!: RaftNode;
  private readonly scheduler: Scheduler;
  private readonly logger: DriverLogger;
  private readonly observer: DriverObserver | undefined;
  private readonly tracing: RaftTracing | undefined;
  private readonly proposals: ProposalWaiters<R>;
  private readonly reads: ReadWaiters;
  private readonly ticker: Ticker;
  private readonly applyQueue: ApplyQueue<R>;
  private readonly leaders: LeaderWatch;
  private readonly peers: PeerTiming;
  private readonly snapshots: SnapshotCoordinator;
  private readonly loop: ReadyLoop<R>;
  private readonly intake: RequestIntake<R>;
  private applied: LogIndex = 0 as LogIndex;
  private stopped: MemberStoppedError | undefined;
  /** Counters for metrics and diagnosis (monotonic since start). */
  readonly counters = newCounters();

  constructor(private readonly options: DriverOptions<R>) {
    this.id = options.raft.id;
    this.scheduler = options.scheduler ?? REAL_SCHEDULER;
    this.logger = options.logger ?? NOOP_LOGGER;
    this.observer = options.observer;
    const parts = assembleDriver<R>(options, this.scheduler, this.logger, {
      id: this.id,
      node: () => this.node,
      stopped: () => this.stopped,
      appliedIndex: () => this.applied,
      installed: (index) => (this.applied = index),
      applied: (entries, results, elapsedMs) => this.onApplied(entries, results, elapsedMs),
      fatal: (error) => this.fatal(error),
      counters: this.counters,
    });
    ({ tracing: this.tracing, proposals: this.proposals, reads: this.reads, ticker: this.ticker, applyQueue: this.applyQueue } = parts);
    ({ leaders: this.leaders, peers: this.peers, snapshots: this.snapshots, loop: this.loop } = parts);
    this.intake = new RequestIntake<R>({
      ...parts,
      id: this.id,
      clock: this.scheduler,
      logStore: options.logStore,
      observer: this.observer,
      counters: this.counters,
      maxPendingProposals: options.maxPendingProposals ?? 65_536,
      maxPendingReads: options.maxPendingReads ?? 65_536,
      node: () => this.node,
      stopped: () => this.stopped,
      guard: (fn) => this.guard(fn),
      schedule: () => this.schedule(),
    });
  }

  /** Recovers (restoring the state machine from a snapshot the log relies on) and starts ticking. */
  async start(): Promise<void> {
    const { logStore, stateMachine, snapshots } = this.options;
    const logSnapshot = logStore.snapshotMeta();
    if (stateMachine.appliedIndex() < logSnapshot.index) {
      // The log was compacted to (or installed) a snapshot the state machine has not restored:
      // a crash between installing a leader's snapshot and restoring from it.
      if (snapshots === undefined) {
        throw new Error(`state machine at ${stateMachine.appliedIndex()} is behind the log snapshot ${logSnapshot.index} and there are no snapshots`);
      }
      this.logger.warn('restoring the state machine from the snapshot the log starts after', { index: logSnapshot.index });
      await snapshots.restore(logSnapshot);
    }
    this.applied = stateMachine.appliedIndex();
    this.snapshots.start();
    this.node = new RaftNode({ ...this.options.raft, applied: this.applied }, logStore);
    this.options.transport.onUnreachable((peer) => {
      this.peers.unreachable(peer);
      this.node.reportUnreachable(peer);
      this.schedule();
    });
    // One timer for the core's next deadline, not one per tick (ticker.ts).
    this.ticker.start({ tick: () => this.guard(() => this.node.tick()), ticksUntilDeadline: () => this.node.ticksUntilDeadline() });
    this.schedule();
  }

  /** Runs `fn` against the core; a broken invariant stops the member. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      if (error instanceof RaftInvariantError) {
        this.fatal(error);
      }
      throw error;
    }
  }

  deliver(messages: readonly Message[]): void {
    if (this.stopped !== undefined) {
      return;
    }
    for (const m of messages) {
      if (m.type === 'HeartbeatResponse') {
        this.peers.heartbeatAnswered(m.from);
      }
      try {
        this.guard(() => this.node.step(m));
      } catch (error) {
        this.logger.error('dropping a message the core refused', { type: m.type, from: m.from.toString(16), error: String(error) });
      }
    }
    // Time is applied after the messages (as a fired timer's catch-up runs after the turn's
    // I/O): a follower stalled past its timeout steps the leader's waiting heartbeat first.
    this.ticker.catchUp();
    this.schedule();
  }

  /**
   * Proposes a command; resolves with its result once applied, or rejects with a named error.
   * With tracing, its span is a child of `trace` (default: the active context).
   */
  propose(data: Uint8Array, deadlineMs: number, trace?: Context): Promise<R> {
    return this.intake.submit(deadlineMs, () => this.node.propose(data), trace);
  }

  /** Proposes a membership change; resolves once it is applied. Throws ConfChangeRefusedError & co. */
  proposeConfChange(change: ConfChange, deadlineMs: number): Promise<R> {
    return this.intake.submit(deadlineMs, () => this.node.proposeConfChange(change), undefined);
  }

  /** Starts handing leadership to `target` (§3.10); see waitForLeader to know when it moved. */
  transferLeadership(target: NodeId): void {
    this.checkRunning();
    this.guard(() => this.node.transferLeadership(target));
    this.schedule();
  }

  /**
   * Resolves once a read at this point would be linearizable: the leader confirmed its read
   * index (or its lease, with ReadMode.Lease) and this member has applied up to it.
   */
  readBarrier(mode: ReadMode, deadlineMs: number, trace?: Context): Promise<LogIndex> {
    return this.intake.readBarrier(mode, deadlineMs, trace);
  }

  private checkRunning(): void {
    this.intake.checkRunning();
  }

  private schedule(): void {
    this.loop.schedule();
  }

  /** After each applied batch: resolves proposals and reads as the index moves. */
  private onApplied(batch: readonly Entry[], results: readonly R[], elapsedMs: number): void {
    this.observer?.applied(batch.length, elapsedMs);
    if (this.tracing !== undefined) {
      const now = this.scheduler.nowMs();
      this.tracing.applied(batch, now - elapsedMs, now);
    }
    this.counters.applyMs += elapsedMs;
    this.counters.applyBatches++;
    this.counters.entriesApplied += batch.length;
    this.applied = (batch[batch.length - 1] as Entry).index;
    this.proposals.applied(batch, results);
    this.options.onApplied?.(batch, results);
    this.reads.appliedTo(this.applied);
    this.snapshots.maybeSnapshot(this.applied);
  }

  /** TransportReceiver: stores an incoming snapshot, then hands its metadata to the core. */
  async receiveSnapshot(offer: SnapshotOffer, chunks: AsyncIterable<SnapshotChunkIn>, progress: (receivedBytes: number) => void): Promise<void> {
    this.checkRunning();
    await this.snapshots.receive(offer, chunks, progress);
    this.deliver([{ type: 'Snapshot', from: offer.from, to: this.id, term: offer.term, snapshot: offer.meta }]);
  }

  /**
   * Takes a snapshot now and compacts the log behind it; resolves with its metadata. One at a
   * time: a call while another snapshot is being taken waits for it, then takes its own.
   */
  takeSnapshot(): Promise<SnapshotMeta> {
    return this.snapshots.take();
  }

  /** Called with (leader, term) whenever the known leader changes (NO_NODE: none). */
  onLeaderChange(listener: (leader: NodeId, term: number) => void): () => void {
    return this.leaders.onChange(listener);
  }

  /** Resolves with the leader once one is known; rejects with NotLeaderError at the deadline. */
  waitForLeader(deadlineMs: number): Promise<NodeId> {
    return this.leaders.waitForLeader(deadlineMs);
  }

  get raft(): RaftNode {
    return this.node;
  }

  status(): RaftStatus & { applied: LogIndex } {
    return { ...this.node.status(), applied: this.applied };
  }

  /** The current term (cheap, for response headers). */
  currentTerm(): number {
    return this.node.term;
  }

  /** The leader this member knows, NO_NODE for none (cheap). */
  currentLeader(): NodeId {
    return this.node.leader;
  }

  isLeader(): boolean {
    return this.node.role === Role.Leader;
  }

  /** Stops ticking and fails every waiter. The log store and state machine stay open. */
  stop(reason = 'shutting down'): void {
    if (this.stopped !== undefined) {
      return;
    }
    this.stopped = new MemberStoppedError(reason);
    this.ticker.stop();
    this.proposals.failAll(this.stopped);
    this.tracing?.failedAll(this.stopped);
    this.reads.failAll(this.stopped);
  }

  private fatal(error: Error): void {
    if (this.stopped !== undefined) {
      return;
    }
    this.logger.error('fatal error: the member must stop', { error: error.message, stack: error.stack });
    this.stop(`fatal: ${error.message}`);
    this.options.onFatal(error);
  }

  /**
   * Milliseconds since the transport last reported `peer` unreachable (Infinity: never). A
   * crashed member's connection closes at once, well before the leader stops counting it as
   * recently heard from (an election timeout).
   */
  msSinceUnreachable(peer: NodeId): number {
    return this.peers.msSinceUnreachable(peer);
  }

  /** True while a snapshot from the leader is being installed. */
  get installingSnapshot(): boolean {
    return this.snapshots.installing;
  }

  /** Proposals waiting to be applied (etcd_server_proposals_pending). */
  get pendingProposals(): number {
    return this.proposals.size;
  }

  /** Milliseconds per tick. */
  get tickMs(): number {
    return this.options.tickMs;
  }

  /** Waits until the in-flight Ready (if any) has been handled and applied. */
  async drain(): Promise<void> {
    while (this.loop.busy) {
      await new Promise<void>((resolve) => this.scheduler.defer(resolve));
    }
    await this.applyQueue.drained();
  }
}
