/**
 * The member's watch hub: every watcher of every stream, fed from the state machine's
 * committed changes (live) and from its history (catching up). Any member runs one over its
 * own applied state.
 *
 *     state machine ──onChange──► hub ──group by key range──► synced watchers ──offer──► sink (stream queue)
 *                                  │                                            └ full? ──► lagging
 *                                  └──catch-up loop: lagging watchers whose sink has room,
 *                                     readHistory(min next .. current) ──offer──► … ──► synced
 *
 * A watcher is `synced` (it has every event up to the hub's revision and gets the next
 * commits as they come) or `lagging` (its next revision is behind: a start revision in the
 * past, a sink that was full, a snapshot restored under it). Lagging watchers catch up from
 * the history in rounds of bounded reads, and become synced in the same turn in which they
 * reach the hub's revision, so no event is missed or repeated. A lagging watcher whose next
 * revision falls below the compacted revision is canceled with it (etcd's compact_revision).
 * Nothing here waits on a slow client: a sink that is full refuses the offer, and the watcher
 * catches up later from the history — the hub never buffers for it.
 */
import type { KeyEvent, ScanRange, StoreChange, HistoryReadRequest, HistoryReadResult } from '@keyval/statemachine';
import { CompactedError, spanToScan } from '@keyval/statemachine';

/** What the hub needs of the state machine. */
export interface WatchSource {
  revision(): number;
  compactRevision(): number;
  onChange(listener: (change: StoreChange) => void): () => void;
  readHistory(request: HistoryReadRequest): Promise<HistoryReadResult>;
}

/** Where a watcher's events go (its stream). */
export interface WatcherSink {
  /**
   * Takes `events` (non-empty, in revision order), seen as of store revision `revision`.
   * Returns false, taking nothing, when the sink is full.
   */
  offer(events: readonly KeyEvent[], revision: number): boolean;
  /** The watcher needs history below the compacted revision: it is canceled. */
  compacted(compactRevision: number): void;
  /** The watcher reached the hub's revision (after catching up or at creation). */
  synced(): void;
  /** Whether the sink has room now (the hub then catches its lagging watchers up). */
  readonly hasRoom: boolean;
}

/** What a watcher watches (the stream validated it). */
export interface WatcherSpec {
  /** The key, or the start of the range. */
  readonly key: Uint8Array;
  /** As etcd: empty for one key, [0] for every key from `key` on, else the end (exclusive). */
  readonly rangeEnd: Uint8Array;
  /** The first revision to deliver (at least 1). */
  readonly startRevision: number;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
}

export interface WatchHubOptions {
  /** Lagging watchers caught up in one round (one history read). Default 512. */
  readonly watchersPerRound?: number;
  /** Events one catch-up read takes at most (it ends at a revision's end). Default 1000. */
  readonly eventsPerRead?: number;
  /** Waits between two catch-up rounds (default: the next event-loop turn). */
  readonly pause?: () => Promise<void>;
  /** Told of catch-up failures other than compaction (storage errors). */
  readonly onError?: (error: unknown) => void;
}

type WatcherState = 'synced' | 'lagging' | 'closed';

/** A registered watcher. */
export class HubWatcher {
  state: WatcherState = 'lagging';
  /** The first revision not delivered yet. */
  next: number;
  readonly range: ScanRange;
  readonly singleKey: string | undefined;
  private readonly start: string;
  private readonly end: string | null;

  constructor(
    readonly spec: WatcherSpec,
    readonly sink: WatcherSink,
  ) {
    this.next = spec.startRevision;
    this.range = spanToScan(spec);
    this.start = latin1(this.range.start);
    this.end = this.range.end === null ? null : latin1(this.range.end);
    this.singleKey = spec.rangeEnd.byteLength === 0 ? this.start : undefined;
  }

  /** Whether a key (latin1 form) is watched. */
  matches(name: string): boolean {
    return name >= this.start && (this.end === null || name < this.end);
  }

  /** `events` without those its filters leave out. */
  filter(events: readonly KeyEvent[]): readonly KeyEvent[] {
    if (!this.spec.noPut && !this.spec.noDelete) {
      return events;
    }
    return events.filter((e) => (e.type === 'put' ? !this.spec.noPut : !this.spec.noDelete));
  }

