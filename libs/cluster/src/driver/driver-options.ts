/**
 * What a RaftDriver is built from: the core's configuration, storage, the state machine,
 * snapshots, the transport, the scheduler, and the hooks it calls.
 */
import type { Entry, LogIndex, RaftConfig, Ready, SnapshotMeta } from '@keyval/raft';
import type { LogStore } from '@keyval/storage';
import type { Tracer } from '@opentelemetry/api';
import type { DriverObserver } from '../member/member-observer';
import type { PeerTransport, SnapshotChunkIn, SnapshotOffer, SnapshotSource } from '../transport/transport';
import type { Scheduler } from './clock';

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
  /**
   * Time, timers and deferred tasks (default: REAL_SCHEDULER). The driver and its parts read
   * no clock and arm no timer of their own: a seeded simulation passes its own scheduler.
   */
  readonly scheduler?: Scheduler;
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
  /**
   * Called with each Ready as the loop takes it, before any of it is handled, and the term it
   * was taken in (a seeded simulation's protocol checks read the Ready stream). Must not throw
   * or change the Ready. Default: none.
   */
  readonly onReady?: (ready: Ready, term: number) => void;
  /** Traces proposals made inside a span, and their persist, replication and apply (raft-tracing.ts). Default: none. */
  readonly tracer?: Tracer;
}

export const NOOP_LOGGER: DriverLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Counters for metrics and diagnosis (monotonic since start). */
export interface DriverCounters {
  readies: number;
  entriesPersisted: number;
  syncs: number;
  persistMs: number;
  entriesApplied: number;
  applyBatches: number;
  applyMs: number;
  messagesSent: number;
  proposals: number;
  readBarriers: number;
}

export function newCounters(): DriverCounters {
  return { readies: 0, entriesPersisted: 0, syncs: 0, persistMs: 0, entriesApplied: 0, applyBatches: 0, applyMs: 0, messagesSent: 0, proposals: 0, readBarriers: 0 };
}
