/**
 * A watcher that survives its members: it watches a key or a prefix over etcd's Watch stream
 * from a start revision, asks for progress every `progressEveryMs`, and when its stream fails,
 * is cancelled (other than by compaction) or stops advancing for `stallMs` while it is asked to
 * (a paused or cut-off member), it opens a new stream on the next endpoint from the revision
 * after the last event it received — so, if the members are right, it sees every revision of its
 * keys once and in order. Everything it received is kept for the checker (watch-check.ts).
 *
 *     create(start = last + 1) ──► events ──► last = mod revision
 *        ▲                          progress (watch id -1) ──► reached = header revision
 *        └── next endpoint ◄── error │ end │ cancel │ no progress for stallMs
 *     canceled with compact_revision ──► recorded, the watcher stops (it cannot resume)
 */
import { createClient } from '@keyval/grpc';
import { etcd, mvcc } from '@keyval/proto';
import { prefixEnd } from '../integration/harness/kv-helpers';
import { delay } from './command';
import type { KvEndpoint } from './kv-session-client';
import type { SeenEvent, WatcherRecord } from './watch-check';

export interface WatcherOptions {
  readonly name: string;
  readonly key: string;
  readonly prefix: boolean;
  /** The first revision to deliver (1: all history). */
  readonly startRevision: number;
  /** The endpoint of its first stream. */
  readonly home: number;
  /** A progress request this often, ms. */
  readonly progressEveryMs: number;
  /** Reconnect elsewhere when the reached revision has not moved for this long while `wantProgress()` says it should, ms. */
  readonly stallMs: number;
  /** Whether the cluster is expected to move (writers running, or a target not reached yet). */
  readonly wantProgress: () => boolean;
  /** Stay on the home endpoint (the final history read of one member). */
  readonly pinned?: boolean;
}

function seen(e: mvcc.Event): SeenEvent {
  const deleted = e.type === mvcc.Event_EventType.DELETE;
  return { key: e.kv?.key.toString('utf8') ?? '', type: deleted ? 'delete' : 'put', value: deleted ? null : (e.kv?.value.toString('utf8') ?? ''), modRevision: Number(e.kv?.modRevision ?? 0n) };
}

export class ResumingWatcher {
  readonly events: SeenEvent[] = [];
  /** The highest revision it knows it has every event up to. */
  reached = 0;
  streams = 0;
  compactRevision: number | undefined;
  /** Why each stream ended (for the report). */
  readonly endings = new Map<string, number>();
  private stopped = false;
  private cursor: number;
  private current: { cancel(details?: string): void } | undefined;
  private done: Promise<void> | undefined;

  constructor(
    private readonly endpoints: readonly KvEndpoint[],
    private readonly options: WatcherOptions,
  ) {
    this.cursor = options.home % endpoints.length;
  }

  /** The revision its next stream starts from. */
  get nextRevision(): number {
    const last = this.events[this.events.length - 1];
    return last === undefined ? this.options.startRevision : last.modRevision + 1;
  }

  start(): void {
    this.done ??= this.loop();
  }

  /** Ends the current stream and the loop. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.cancel('the watcher stopped');
    await this.done;
  }

  /** Resolves once `reached >= revision`, or false after `timeoutMs`. */
  async waitReached(revision: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (this.reached < revision && this.compactRevision === undefined && performance.now() < deadline) await delay(100);
    return this.reached >= revision;
  }

  record(): WatcherRecord {
    return {
      name: this.options.name,
      key: this.options.key,
      prefix: this.options.prefix,
      events: this.events,
      reachedRevision: this.reached,
      streams: this.streams,
      ...(this.compactRevision === undefined ? {} : { compactRevision: this.compactRevision }),
    };
  }

  private async loop(): Promise<void> {
    while (!this.stopped && this.compactRevision === undefined) {
      const ending = await this.stream(this.endpoints[this.cursor] as KvEndpoint);
      this.endings.set(ending, (this.endings.get(ending) ?? 0) + 1);
      if (this.stopped || this.compactRevision !== undefined) return;
      if (this.options.pinned !== true) this.cursor = (this.cursor + 1) % this.endpoints.length;
      await delay(100);
    }
  }

  /** One stream until it ends; returns why. */
  private async stream(endpoint: KvEndpoint): Promise<string> {
    this.streams++;
    const call = createClient(etcd.WatchDefinition, endpoint.channel).watch();
    this.current = call;
    const key = Buffer.from(this.options.key);
    let movedAt = performance.now();
    let movedTo = this.reached;
    let ending = 'stopped';
    const ticker = setInterval(() => {
      if (this.reached > movedTo) {
        movedTo = this.reached;
        movedAt = performance.now();
      } else if (this.options.wantProgress() && performance.now() - movedAt > this.options.stallMs) {
        ending = `stalled on ${endpoint.name}`;
        call.cancel('no progress');
        return;
      }
      call.send({ requestUnion: { $case: 'progressRequest', value: {} } }).catch(() => undefined);
    }, this.options.progressEveryMs);
    try {
      const create = etcd.WatchCreateRequest.fromPartial({ key, rangeEnd: this.options.prefix ? prefixEnd(key) : Buffer.alloc(0), startRevision: BigInt(this.nextRevision) });
      await call.send({ requestUnion: { $case: 'createRequest', value: create } });
      for await (const r of call.responses) {
        if (r.canceled) {
          if (r.compactRevision > 0n) this.compactRevision = Number(r.compactRevision);
          return `canceled by ${endpoint.name}${r.compactRevision > 0n ? ` (compact_revision ${r.compactRevision})` : `: ${r.cancelReason}`}`;
        }
        for (const e of r.events) {
          const event = seen(e);
          this.events.push(event);
          this.reached = Math.max(this.reached, event.modRevision);
        }
        // A progress answer (watch id -1) comes once every watcher of the stream has every event up to its revision.
        if (r.watchId === -1n && r.events.length === 0) this.reached = Math.max(this.reached, Number(r.header?.revision ?? 0n));
      }
      return ending === 'stopped' && !this.stopped ? `ended by ${endpoint.name}` : ending;
    } catch (error) {
      return ending !== 'stopped' ? ending : this.stopped ? 'stopped' : `failed on ${endpoint.name}: ${error instanceof Error ? error.message.slice(0, 80) : String(error)}`;
    } finally {
      clearInterval(ticker);
      call.cancel('stream done');
      this.current = undefined;
    }
  }
}
