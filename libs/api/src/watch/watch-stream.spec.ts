import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Clock } from '@keyval/cluster';
import { GrpcStatusError } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { EntryType } from '@keyval/raft';
import type { Entry, LogIndex, Term } from '@keyval/raft';
import { MemoryStateMachine, encodeCommand } from '@keyval/statemachine';
import type { WriteRequest } from '@keyval/statemachine';
import { WatchResponseEncoder } from './watch-encoder';
import { WatchHub } from './watch-hub';
import { WATCH_ERRORS, WatchStream } from './watch-stream';
import type { WatchStreamOptions } from './watch-stream';

const b = (s: string): Buffer => Buffer.from(s);
const CONTEXT = { clusterId: 7n, memberId: 9n, raftTerm: 3 };

class Log {
  private index = 1;
  entry(op: WriteRequest): Entry {
    return { index: this.index++ as LogIndex, term: 1 as Term, type: EntryType.Normal, data: encodeCommand({ timestampMs: 1, op }) };
  }
  put(key: string, value: string): Entry {
    return this.entry({ type: 'put', request: { key: b(key), value: b(value) } });
  }
  compact(revision: number): Entry {
    return this.entry({ type: 'compact', request: { revision } });
  }
}

/** A transport recording decoded responses; `held` holds writes unanswered (a client not reading). */
class FakeTransport {
  readonly responses: etcd.WatchResponse[] = [];
  failure: GrpcStatusError | undefined;
  held = false;
  private waiting: Array<() => void> = [];
  write(bytes: Buffer): Promise<void> {
    this.responses.push(etcd.WatchResponse.decode(bytes));
    if (!this.held) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    this.held = false;
    for (const resolve of this.waiting.splice(0)) resolve();
  }
  fail(error: GrpcStatusError): void {
    this.failure = error;
  }
  /** Responses as compact text. */
  text(): string[] {
    return this.responses.map((r) => {
      const flags = [r.created && 'created', r.canceled && 'canceled', r.fragment && 'fragment', r.compactRevision !== 0n && `compact=${r.compactRevision}`, r.cancelReason !== '' && `reason=${r.cancelReason}`].filter(Boolean);
      const events = r.events.map((e) => `${e.type === 0 ? 'PUT' : 'DELETE'} ${e.kv?.key.toString()}@${e.kv?.modRevision}${e.prevKv === undefined ? '' : ` prev=${e.prevKv.value.toString()}`}`);
      return [`id=${r.watchId} rev=${r.header?.revision}`, ...flags, ...events].join(' ');
    });
  }
}

class FakeClock implements Clock {
  private ticks: Array<() => void> = [];
  nowMs(): number {
    return 0;
  }
  wallMs(): number {
    return 0;
  }
  setTimeout(): { cancel(): void } {
    return { cancel: () => undefined };
  }
  setInterval(callback: () => void): { cancel(): void } {
    this.ticks.push(callback);
    return { cancel: () => (this.ticks = this.ticks.filter((t) => t !== callback)) };
  }
  tick(): void {
    this.ticks.forEach((t) => t());
  }
}

