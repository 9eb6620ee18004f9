/**
 * One Watch stream (a bidirectional gRPC call): the client's create, cancel and progress
 * requests, its watchers' responses in one ordered, bounded queue, and the progress
 * notifications, as etcd 3.4's serverWatchStream.
 *
 *     request ──create──► validate ─► "created" response ─► hub.add (events follow it)
 *             ──cancel──► hub.remove ─► "canceled" response (unknown ids: nothing, as etcd)
 *             ──progress► response with watch id -1 once every watcher is synced
 *     hub ──offer──► encode ─► queue ─► transport.write (HTTP/2 flow control) ─► client
 *                                └ over queueBytesMax: the offer is refused, the watcher
 *                                  lags and later catches up from the history
 *
 * Watch ids are the stream's: a client may pick them (0 asks the stream to pick the next free
 * one, from 0 up, as etcd). Control responses (created, canceled, progress) are always queued
 * (they are small and bounded by the client's own requests) up to `queueHardBytesMax`, beyond
 * which the stream fails: a client that sends requests without reading the answers.
 */
import type { Clock } from '@keyval/cluster';
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import type { etcd } from '@keyval/proto';
import type { KeyEvent } from '@keyval/statemachine';
import type { HubWatcher, WatchHub, WatcherSink } from './watch-hub';
import type { WatchResponseEncoder } from './watch-encoder';

/** etcd's texts (mvcc package) for refused watchers, sent as cancel_reason. */
export const WATCH_ERRORS = {
  emptyRange: 'mvcc: watcher range is empty',
  duplicateId: 'mvcc: duplicate watch ID provided on the WatchStream',
} as const;

export interface WatchStreamOptions {
  /** Largest response part for watchers that asked for fragments (etcd's --max-request-bytes). */
  readonly fragmentBytes: number;
  /** Largest batch of several revisions in one response for the others. Default 4 MiB. */
  readonly softLimitBytes: number;
  /** Progress notifications for watchers that asked (etcd's default: 10 minutes). */
  readonly progressIntervalMs: number;
  /** Bytes queued beyond which watchers' events are refused (they catch up later). */
  readonly queueBytesMax: number;
  /** Bytes queued beyond which the stream fails (control responses included). */
  readonly queueHardBytesMax: number;
  /** Watchers one stream may hold. */
  readonly watchersMax: number;
}

/** Where responses go: the gRPC call. */
export interface WatchTransport {
  /** Sends one encoded response; resolves when the stream can take more. */
  write(bytes: Buffer): Promise<void>;
  /** Ends the call with an error (the stream is unusable). */
  fail(error: GrpcStatusError): void;
}

/** One watcher of the stream, the hub's sink for it. */
class StreamWatcher implements WatcherSink {
  hubWatcher: HubWatcher | undefined;
  /** Whether events were sent since the last progress tick (etcd elides the next progress). */
  sentSinceTick = false;

  constructor(
    readonly id: bigint,
    private readonly stream: WatchStream,
    readonly request: etcd.WatchCreateRequest,
  ) {}

  get hasRoom(): boolean {
    return this.stream.hasRoom;
  }

  offer(events: readonly KeyEvent[], revision: number): boolean {
    return this.stream.offerEvents(this, events, revision);
  }

  compacted(compactRevision: number): void {
    this.stream.watcherCompacted(this, compactRevision);
  }

  synced(): void {
    this.stream.watcherSynced();
  }
}

export class WatchStream {
  private readonly watchers = new Map<bigint, StreamWatcher>();
  private nextId = 0n;
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private pumping = false;
  private wasFull = false;
  private closed = false;
  private progressPending = false;
  private readonly timer: { cancel(): void } | undefined;

  constructor(
    private readonly hub: WatchHub,
    private readonly transport: WatchTransport,
    private readonly encoder: WatchResponseEncoder,
    private readonly options: WatchStreamOptions,
    clock: Clock,
  ) {
    this.timer = options.progressIntervalMs > 0 ? clock.setInterval(() => this.progressTick(), options.progressIntervalMs) : undefined;
  }

  /** Whether watchers' events are taken now (the queue is under half its limit). */
  get hasRoom(): boolean {
    return this.queuedBytes < this.options.queueBytesMax / 2;
  }

  /** Watchers on the stream. */
  get size(): number {
    return this.watchers.size;
  }

  /** Handles one client request. */
  handle(request: etcd.WatchRequest): void {
    if (this.closed) {
      return;
    }
    const union = request.requestUnion;
    switch (union?.$case) {
      case 'createRequest':
        this.create(union.value);
        break;
      case 'cancelRequest':
        this.cancel(union.value.watchId);
        break;
      case 'progressRequest':
        this.progressPending = true;
        this.maybeSendProgress();
        break;
      default:
        // etcd ignores a request it does not know, keeping the stream.
        break;
    }
  }

