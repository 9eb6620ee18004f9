/**
 * The member loop: drives one RaftNode with real time, a durable log store, a state machine
 * and the peer transport, handling each Ready in the order ready.ts prescribes.
 *
 *     ticker ──tick──┐  transport ──deliver──┐   clients ──propose/read──┐
 *                   ▼                        ▼                           ▼
 *                 RaftNode ──ready──▶ send early ─▶ persist (group commit) ─▶ send ─▶ apply ─▶ advance
 *                                                                                   │
 *                             proposals resolved by index, reads once applied ◀─────┘
 *
 * Only one Ready is in flight; while it is being persisted, ticks, messages and proposals
 * keep flowing into the core and come out batched in the next one.
 */
import { NO_NODE, NotLeaderError, RaftInvariantError, RaftNode, ReadMode, Role } from '@keyval/raft';
import type { ConfChange, Entry, LogIndex, Message, NodeId, ProposalTicket, RaftConfig, RaftStatus, Ready, SnapshotMeta } from '@keyval/raft';
import { DiskFullError } from '@keyval/storage';
import type { LogStore } from '@keyval/storage';
import type { DriverObserver } from '../member/member-observer';
import type { PeerTransport, SnapshotChunkIn, SnapshotOffer, SnapshotSource, TransportReceiver } from '../transport/transport';
import type { Clock } from './clock';
import { MONOTONIC_CLOCK } from './clock';
import { MemberStoppedError, ReadNotConfirmedError, ResourceExhaustedError } from './driver.errors';
import { ApplyQueue } from './apply-queue';
import { ProposalWaiters, ReadWaiters } from './waiters';
import { Ticker } from './ticker';
import { RaftTracing } from './raft-tracing';
import type { Tracer } from '@opentelemetry/api';

/** The state machine as the driver sees it. */
export interface DriverStateMachine<R> {
  /** The last index applied (durably: it survives a restart). */
  appliedIndex(): LogIndex;
  /** Applies committed entries in order, in one batch; one result per entry. */
  apply(entries: readonly Entry[]): Promise<readonly R[]>;
}

/** Snapshot files, as the driver needs them. */
export interface DriverSnapshots {
  /** The latest local snapshot, sent to followers that need compacted entries. */
  latest(): SnapshotMeta | undefined;
  open(meta: SnapshotMeta): Promise<SnapshotSource>;
  /** Stores an incoming snapshot (verifying its checksums); resolves once durable. */
  receive(offer: SnapshotOffer, chunks: AsyncIterable<SnapshotChunkIn>, progress: (bytes: number) => void): Promise<void>;
  /** Replaces the state machine with the stored snapshot at meta.index. */
  restore(meta: SnapshotMeta): Promise<void>;
  /** Snapshots the state machine at its applied index. */
  create(): Promise<SnapshotMeta>;
}

export interface DriverLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface DriverOptions<R> {
  /** The core's configuration; `applied` is filled in from the state machine. */
  readonly raft: Omit<RaftConfig, 'applied'>;
  readonly tickMs: number;
  readonly logStore: LogStore;
  readonly stateMachine: DriverStateMachine<R>;
  readonly snapshots?: DriverSnapshots;
  readonly transport: PeerTransport;
  readonly clock?: Clock;
  readonly logger?: DriverLogger;
  /** Proposals waiting to apply, at most. Default 65,536. */
  readonly maxPendingProposals?: number;
  /** Reads waiting, at most. Default 65,536. */
  readonly maxPendingReads?: number;
  /** Take a snapshot every this many applied entries (0: never). Default 10,000. */
  readonly snapshotEveryEntries?: number;
  /** Entries kept in the log behind a snapshot for slow followers. Default 5,000. */
  readonly compactionTrailingEntries?: number;
  /** Called after each applied batch (e.g. to update peer addresses on membership changes). */
  readonly onApplied?: (entries: readonly Entry[], results: readonly R[]) => void;
  /** Called once on a fatal error (storage failure, broken invariant): the member must exit. */
  readonly onFatal: (error: Error) => void;
  /** Hears about proposals, applies, reads, heartbeats and snapshot transfers (metrics). Default: none. */
  readonly observer?: DriverObserver;
  /** Traces proposals made inside a span, and their persist, replication and apply (raft-tracing.ts). Default: none. */
  readonly tracer?: Tracer;
}

/** Committed entries waiting to apply beyond which the Ready loop waits for the state machine. */
const MAX_APPLY_BACKLOG_ENTRIES = 50_000;

