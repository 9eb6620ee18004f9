/**
 * The Ready loop: takes each Ready from the core and handles it in the order ready.ts
 * prescribes, asserting that order as it goes (ready-order.ts). One Ready is in flight at a
 * time; while it is being persisted, ticks, messages and proposals keep flowing into the core
 * and come out batched in the next one. The loop runs as a deferred task of the scheduler.
 *
 *     schedule() ─defer─▶ run(): while core.hasReady():
 *        send earlyMessages ─▶ install snapshot ─▶ persist (group commit) ─▶ send messages
 *          ─▶ hand committed entries to the apply queue ─▶ confirm/fail reads ─▶ advance
 *          ─▶ leader change announced
 */
import type { Entry, LogIndex, Message, RaftNode, Ready } from '@keyval/raft';
import type { LogStore } from '@keyval/storage';
import type { DriverObserver } from '../member/member-observer';
import type { PeerTransport } from '../transport/transport';
import type { ApplyQueue } from './apply-queue';
import type { Scheduler } from './clock';
import type { DriverCounters } from './driver-options';
import { ReadNotConfirmedError } from './driver.errors';
import type { LeaderWatch } from './leader-watch';
import type { PeerTiming } from './peer-timing';
import type { RaftTracing } from './raft-tracing';
import { ReadyOrder } from './ready-order';
import type { SnapshotCoordinator } from './snapshot-coordinator';
import type { Ticker } from './ticker';
import type { ProposalWaiters, ReadWaiters } from './waiters';

/** Committed entries waiting to apply beyond which the Ready loop waits for the state machine. */
const MAX_APPLY_BACKLOG_ENTRIES = 50_000;

/** The driver's parts the loop works with. */
export interface ReadyLoopParts<R> {
  readonly scheduler: Scheduler;
  readonly logStore: LogStore;
  readonly transport: PeerTransport;
  readonly observer: DriverObserver | undefined;
  readonly tracing: RaftTracing | undefined;
  readonly counters: DriverCounters;
  readonly proposals: ProposalWaiters<R>;
  readonly reads: ReadWaiters;
  readonly applyQueue: ApplyQueue<R>;
  readonly snapshots: SnapshotCoordinator;
  readonly peers: PeerTiming;
  readonly ticker: Ticker;
  readonly leaders: LeaderWatch;
  node(): RaftNode;
  stopped(): boolean;
  appliedIndex(): LogIndex;
  /** Persists the Ready's entries and hard state (log-persistence.ts). */
  persist(ready: Ready): Promise<void>;
  /** A leader's snapshot was installed: the state machine is now at `index`. */
  installed(index: LogIndex): void;
  fatal(error: Error): void;
  /** Hears each Ready as it is taken, with its term (DriverOptions.onReady). */
  readonly onReady?: (ready: Ready, term: number) => void;
}

export class ReadyLoop<R> {
  private scheduled = false;
  private processing = false;
  private readonly order = new ReadyOrder();

  constructor(private readonly parts: ReadyLoopParts<R>) {}

  /** True while a Ready is being handled. */
  get busy(): boolean {
    return this.processing;
  }

  /** Runs the loop as a deferred task (once, however many times it is asked before it runs). */
  schedule(): void {
    if (!this.scheduled && !this.parts.stopped()) {
      this.scheduled = true;
      this.parts.scheduler.defer(() => {
        this.scheduled = false;
        void this.run();
      });
    }
  }

  /** Sends messages, streaming a snapshot for each Snapshot message, timing heartbeats. */
  send(messages: readonly Message[]): void {
    const plain: Message[] = [];
    const peers = this.parts.peers;
    for (const m of messages) {
      if (m.type === 'Snapshot') {
        this.parts.snapshots.send(m.to);
      } else {
        if (m.type === 'Heartbeat' && peers.timesHeartbeats) {
          peers.heartbeatSent(m.to);
        }
        plain.push(m);
      }
    }
    this.parts.counters.messagesSent += plain.length;
    this.parts.transport.send(plain);
  }

  private async run(): Promise<void> {
    if (this.processing || this.parts.stopped()) {
      return;
    }
    this.processing = true;
    try {
      const node = this.parts.node();
      while (!this.parts.stopped() && node.hasReady()) {
        const ready = node.ready();
        // The term the Ready was taken in: by the time it is handled the core may be in a later one.
        await this.handle(ready, node.term);
      }
      // A role change may have moved the next deadline earlier (a new leader's heartbeat).
      this.parts.ticker.rearm();
    } catch (error) {
      this.parts.fatal(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.processing = false;
    }
  }

  private async handle(ready: Ready, term: number): Promise<void> {
    const { parts, order } = this;
    parts.counters.readies++;
    parts.onReady?.(ready, term);
    order.begin(ready);
    this.send(ready.earlyMessages);
    await this.persist(ready);
    order.sending();
    this.send(ready.messages);
    if (ready.committedEntries.length > 0) {
      order.applying(ready.committedEntries, parts.logStore.lastIndex());
      await this.apply(ready.committedEntries);
    }
    for (const rs of ready.readStates) {
      parts.reads.confirmed(rs.context, rs.index, parts.appliedIndex());
    }
    for (const context of ready.failedReads) {
      parts.reads.failed(context, new ReadNotConfirmedError());
    }
    order.advancing();
    const node = parts.node();
    node.advance(ready);
    if (ready.softState !== undefined) {
      // The soft state's term, not the core's live one: a leader deposed while this Ready's
      // writes were persisted must not be announced as leading the newer term.
      parts.leaders.changed(ready.softState.leader, term, ready.softState.role);
    }
  }

  /** The Ready's snapshot, then its entries and hard state, made durable. */
  private async persist(ready: Ready): Promise<void> {
    const parts = this.parts;
    if (ready.snapshot !== undefined) {
      await parts.snapshots.install(ready.snapshot);
      parts.installed(ready.snapshot.index);
    }
    if (ready.entries.length > 0 || ready.hardState !== undefined) {
      const clock = parts.scheduler;
      const began = clock.nowMs();
      await parts.persist(ready);
      const ended = clock.nowMs();
      parts.counters.entriesPersisted += ready.entries.length;
      parts.counters.syncs += ready.mustSync ? 1 : 0;
      parts.counters.persistMs += ended - began;
      if (parts.tracing !== undefined && ready.entries.length > 0) {
        parts.tracing.persisted(ready.entries, began, ended, ready.mustSync ? parts.logStore.lastSyncTiming?.() : undefined);
      }
    }
    this.order.persisted(parts.logStore.lastIndex());
  }

  /** Hands committed entries to the apply queue: applied in the background, in order, overlapping the next Ready's disk write. */
  private async apply(committed: readonly Entry[]): Promise<void> {
    const parts = this.parts;
    if (parts.observer !== undefined && parts.proposals.size > 0) {
      this.observeCommits(committed, parts.observer);
    }
    if (parts.tracing !== undefined) {
      parts.tracing.committed(committed, (committed[committed.length - 1] as Entry).index, parts.scheduler.nowMs());
    }
    parts.applyQueue.enqueue(committed);
    if (parts.applyQueue.backlog > MAX_APPLY_BACKLOG_ENTRIES) {
      await parts.applyQueue.drained();
    }
  }

  /** Commit latency of this member's own proposals among `entries` (leader). */
  private observeCommits(entries: readonly Entry[], observer: DriverObserver): void {
    const now = this.parts.scheduler.nowMs();
    for (const entry of entries) {
      const proposedAt = this.parts.proposals.proposedAt(entry.index);
      if (proposedAt !== undefined) {
        observer.proposalCommitted(now - proposedAt);
      }
    }
  }
}