  /** Removes every watcher (the call ended). */
  close(): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.timer?.cancel();
    for (const watcher of this.watchers.values()) {
      if (watcher.hubWatcher !== undefined) {
        this.hub.remove(watcher.hubWatcher);
      }
    }
    this.watchers.clear();
    this.queue.length = 0;
  }

  private create(request: etcd.WatchCreateRequest): void {
    const key = request.key.length === 0 ? Buffer.of(0) : request.key;
    const rangeEnd = request.rangeEnd;
    const toTheEnd = rangeEnd.length === 1 && rangeEnd[0] === 0;
    if (rangeEnd.length > 0 && !toTheEnd && Buffer.compare(key, rangeEnd) >= 0) {
      this.refuse(WATCH_ERRORS.emptyRange);
      return;
    }
    let id = request.watchId;
    if (id !== 0n && this.watchers.has(id)) {
      this.refuse(WATCH_ERRORS.duplicateId);
      return;
    }
    if (this.watchers.size >= this.options.watchersMax) {
      this.transport.fail(new GrpcStatusError(GrpcStatus.RESOURCE_EXHAUSTED, `a watch stream holds at most ${this.options.watchersMax} watchers`));
      this.close();
      return;
    }
    if (id === 0n) {
      while (this.watchers.has(this.nextId)) {
        this.nextId++;
      }
      id = this.nextId++;
    }
    const watcher = new StreamWatcher(id, this, request);
    this.watchers.set(id, watcher);
    const current = this.hub.currentRevision;
    this.enqueue(this.encoder.control({ watchId: id, created: true }, current));
    const start = request.startRevision === 0n ? current + 1 : clampRevision(request.startRevision);
    const noPut = request.filters.includes(0);
    const noDelete = request.filters.includes(1);
    watcher.hubWatcher = this.hub.add({ key, rangeEnd, startRevision: start, prevKv: request.prevKv, noPut, noDelete }, watcher);
  }

  /** etcd answers a refused create with watch id -1, created and canceled, and the reason. */
  private refuse(reason: string): void {
    this.enqueue(this.encoder.control({ watchId: -1n, created: true, canceled: true, cancelReason: reason }, this.hub.currentRevision));
  }

  private cancel(id: bigint): void {
    const watcher = this.watchers.get(id);
    if (watcher === undefined) {
      return;
    }
    this.watchers.delete(id);
    if (watcher.hubWatcher !== undefined) {
      this.hub.remove(watcher.hubWatcher);
    }
    this.enqueue(this.encoder.control({ watchId: id, canceled: true }, this.hub.currentRevision));
    this.maybeSendProgress();
  }

  /** The hub's offer for one watcher: refused while the queue is over its limit. */
  offerEvents(watcher: StreamWatcher, events: readonly KeyEvent[], revision: number): boolean {
    if (this.closed || !this.watchers.has(watcher.id)) {
      return true; // nothing to deliver to any more
    }
    if (this.queuedBytes >= this.options.queueBytesMax) {
      this.wasFull = true;
      return false;
    }
    const request = watcher.request;
    for (const part of this.encoder.events(watcher.id, events, revision, {
      prevKv: request.prevKv,
      fragment: request.fragment,
      fragmentBytes: this.options.fragmentBytes,
      softLimitBytes: this.options.softLimitBytes,
    })) {
      this.enqueue(part);
    }
    watcher.sentSinceTick = true;
    return true;
  }

  /** etcd: canceled, with compact_revision, and a header at revision 0. */
  watcherCompacted(watcher: StreamWatcher, compactRevision: number): void {
    if (this.closed || !this.watchers.delete(watcher.id)) {
      return;
    }
    this.enqueue(this.encoder.control({ watchId: watcher.id, canceled: true, compactRevision }, 0));
    this.maybeSendProgress();
  }

  watcherSynced(): void {
    this.maybeSendProgress();
  }

  /** Answers a progress request once every watcher has every event up to the revision it reports. */
  private maybeSendProgress(): void {
    if (!this.progressPending || this.closed) {
      return;
    }
    for (const watcher of this.watchers.values()) {
      if (watcher.hubWatcher?.state !== 'synced') {
        return;
      }
    }
    this.progressPending = false;
    this.enqueue(this.encoder.progress(-1n, this.hub.currentRevision));
  }

  /** etcd's progress ticker: a synced watcher that asked and got no events since the last tick hears the revision. */
  private progressTick(): void {
    for (const watcher of this.watchers.values()) {
      if (!watcher.request.progressNotify) {
        continue;
      }
      if (watcher.sentSinceTick) {
        watcher.sentSinceTick = false;
      } else if (watcher.hubWatcher?.state === 'synced') {
        this.enqueue(this.encoder.progress(watcher.id, this.hub.currentRevision));
      }
    }
  }

  private enqueue(bytes: Buffer): void {
    if (this.closed) {
      return;
    }
    if (this.queuedBytes + bytes.byteLength > this.options.queueHardBytesMax) {
      this.transport.fail(new GrpcStatusError(GrpcStatus.RESOURCE_EXHAUSTED, `the watch stream's client does not read its responses (${this.queuedBytes} bytes queued)`));
      this.close();
      return;
    }
    this.queue.push(bytes);
    this.queuedBytes += bytes.byteLength;
    if (!this.hasRoom) {
      this.wasFull = true;
    }
    if (!this.pumping) {
      void this.pump();
    }
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const bytes = this.queue.shift() as Buffer;
        await this.transport.write(bytes);
        this.queuedBytes -= bytes.byteLength;
        if (this.wasFull && this.hasRoom) {
          this.wasFull = false;
          this.hub.wake();
        }
      }
    } catch {
      // The call ended (cancelled, reset): the handler closes the stream.
      this.close();
    } finally {
      this.pumping = false;
    }
  }
}

/** A client's int64 start revision as a number (beyond what a number holds: never reached). */
function clampRevision(revision: bigint): number {
  return revision > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(revision);
}
