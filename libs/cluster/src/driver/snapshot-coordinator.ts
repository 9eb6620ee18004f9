/**
 * Snapshots, all directions: streaming ours to a follower that needs compacted entries,
 * storing a leader's as it arrives, installing it when the core asks, and taking our own
 * every N applied entries (then compacting the log behind it).
 *
 *     leader:   Ready message Snapshot(to) ─▶ send() ─▶ transport.sendSnapshot ─▶ core.reportSnapshot
 *     follower: transport ─▶ receive() (stored, durable) ─▶ core.step(Snapshot) ─▶ Ready.snapshot ─▶ install()
 *     every N applied entries: maybeSnapshot() ─▶ take() ─▶ create ─▶ compact the log (one at a time)
 */
import type { LogIndex, NodeId, RaftNode, SnapshotMeta } from '@keyval/raft';
import type { LogStore } from '@keyval/storage';
import type { DriverObserver } from '../member/member-observer';
import type { PeerTransport, SnapshotChunkIn, SnapshotOffer } from '../transport/transport';
import type { Clock } from './clock';
import type { DriverLogger, DriverSnapshots } from './driver-options';

/** What the coordinator needs of the driver. */
export interface SnapshotHost {
  readonly id: NodeId;
  readonly clock: Clock;
  readonly logger: DriverLogger;
  readonly logStore: LogStore;
  readonly transport: PeerTransport;
  readonly snapshots: DriverSnapshots | undefined;
  readonly observer: DriverObserver | undefined;
  /** Take a snapshot every this many applied entries (0: never). */
  readonly everyEntries: number;
  /** Entries kept in the log behind a snapshot for slow followers. */
  readonly trailingEntries: number;
  node(): RaftNode;
  stopped(): boolean;
  /** Runs the Ready loop soon. */
  schedule(): void;
  /** Resolves once everything committed so far is applied. */
  drainApplies(): Promise<void>;
}

export class SnapshotCoordinator {
  private lastSnapshotIndex = 0;
  /** The snapshot being taken, if any (take() runs one at a time). */
  private inFlight: Promise<SnapshotMeta> | undefined;
  private readonly sending = new Set<NodeId>();
  /** Incoming snapshots stored and stepped into the core, by index, awaiting their Ready. */
  private readonly incoming = new Map<number, SnapshotMeta>();
  /** True while a leader's snapshot is being installed (etcd_server_snapshot_apply_in_progress_total). */
  installing = false;

  constructor(private readonly host: SnapshotHost) {}

  /** At start: the index of the latest local snapshot. */
  start(): void {
    this.lastSnapshotIndex = this.host.snapshots?.latest()?.index ?? 0;
  }

  /** Streams our latest snapshot to a follower (at most one transfer per follower). */
  send(to: NodeId): void {
    const { snapshots, clock, observer } = this.host;
    const meta = snapshots?.latest();
    const node = this.host.node();
    if (snapshots === undefined || meta === undefined || this.sending.has(to)) {
      node.reportSnapshot(to, false);
      return;
    }
    this.sending.add(to);
    const term = node.term;
    void (async () => {
      let ok = false;
      let bytes = 0;
      const began = clock.nowMs();
      try {
        const source = await snapshots.open(meta);
        bytes = source.totalBytes;
        await this.host.transport.sendSnapshot(to, term, meta, source);
        ok = true;
      } catch (error) {
        this.host.logger.warn('snapshot transfer failed; will retry', { to: to.toString(16), index: meta.index, error: String(error) });
      } finally {
        observer?.snapshotSent(ok, bytes, clock.nowMs() - began);
        this.sending.delete(to);
        if (!this.host.stopped()) {
          this.host.node().reportSnapshot(to, ok);
          this.host.schedule();
        }
      }
    })();
  }

  /** Stores an incoming snapshot (durably); returns its metadata for the core to step. */
  async receive(offer: SnapshotOffer, chunks: AsyncIterable<SnapshotChunkIn>, progress: (receivedBytes: number) => void): Promise<void> {
    const snapshots = this.host.snapshots;
    if (snapshots === undefined) {
      throw new Error('this member does not accept snapshots');
    }
    await snapshots.receive(offer, chunks, progress);
    this.incoming.set(offer.meta.index, offer.meta);
  }

  /** Installs a leader's snapshot the core asked for: log first (durably), then the state machine. */
  async install(meta: SnapshotMeta): Promise<void> {
    await this.host.drainApplies();
    const snapshots = this.host.snapshots;
    const received = this.incoming.get(meta.index);
    if (snapshots === undefined || received === undefined || received.term !== meta.term) {
      throw new Error(`the core asked to install snapshot ${meta.index}/${meta.term} but no such snapshot was received`);
    }
    this.installing = true;
    try {
      await this.host.logStore.save({ snapshot: meta }, { sync: true });
      await snapshots.restore(meta);
    } finally {
      this.installing = false;
    }
    this.lastSnapshotIndex = meta.index;
    this.incoming.clear();
    this.host.logger.info('installed a snapshot from the leader', { index: meta.index, term: meta.term });
  }

  /** After an applied batch: every N applied entries, snapshot the state machine in the background. */
  maybeSnapshot(applied: LogIndex): void {
    const every = this.host.everyEntries;
    // One at a time: while any snapshot is being taken (this one or one asked for), none starts.
    if (this.host.snapshots === undefined || every <= 0 || this.inFlight !== undefined || applied - this.lastSnapshotIndex < every) {
      return;
    }
    void this.take().catch((error: unknown) => this.host.logger.error('taking a snapshot failed', { error: String(error) }));
  }

  /**
   * Takes a snapshot now and compacts the log behind it; resolves with its metadata. One at a
   * time: a call while another snapshot is being taken waits for it, then takes its own (so
   * the result covers at least what was applied when it was called).
   */
  async take(): Promise<SnapshotMeta> {
    while (this.inFlight !== undefined) {
      await this.inFlight.catch(() => undefined);
    }
    const taking = this.snapshotAndCompact();
    this.inFlight = taking;
    try {
      return await taking;
    } finally {
      if (this.inFlight === taking) {
        this.inFlight = undefined;
      }
    }
  }

  private async snapshotAndCompact(): Promise<SnapshotMeta> {
    const snapshots = this.host.snapshots;
    if (snapshots === undefined) {
      throw new Error('this member keeps no snapshots');
    }
    const meta = await snapshots.create();
    this.lastSnapshotIndex = meta.index;
    const store = this.host.logStore;
    const compactTo = meta.index - this.host.trailingEntries;
    if (compactTo > store.snapshotMeta().index && compactTo >= store.firstIndex()) {
      const index = compactTo as LogIndex;
      await store.compact({ index, term: store.term(index), config: this.host.node().configAt(index) });
    }
    this.host.logger.info('took a snapshot', { index: meta.index, compactedTo: Math.max(compactTo, 0) });
    return meta;
  }
}