const NOOP_LOGGER: DriverLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export class RaftDriver<R> implements TransportReceiver {
  readonly id: NodeId;
  private node!: RaftNode;
  private readonly clock: Clock;
  private readonly logger: DriverLogger;
  private readonly proposals: ProposalWaiters<R>;
  private readonly reads: ReadWaiters;
  private readonly leaderListeners = new Set<(leader: NodeId, term: number) => void>();
  private applied: LogIndex = 0 as LogIndex;
  private lastSnapshotIndex = 0;
  /** When the transport last reported each peer unreachable (its stream broke), monotonic ms. */
  private readonly unreachableAtMs = new Map<NodeId, number>();
  /** The snapshot being taken, if any (takeSnapshot runs one at a time). */
  private snapshotInFlight: Promise<SnapshotMeta> | undefined;
  private readSequence = 0;
  private readonly ticker: Ticker;
  private scheduled = false;
  private processing = false;
  private stopped: Error | undefined;
  private leader: NodeId = NO_NODE;
  private readonly sendingSnapshots = new Set<NodeId>();
  private readonly observer: DriverObserver | undefined;
  /** With an observer: when the oldest unanswered heartbeat to each peer was sent (clock ms). */
  private readonly heartbeatSentAtMs = new Map<NodeId, number>();
  /** True while a leader's snapshot is being installed (etcd_server_snapshot_apply_in_progress_total). */
  private installing = false;
  private readonly tracing: RaftTracing | undefined;
  /** Counters for metrics and diagnosis (monotonic since start). */
  readonly counters = { readies: 0, entriesPersisted: 0, syncs: 0, persistMs: 0, entriesApplied: 0, applyBatches: 0, applyMs: 0, messagesSent: 0, proposals: 0, readBarriers: 0 };
  private readonly applyQueue: ApplyQueue<R>;
  /** Incoming snapshots stored and stepped into the core, by index, awaiting their Ready. */
  private readonly incomingSnapshots = new Map<number, SnapshotMeta>();

  constructor(private readonly options: DriverOptions<R>) {
    this.id = options.raft.id;
    this.clock = options.clock ?? MONOTONIC_CLOCK;
    this.logger = options.logger ?? NOOP_LOGGER;
    this.observer = options.observer;
    this.tracing = options.tracer === undefined ? undefined : new RaftTracing(options.tracer);
    const observer = options.observer;
    this.proposals = new ProposalWaiters<R>(this.clock, observer === undefined ? undefined : (count) => observer.proposalsFailed(count));
    this.reads = new ReadWaiters(this.clock);
    this.applyQueue = new ApplyQueue<R>({
      apply: (entries) => this.options.stateMachine.apply(entries),
      applied: (entries, results, elapsedMs) => this.onApplied(entries, results, elapsedMs),
      failed: (error) => this.fatal(error),
      stopped: () => this.stopped !== undefined,
    });
    this.ticker = new Ticker({ clock: this.clock, tickMs: options.tickMs, onDeadline: () => this.schedule() });
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
    this.lastSnapshotIndex = snapshots?.latest()?.index ?? 0;
    this.node = new RaftNode({ ...this.options.raft, applied: this.applied }, logStore);
    this.options.transport.onUnreachable((peer) => {
      this.unreachableAtMs.set(peer, this.clock.nowMs());
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
      if (m.type === 'HeartbeatResponse' && this.observer !== undefined) {
        this.heartbeatAnswered(m.from);
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

  /** Proposes a command; resolves with its result once applied, or rejects with a named error. */
  propose(data: Uint8Array, deadlineMs: number): Promise<R> {
    return this.submit(deadlineMs, () => this.node.propose(data));
  }

  /** Proposes a membership change; resolves once it is applied. Throws ConfChangeRefusedError & co. */
  proposeConfChange(change: ConfChange, deadlineMs: number): Promise<R> {
    return this.submit(deadlineMs, () => this.node.proposeConfChange(change));
  }

  private submit(deadlineMs: number, propose: () => ProposalTicket): Promise<R> {
    try {
      return this.submitOrThrow(deadlineMs, propose);
    } catch (error) {
      this.observer?.proposalsFailed(1);
      return Promise.reject(error);
    }
  }

  private submitOrThrow(deadlineMs: number, propose: () => ProposalTicket): Promise<R> {
    this.checkRunning();
    const health = this.options.logStore.health();
    if (!health.writable) {
      throw new ResourceExhaustedError(`the log store (${health.detail ?? health.state})`);
    }
    if (this.proposals.size >= (this.options.maxPendingProposals ?? 65_536)) {
      throw new ResourceExhaustedError('the proposal queue');
    }
    const ticket = this.guard(propose);
    this.counters.proposals++;
    this.schedule();
    const tracing = this.tracing;
    if (tracing === undefined) {
      return this.proposals.add(ticket.index, ticket.term, deadlineMs);
    }
    tracing.proposed(ticket.index, ticket.term, this.clock.nowMs());
    return tracing.watch(ticket.index, this.proposals.add(ticket.index, ticket.term, deadlineMs));
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
  readBarrier(mode: ReadMode, deadlineMs: number): Promise<LogIndex> {
    if (this.stopped !== undefined) {
      return Promise.reject(new MemberStoppedError(this.stopped.message, 'not-applied'));
    }
    if (this.reads.size >= (this.options.maxPendingReads ?? 65_536)) {
      return Promise.reject(new ResourceExhaustedError('the read queue'));
    }
    this.observer?.readBarrier(mode);
    if (mode === ReadMode.Lease) {
      // The lease is measured in ticks: make them reflect the monotonic clock right now.
      this.ticker.catchUp();
    }
    const context = `${this.id.toString(16)}:${++this.readSequence}`;
    const added = this.reads.add(context, deadlineMs);
    const promise = this.tracing === undefined ? added : this.tracing.readBarrier(mode, added);
    try {
      this.guard(() => this.node.readIndex(context, mode));
    } catch (error) {
      this.reads.failed(context, error as Error);
      return promise;
    }
    this.schedule();
    return promise;
  }

  private checkRunning(): void {
    if (this.stopped !== undefined) {
      throw new MemberStoppedError(this.stopped.message, 'not-applied');
    }
  }

  private schedule(): void {
    if (!this.scheduled && this.stopped === undefined) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        void this.run();
      });
    }
  }

  private async run(): Promise<void> {
    if (this.processing || this.stopped !== undefined) {
      return;
    }
    this.processing = true;
    try {
      while (this.stopped === undefined && this.node.hasReady()) {
        await this.handleReady(this.node.ready());
      }
      // A role change may have moved the next deadline earlier (a new leader's heartbeat).
      this.ticker.rearm();
    } catch (error) {
      this.fatal(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.processing = false;
    }
  }

  private async handleReady(ready: Ready): Promise<void> {
    this.counters.readies++;
    this.sendMessages(ready.earlyMessages);
    if (ready.snapshot !== undefined) {
      await this.installSnapshot(ready.snapshot);
    }
    if (ready.entries.length > 0 || ready.hardState !== undefined) {
      const began = performance.now();
      await this.persist(ready);
      const ended = performance.now();
      this.counters.entriesPersisted += ready.entries.length;
      this.counters.syncs += ready.mustSync ? 1 : 0;
      this.counters.persistMs += ended - began;
      if (this.tracing !== undefined && ready.entries.length > 0) {
        this.tracing.persisted(ready.entries, began, ended, ready.mustSync ? this.options.logStore.lastSyncTiming?.() : undefined);
      }
    }
    this.sendMessages(ready.messages);
    if (ready.committedEntries.length > 0) {
      if (this.observer !== undefined && this.proposals.size > 0) {
        this.observeCommits(ready.committedEntries, this.observer);
      }
      if (this.tracing !== undefined) {
        this.tracing.committed(ready.committedEntries, (ready.committedEntries[ready.committedEntries.length - 1] as Entry).index, this.clock.nowMs());
      }
      // Applied in the background, in order, overlapping the next Ready's disk write.
      this.applyQueue.enqueue(ready.committedEntries);
      if (this.applyQueue.backlog > MAX_APPLY_BACKLOG_ENTRIES) {
        await this.applyQueue.drained();
      }
    }
    for (const rs of ready.readStates) {
      this.reads.confirmed(rs.context, rs.index, this.applied);
    }
    for (const context of ready.failedReads) {
      this.reads.failed(context, new ReadNotConfirmedError());
    }
    this.node.advance(ready);
    if (ready.softState !== undefined) {
      this.onSoftState(ready.softState.leader, ready.softState.role);
    }
  }

  /** Commit latency of this member's own proposals among `entries` (leader). */
  private observeCommits(entries: readonly Entry[], observer: DriverObserver): void {
    const now = this.clock.nowMs();
    for (const entry of entries) {
      const proposedAt = this.proposals.proposedAt(entry.index);
      if (proposedAt !== undefined) {
        observer.proposalCommitted(now - proposedAt);
      }
    }
  }

  /** A heartbeat response from `peer`: the round trip of the oldest heartbeat it had not answered. */
  private heartbeatAnswered(peer: NodeId): void {
    const sentAt = this.heartbeatSentAtMs.get(peer);
    if (sentAt !== undefined) {
      this.heartbeatSentAtMs.delete(peer);
      this.observer?.heartbeatRoundTrip(peer, this.clock.nowMs() - sentAt);
    }
  }

  /** After each applied batch: resolves proposals and reads as the index moves. */
  private onApplied(batch: readonly Entry[], results: readonly R[], elapsedMs: number): void {
    this.observer?.applied(batch.length, elapsedMs);
    if (this.tracing !== undefined) {
      const now = this.clock.nowMs();
      this.tracing.applied(batch, now - elapsedMs, now);
    }
    this.counters.applyMs += elapsedMs;
    this.counters.applyBatches++;
    this.counters.entriesApplied += batch.length;
    this.applied = (batch[batch.length - 1] as Entry).index;
    this.proposals.applied(batch, results);
    this.options.onApplied?.(batch, results);
    this.reads.appliedTo(this.applied);
    this.maybeSnapshot();
  }

  /** Persists entries and hard state; on a full disk, waits for space (nothing is lost). */
  private async persist(ready: Ready): Promise<void> {
    const update = { entries: ready.entries, hardState: ready.hardState };
    if (ready.entries.length === 0 && !ready.mustSync) {
      // Only the commit index moved: it is persisted lazily (losing it is safe, §5.3), so do
      // not hold the Ready loop for the write. Writes stay in call order in the store.
      this.options.logStore.save(update, { sync: false }).catch((error: unknown) => {
        if (!(error instanceof DiskFullError)) {
          this.fatal(error instanceof Error ? error : new Error(String(error)));
        }
      });
      return;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await this.options.logStore.save(update, { sync: ready.mustSync });
        return;
      } catch (error) {
        if (!(error instanceof DiskFullError)) {
          throw error;
        }
        if (attempt === 0) {
          this.logger.error('disk full: writes refused until space returns', { error: error.message });
          this.proposals.failAll(new ResourceExhaustedError('disk space (the write may or may not have been applied; retrying with the same client id and sequence is safe)'));
        }
        await new Promise<void>((resolve) => this.clock.setTimeout(resolve, Math.min(1_000, 50 * 2 ** Math.min(attempt, 5))));
        if (this.stopped !== undefined) {
          throw this.stopped;
        }
      }
    }
  }

  private sendMessages(messages: readonly Message[]): void {
    const plain: Message[] = [];
    const timeHeartbeats = this.observer !== undefined;
    for (const m of messages) {
      if (m.type === 'Snapshot') {
        this.sendSnapshot(m.to);
      } else {
        if (timeHeartbeats && m.type === 'Heartbeat' && !this.heartbeatSentAtMs.has(m.to)) {
          this.heartbeatSentAtMs.set(m.to, this.clock.nowMs());
        }
        plain.push(m);
      }
    }
    this.counters.messagesSent += plain.length;
    this.options.transport.send(plain);
  }

  /** Streams our latest snapshot to a follower (at most one transfer per follower). */
  private sendSnapshot(to: NodeId): void {
    const snapshots = this.options.snapshots;
    const meta = snapshots?.latest();
    if (snapshots === undefined || meta === undefined || this.sendingSnapshots.has(to)) {
      this.node.reportSnapshot(to, false);
      return;
    }
    this.sendingSnapshots.add(to);
    const term = this.node.term;
    void (async () => {
      let ok = false;
      let bytes = 0;
      const began = this.clock.nowMs();
      try {
        const source = await snapshots.open(meta);
        bytes = source.totalBytes;
        await this.options.transport.sendSnapshot(to, term, meta, source);
        ok = true;
      } catch (error) {
        this.logger.warn('snapshot transfer failed; will retry', { to: to.toString(16), index: meta.index, error: String(error) });
      } finally {
        this.observer?.snapshotSent(ok, bytes, this.clock.nowMs() - began);
        this.sendingSnapshots.delete(to);
        if (this.stopped === undefined) {
          this.node.reportSnapshot(to, ok);
          this.schedule();
        }
      }
    })();
  }

  /** TransportReceiver: stores an incoming snapshot, then hands its metadata to the core. */
  async receiveSnapshot(offer: SnapshotOffer, chunks: AsyncIterable<SnapshotChunkIn>, progress: (receivedBytes: number) => void): Promise<void> {
    this.checkRunning();
    const snapshots = this.options.snapshots;
    if (snapshots === undefined) {
      throw new Error('this member does not accept snapshots');
    }
    await snapshots.receive(offer, chunks, progress);
    this.incomingSnapshots.set(offer.meta.index, offer.meta);
    this.deliver([{ type: 'Snapshot', from: offer.from, to: this.id, term: offer.term, snapshot: offer.meta }]);
  }

  /** Installs a leader's snapshot: log first (durably), then the state machine (see start()). */
  private async installSnapshot(meta: SnapshotMeta): Promise<void> {
    await this.applyQueue.drained();
    const snapshots = this.options.snapshots;
    const received = this.incomingSnapshots.get(meta.index);
    if (snapshots === undefined || received === undefined || received.term !== meta.term) {
      throw new Error(`the core asked to install snapshot ${meta.index}/${meta.term} but no such snapshot was received`);
    }
    this.installing = true;
    try {
      await this.options.logStore.save({ snapshot: meta }, { sync: true });
      await snapshots.restore(meta);
    } finally {
      this.installing = false;
    }
    this.applied = meta.index;
    this.lastSnapshotIndex = meta.index;
    this.incomingSnapshots.clear();
    this.logger.info('installed a snapshot from the leader', { index: meta.index, term: meta.term });
  }

  /** Every N applied entries: snapshot the state machine, then compact the log behind it. */
  private maybeSnapshot(): void {
    const every = this.options.snapshotEveryEntries ?? 10_000;
    const snapshots = this.options.snapshots;
    // One at a time: while any snapshot is being taken (this one or one asked for), none starts.
    if (snapshots === undefined || every <= 0 || this.snapshotInFlight !== undefined || this.applied - this.lastSnapshotIndex < every) {
      return;
    }
    void this.takeSnapshot().catch((error: unknown) => this.logger.error('taking a snapshot failed', { error: String(error) }));
  }

  /**
   * Takes a snapshot now and compacts the log behind it; resolves with its metadata. One at a
   * time: a call while another snapshot is being taken waits for it, then takes its own (so
   * the result covers at least what was applied when it was called).
   */
  async takeSnapshot(): Promise<SnapshotMeta> {
    while (this.snapshotInFlight !== undefined) {
      await this.snapshotInFlight.catch(() => undefined);
    }
    const taking = this.snapshotAndCompact();
    this.snapshotInFlight = taking;
    try {
      return await taking;
    } finally {
      if (this.snapshotInFlight === taking) {
        this.snapshotInFlight = undefined;
      }
    }
  }

  private async snapshotAndCompact(): Promise<SnapshotMeta> {
    const snapshots = this.options.snapshots;
    if (snapshots === undefined) {
      throw new Error('this member keeps no snapshots');
    }
    const meta = await snapshots.create();
    this.lastSnapshotIndex = meta.index;
    const store = this.options.logStore;
    const compactTo = meta.index - (this.options.compactionTrailingEntries ?? 5_000);
    if (compactTo > store.snapshotMeta().index && compactTo >= store.firstIndex()) {
      const index = compactTo as LogIndex;
      await store.compact({ index, term: store.term(index), config: this.node.configAt(index) });
    }
    this.logger.info('took a snapshot', { index: meta.index, compactedTo: Math.max(compactTo, 0) });
    return meta;
  }

  private onSoftState(leader: NodeId, role: Role): void {
    if (leader !== this.leader) {
      this.leader = leader;
      this.logger.info(leader === NO_NODE ? 'no leader' : `leader is ${leader.toString(16)}`, { role, term: this.node.term });
      for (const listener of this.leaderListeners) {
        listener(leader, this.node.term);
      }
    }
  }

  /** Called with (leader, term) whenever the known leader changes (0n: none). */
  onLeaderChange(listener: (leader: NodeId, term: number) => void): () => void {
    this.leaderListeners.add(listener);
    return () => this.leaderListeners.delete(listener);
  }

  /** Resolves with the leader once one is known; rejects at the deadline. */
  waitForLeader(deadlineMs: number): Promise<NodeId> {
    // The core's view, not the last Ready's: that one lags and may name a deposed leader.
    const live = this.node.leader;
    if (live !== 0n) {
      return Promise.resolve(live);
    }
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        off();
        reject(new NotLeaderError(undefined));
      }, Math.max(0, deadlineMs - this.clock.nowMs()));
      const off = this.onLeaderChange((leader) => {
        if (leader !== NO_NODE) {
          timer.cancel();
          off();
          resolve(leader);
        }
      });
    });
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
    const at = this.unreachableAtMs.get(peer);
    return at === undefined ? Infinity : this.clock.nowMs() - at;
  }

  /** True while a snapshot from the leader is being installed. */
  get installingSnapshot(): boolean {
    return this.installing;
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
    while (this.processing) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    await this.applyQueue.drained();
  }
}