const OPTIONS: WatchStreamOptions = { fragmentBytes: 1.5 * 1024 * 1024, softLimitBytes: 4 << 20, progressIntervalMs: 1000, queueBytesMax: 1 << 20, queueHardBytesMax: 4 << 20, watchersMax: 100 };
const create = (p: Partial<etcd.WatchCreateRequest>): etcd.WatchRequest => ({ requestUnion: { $case: 'createRequest', value: etcd.WatchCreateRequest.fromPartial(p) } });
const cancel = (watchId: bigint): etcd.WatchRequest => ({ requestUnion: { $case: 'cancelRequest', value: { watchId } } });
const progress: etcd.WatchRequest = { requestUnion: { $case: 'progressRequest', value: {} } };
const flush = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('WatchStream', () => {
  let dir: string;
  let sm: MemoryStateMachine;
  let hub: WatchHub;
  let log: Log;
  let transport: FakeTransport;
  let clock: FakeClock;
  const streamWith = (options: Partial<WatchStreamOptions> = {}): WatchStream => new WatchStream(hub, transport, new WatchResponseEncoder(() => CONTEXT), { ...OPTIONS, ...options }, clock);

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'keyval-watch-stream-'));
    sm = await MemoryStateMachine.create({ snapshotDir: dir });
    hub = new WatchHub(sm);
    log = new Log();
    transport = new FakeTransport();
    clock = new FakeClock();
  });
  afterEach(async () => {
    await hub.close();
    await sm.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('creates watchers (ids from 0, or the client’s), sends their events, cancels them', async () => {
    await sm.apply([log.put('a', '1')]);
    const stream = streamWith();
    stream.handle(create({ key: b('a') }));
    stream.handle(create({ key: b('a'), rangeEnd: b('c'), prevKv: true, watchId: 7n }));
    stream.handle(create({ key: b('b') }));
    await sm.apply([log.put('a', '2'), log.put('b', '1')]);
    stream.handle(cancel(7n));
    stream.handle(cancel(99n)); // unknown: no answer, as etcd
    await sm.apply([log.put('a', '3')]);
    await flush();
    expect(transport.text()).toEqual([
      'id=0 rev=2 created',
      'id=7 rev=2 created',
      'id=1 rev=2 created',
      'id=0 rev=4 PUT a@3',
      'id=7 rev=4 PUT a@3 prev=1 PUT b@4',
      'id=1 rev=4 PUT b@4',
      'id=7 rev=4 canceled',
      'id=0 rev=5 PUT a@5',
    ]);
    expect(transport.responses[0]?.header).toEqual({ clusterId: 7n, memberId: 9n, revision: 2n, raftTerm: 3n });
    stream.close();
  });

  it('refuses an empty range and a duplicate id as etcd does (created, canceled, watch id -1, the reason)', async () => {
    const stream = streamWith();
    stream.handle(create({ key: b('b'), rangeEnd: b('a') }));
    stream.handle(create({ key: b('a'), watchId: 3n }));
    stream.handle(create({ key: b('a'), watchId: 3n }));
    stream.handle(create({ key: b(''), rangeEnd: Uint8Array.of(0) as Buffer })); // every key
    await flush();
    expect(transport.text()).toEqual([
      `id=-1 rev=1 created canceled reason=${WATCH_ERRORS.emptyRange}`,
      'id=3 rev=1 created',
      `id=-1 rev=1 created canceled reason=${WATCH_ERRORS.duplicateId}`,
      'id=0 rev=1 created',
    ]);
    stream.close();
  });

  it('replays from a start revision before going live; a compacted one is canceled with compact_revision (header revision 0)', async () => {
    await sm.apply([log.put('k', '1'), log.put('k', '2'), log.put('k', '3'), log.compact(3)]);
    const stream = streamWith();
    stream.handle(create({ key: b('k'), startRevision: 3n }));
    stream.handle(create({ key: b('k'), startRevision: 2n }));
    await flush();
    await sm.apply([log.put('k', '4')]);
    await flush();
    expect(transport.text()).toEqual(['id=0 rev=4 created', 'id=1 rev=4 created', 'id=0 rev=4 PUT k@3 PUT k@4', 'id=1 rev=0 canceled compact=3', 'id=0 rev=5 PUT k@5']);
    stream.close();
  });

  it('answers a progress request (watch id -1) once every watcher is synced; progress_notify on the ticker', async () => {
    await sm.apply([log.put('k', '1'), log.put('k', '2')]);
    const stream = streamWith();
    stream.handle(create({ key: b('k'), startRevision: 1n }));
    stream.handle(create({ key: b('q'), progressNotify: true }));
    stream.handle(progress);
    await flush();
    clock.tick();
    await sm.apply([log.put('q', '1')]);
    clock.tick(); // elided: events were sent since the last tick
    clock.tick();
    await flush();
    expect(transport.text()).toEqual(['id=0 rev=3 created', 'id=1 rev=3 created', 'id=0 rev=3 PUT k@2 PUT k@3', 'id=-1 rev=3', 'id=1 rev=3', 'id=1 rev=4 PUT q@4', 'id=1 rev=4']);
    stream.close();
  });

  it('fragments a large response for a watcher that asked, as etcd', async () => {
    const stream = streamWith({ fragmentBytes: 300 });
    stream.handle(create({ key: b('f'), rangeEnd: b('g'), fragment: true }));
    stream.handle(create({ key: b('f'), rangeEnd: b('g') }));
    await sm.apply([log.entry({ type: 'txn', request: { compare: [], failure: [], success: ['f1', 'f2', 'f3', 'f4'].map((k) => ({ type: 'put' as const, request: { key: b(k), value: Buffer.alloc(100, 0x61) } })) } })]);
    await flush();
    const fragmented = transport.responses.filter((r) => r.watchId === 0n && r.events.length > 0);
    // About 125 bytes an event: two fit under 300, the last part is not marked.
    expect(fragmented.map((r) => [r.fragment, r.events.length])).toEqual([
      [true, 2],
      [false, 2],
    ]);
    expect(transport.responses.filter((r) => r.watchId === 1n && r.events.length > 0).map((r) => r.events.length)).toEqual([4]);
    stream.close();
  });

  it('a client that does not read: events are refused past the queue limit, then caught up from the history', async () => {
    const stream = streamWith({ queueBytesMax: 600 });
    stream.handle(create({ key: b('s') }));
    await flush();
    transport.held = true;
    for (let i = 0; i < 20; i++) {
      await sm.apply([log.put('s', 'x'.repeat(50))]);
    }
    expect(hub.size.lagging).toBe(1);
    transport.release();
    await flush();
    await sm.apply([log.put('s', 'last')]);
    await flush();
    const revisions = transport.responses.flatMap((r) => r.events.map((e) => Number(e.kv?.modRevision)));
    expect(revisions).toEqual(Array.from({ length: 21 }, (_, i) => i + 2));
    stream.close();
  });

  it('fails the stream beyond the hard queue limit and the watcher limit', async () => {
    transport.held = true;
    const stream = streamWith({ queueHardBytesMax: 200, watchersMax: 1000 });
    for (let i = 0; i < 20; i++) stream.handle(create({ key: b(`w${i}`) }));
    expect(transport.failure?.message).toMatch(/does not read its responses/);
    const limited = new FakeTransport();
    const small = new WatchStream(hub, limited, new WatchResponseEncoder(() => CONTEXT), { ...OPTIONS, watchersMax: 2 }, clock);
    for (let i = 0; i < 3; i++) small.handle(create({ key: b(`w${i}`) }));
    expect(limited.failure?.message).toMatch(/at most 2 watchers/);
  });
});
