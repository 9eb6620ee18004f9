/**
 * Builds a RaftDriver's parts from its options and wires them to each other and to the
 * driver (the façade keeps the core, the applied index and the stop state; the parts reach
 * them through the hooks below). Every part takes its time and timers from the one scheduler.
 */
import type { Entry, LogIndex, NodeId, RaftNode } from '@keyval/raft';
import { ApplyQueue } from './apply-queue';
import type { Scheduler } from './clock';
import type { DriverCounters, DriverLogger, DriverOptions } from './driver-options';
import type { MemberStoppedError } from './driver.errors';
import { LeaderWatch } from './leader-watch';
import { persistReady } from './log-persistence';
import { PeerTiming } from './peer-timing';
import { RaftTracing } from './raft-tracing';
import { ReadyLoop } from './ready-loop';
import { SnapshotCoordinator } from './snapshot-coordinator';
import { Ticker } from './ticker';
import { ProposalWaiters, ReadWaiters } from './waiters';

/** What the parts need of the driver itself. */
export interface DriverHooks<R> {
  readonly id: NodeId;
  readonly counters: DriverCounters;
  node(): RaftNode;
  stopped(): MemberStoppedError | undefined;
  appliedIndex(): LogIndex;
  /** A leader's snapshot was installed: the state machine is now at `index`. */
  installed(index: LogIndex): void;
  /** A batch was applied (resolves waiters, snapshots every N entries). */
  applied(entries: readonly Entry[], results: readonly R[], elapsedMs: number): void;
  fatal(error: Error): void;
}

export interface DriverParts<R> {
  readonly tracing: RaftTracing | undefined;
  readonly proposals: ProposalWaiters<R>;
  readonly reads: ReadWaiters;
  readonly ticker: Ticker;
  readonly applyQueue: ApplyQueue<R>;
  readonly leaders: LeaderWatch;
  readonly peers: PeerTiming;
  readonly snapshots: SnapshotCoordinator;
  readonly loop: ReadyLoop<R>;
}

export function assembleDriver<R>(options: DriverOptions<R>, scheduler: Scheduler, logger: DriverLogger, driver: DriverHooks<R>): DriverParts<R> {
  const observer = options.observer;
  const isStopped = (): boolean => driver.stopped() !== undefined;
  const schedule = (): void => loop.schedule();
  const tracing = options.tracer === undefined ? undefined : new RaftTracing(options.tracer, (ms) => scheduler.epochMs(ms));
  const proposals = new ProposalWaiters<R>(scheduler, observer === undefined ? undefined : (count) => observer.proposalsFailed(count));
  const reads = new ReadWaiters(scheduler);
  const applyQueue = new ApplyQueue<R>(
    {
      apply: (entries) => options.stateMachine.apply(entries),
      applied: (entries, results, elapsedMs) => driver.applied(entries, results, elapsedMs),
      failed: (error) => driver.fatal(error),
      stopped: isStopped,
    },
    scheduler,
  );
  const ticker = new Ticker({ clock: scheduler, tickMs: options.tickMs, onDeadline: schedule, defer: (task) => scheduler.defer(task) });
  const leaders = new LeaderWatch(scheduler, logger, () => driver.node().leader);
  const peers = new PeerTiming(scheduler, observer);
  const snapshots = new SnapshotCoordinator({
    id: driver.id,
    clock: scheduler,
    logger,
    logStore: options.logStore,
    transport: options.transport,
    snapshots: options.snapshots,
    observer,
    everyEntries: options.snapshotEveryEntries ?? 10_000,
    trailingEntries: options.compactionTrailingEntries ?? 5_000,
    node: driver.node,
    stopped: isStopped,
    schedule,
    drainApplies: () => applyQueue.drained(),
  });
  const persistence = {
    logStore: options.logStore,
    clock: scheduler,
    logger,
    stopped: driver.stopped,
    failProposals: (error: Error) => proposals.failAll(error),
    fatal: driver.fatal,
  };
  const loop: ReadyLoop<R> = new ReadyLoop<R>({
    scheduler,
    logStore: options.logStore,
    transport: options.transport,
    observer,
    tracing,
    counters: driver.counters,
    proposals,
    reads,
    applyQueue,
    snapshots,
    peers,
    ticker,
    leaders,
    node: driver.node,
    stopped: isStopped,
    appliedIndex: driver.appliedIndex,
    persist: (ready) => persistReady(persistence, ready),
    installed: driver.installed,
    fatal: driver.fatal,
    ...(options.onReady === undefined ? {} : { onReady: options.onReady }),
  });
  return { tracing, proposals, reads, ticker, applyQueue, leaders, peers, snapshots, loop };
}