  /** The key space part the group index files it under. */
  get groupKey(): string {
    return this.singleKey !== undefined ? `k${this.singleKey}` : `r${this.start.length}:${this.start}${this.end ?? ''}${this.end === null ? '+' : '-'}`;
  }
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** Synced watchers of one key or one range. */
interface WatchGroup {
  readonly sample: HubWatcher;
  readonly watchers: Set<HubWatcher>;
}

export class WatchHub {
  private revision: number;
  /** Synced watchers: single keys by name, ranges in a list. */
  private readonly keyGroups = new Map<string, WatchGroup>();
  private readonly rangeGroups = new Map<string, WatchGroup>();
  private readonly lagging = new Set<HubWatcher>();
  private catchingUp: Promise<void> | undefined;
  private wakeAgain = false;
  private readonly unsubscribe: () => void;
  private closed = false;
  /** Counters (metrics, tests, benchmarks). */
  readonly counters = { offers: 0, eventsOffered: 0, refused: 0, catchUpReads: 0, compacted: 0 };

  constructor(
    private readonly source: WatchSource,
    private readonly options: WatchHubOptions = {},
  ) {
    this.revision = source.revision();
    this.unsubscribe = source.onChange((change) => this.onChange(change));
  }

  /** The revision of the last change the hub saw (the state machine's). */
  get currentRevision(): number {
    return this.revision;
  }

  /** Watchers registered, by state. */
  get size(): { synced: number; lagging: number } {
    let synced = 0;
    for (const group of [...this.keyGroups.values(), ...this.rangeGroups.values()]) {
      synced += group.watchers.size;
    }
    return { synced, lagging: this.lagging.size };
  }

  /**
   * Registers a watcher from `spec.startRevision` on: synced at once when that is past the
   * current revision, else lagging (its history is read first).
   */
  add(spec: WatcherSpec, sink: WatcherSink): HubWatcher {
    const watcher = new HubWatcher(spec, sink);
    if (watcher.next > this.revision) {
      this.toSynced(watcher);
    } else {
      this.lagging.add(watcher);
      this.wake();
    }
    return watcher;
  }

  /** Removes a watcher (idempotent). */
  remove(watcher: HubWatcher): void {
    if (watcher.state === 'synced') {
      this.groupsOf(watcher).get(watcher.groupKey)?.watchers.delete(watcher);
      this.dropEmptyGroup(watcher);
    }
    this.lagging.delete(watcher);
    watcher.state = 'closed';
  }

  /** Tells the hub a sink has room again: its lagging watchers may catch up. */
  wake(): void {
    if (this.closed) {
      return;
    }
    if (this.catchingUp !== undefined) {
      this.wakeAgain = true;
      return;
    }
    this.catchingUp = this.catchUp().finally(() => {
      this.catchingUp = undefined;
      if (this.wakeAgain) {
        this.wakeAgain = false;
        this.wake();
      }
    });
  }

  /** Stops following the state machine; registered watchers get nothing more. */
  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    await this.catchingUp;
  }

  private onChange(change: StoreChange): void {
    if (change.type === 'restored') {
      // Everything synced had the history up to the old revision; the rest comes from the new one.
      for (const group of [...this.keyGroups.values(), ...this.rangeGroups.values()]) {
        for (const watcher of group.watchers) {
          watcher.state = 'lagging';
          watcher.next = this.revision + 1;
          this.lagging.add(watcher);
        }
      }
      this.keyGroups.clear();
      this.rangeGroups.clear();
      this.revision = change.revision;
      this.wake();
      return;
    }
    this.revision = change.revision;
    if (change.events.length === 0 || (this.keyGroups.size === 0 && this.rangeGroups.size === 0)) {
      return;
    }
    this.deliver(change.events, change.revision);
  }

  /** Offers a commit's events to the synced watchers they concern. */
  private deliver(events: readonly KeyEvent[], revision: number): void {
    const names = events.map((e) => latin1(e.kv.key));
    const byGroup = new Map<WatchGroup, KeyEvent[]>();
    const add = (group: WatchGroup, event: KeyEvent): void => {
      const list = byGroup.get(group);
      if (list === undefined) {
        byGroup.set(group, [event]);
      } else {
        list.push(event);
      }
    };
    events.forEach((event, i) => {
      const name = names[i] as string;
      const single = this.keyGroups.get(`k${name}`);
      if (single !== undefined) {
        add(single, event);
      }
      for (const group of this.rangeGroups.values()) {
        if (group.sample.matches(name)) {
          add(group, event);
        }
      }
    });
    for (const [group, matched] of byGroup) {
      for (const watcher of [...group.watchers]) {
        this.offer(watcher, matched, revision);
      }
    }
  }

  /** Offers events to a synced watcher; a full sink makes it lag from the first of them. */
  private offer(watcher: HubWatcher, events: readonly KeyEvent[], revision: number): void {
    // A watcher synced at creation from a future start revision (etcd's minRev) must not be
    // handed the revisions below it: a member still replaying its log after a restart serves
    // clients that resume there from a revision it has not reached yet. (One change can span
    // several revisions, a batch of applied entries; its events are in revision order.)
    const fresh = (events[0] as KeyEvent).kv.modRevision < watcher.next ? events.filter((e) => e.kv.modRevision >= watcher.next) : events;
    const kept = watcher.filter(fresh);
    if (kept.length === 0) {
      return;
    }
    this.counters.offers++;
    if (watcher.sink.offer(kept, revision)) {
      this.counters.eventsOffered += kept.length;
      return;
    }
    this.counters.refused++;
    this.groupsOf(watcher).get(watcher.groupKey)?.watchers.delete(watcher);
    this.dropEmptyGroup(watcher);
    watcher.state = 'lagging';
    watcher.next = (fresh[0] as KeyEvent).kv.modRevision;
    this.lagging.add(watcher);
  }

  private toSynced(watcher: HubWatcher): void {
    this.lagging.delete(watcher);
    watcher.state = 'synced';
    const groups = this.groupsOf(watcher);
    let group = groups.get(watcher.groupKey);
    if (group === undefined) {
      group = { sample: watcher, watchers: new Set() };
      groups.set(watcher.groupKey, group);
    }
    group.watchers.add(watcher);
    watcher.sink.synced();
  }

  private groupsOf(watcher: HubWatcher): Map<string, WatchGroup> {
    return watcher.singleKey !== undefined ? this.keyGroups : this.rangeGroups;
  }

  private dropEmptyGroup(watcher: HubWatcher): void {
    const groups = this.groupsOf(watcher);
    const group = groups.get(watcher.groupKey);
    if (group !== undefined && group.watchers.size === 0) {
      groups.delete(watcher.groupKey);
    }
  }

  /** Rounds of catch-up until no lagging watcher with room is left. */
  private async catchUp(): Promise<void> {
    for (;;) {
      if (this.closed) {
        return;
      }
      const round = this.pickRound();
      if (round.length === 0) {
        return;
      }
      if (!(await this.catchUpRound(round))) {
        return; // a failed read: the next wake (a new watcher, a sink with room) tries again
      }
      await (this.options.pause ?? nextTurn)();
    }
  }

  /** Lagging watchers whose sink has room, compacted ones canceled, caught-up ones synced. */
  private pickRound(): HubWatcher[] {
    const limit = this.options.watchersPerRound ?? 512;
    const compactRevision = this.source.compactRevision();
    const round: HubWatcher[] = [];
    for (const watcher of [...this.lagging]) {
      if (watcher.next < compactRevision) {
        this.lagging.delete(watcher);
        watcher.state = 'closed';
        this.counters.compacted++;
        watcher.sink.compacted(compactRevision);
      } else if (watcher.next > this.revision) {
        this.toSynced(watcher);
      } else if (watcher.sink.hasRoom && round.length < limit) {
        round.push(watcher);
      }
    }
    return round;
  }

  /**
   * One history read for `round`, from the smallest next revision to the current one. False
   * when the read failed otherwise than by a compaction (which the next round handles).
   */
  private async catchUpRound(round: readonly HubWatcher[]): Promise<boolean> {
    const from = Math.min(...round.map((w) => w.next));
    const to = this.revision;
    let read: HistoryReadResult;
    try {
      this.counters.catchUpReads++;
      read = await this.source.readHistory({
        fromRevision: from,
        toRevision: to,
        prevKv: round.some((w) => w.spec.prevKv),
        maxEvents: this.options.eventsPerRead ?? 1000,
        keyFilter: (key) => {
          const name = latin1(key);
          return round.some((w) => w.matches(name));
        },
      });
    } catch (error) {
      if (error instanceof CompactedError) {
        return true; // the next round cancels what the compaction overtook
      }
      this.options.onError?.(error);
      return false;
    }
    for (const watcher of round) {
      if (watcher.state !== 'lagging' || watcher.next >= read.nextRevision) {
        continue;
      }
      const mine = read.events.filter((e) => e.kv.modRevision >= watcher.next && watcher.matches(latin1(e.kv.key)));
      const kept = watcher.filter(mine);
      if (kept.length > 0 && !watcher.sink.offer(kept, to)) {
        continue; // still lagging, from the same revision
      }
      watcher.next = read.nextRevision;
      if (watcher.next > this.revision) {
        this.toSynced(watcher);
      }
    }
    return true;
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
