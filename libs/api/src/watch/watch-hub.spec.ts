import fc from 'fast-check';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EntryType } from '@keyval/raft';
import type { Entry, LogIndex, Term } from '@keyval/raft';
import { MemoryStateMachine, encodeCommand } from '@keyval/statemachine';
import type { KeyEvent, WriteRequest } from '@keyval/statemachine';
import type { WatcherSink, WatcherSpec } from './watch-hub';
import { WatchHub } from './watch-hub';

const b = (s: string): Buffer => Buffer.from(s);

/** Builds log entries of writes. */
class Log {
  private index = 1;
  entry(op: WriteRequest): Entry {
    return { index: this.index++ as LogIndex, term: 1 as Term, type: EntryType.Normal, data: encodeCommand({ timestampMs: 1, op }) };
  }
  put(key: string, value: string): Entry {
    return this.entry({ type: 'put', request: { key: b(key), value: b(value) } });
  }
  del(key: string, rangeEnd?: string): Entry {
    return this.entry({ type: 'deleteRange', request: { key: b(key), ...(rangeEnd !== undefined && { rangeEnd: b(rangeEnd) }) } });
  }
  compact(revision: number): Entry {
    return this.entry({ type: 'compact', request: { revision } });
  }
}

/** A sink recording what it was given; `room` toggles whether it takes offers. */
class RecordingSink implements WatcherSink {
  readonly events: string[] = [];
  readonly prevs: string[] = [];
  compactedAt: number | undefined;
  syncs = 0;
  room = true;
  get hasRoom(): boolean {
    return this.room;
  }
  offer(events: readonly KeyEvent[]): boolean {
    if (!this.room) {
      return false;
    }
    for (const e of events) {
      this.events.push(`${e.type} ${e.kv.key.toString()}@${e.kv.modRevision}`);
      this.prevs.push(e.prev === undefined ? '-' : Buffer.from(e.prev.value).toString());
    }
    return true;
  }
  compacted(compactRevision: number): void {
    this.compactedAt = compactRevision;
  }
  synced(): void {
    this.syncs++;
  }
}

const spec = (key: string, options: Partial<WatcherSpec> = {}): WatcherSpec => ({ key: b(key), rangeEnd: new Uint8Array(0), startRevision: 1, prevKv: false, noPut: false, noDelete: false, ...options });
const settle = async (hub: WatchHub): Promise<void> => {
  for (let i = 0; i < 50 && hub.size.lagging > 0; i++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
};

describe('WatchHub', () => {
  let dir: string;
  let sm: MemoryStateMachine;
  let hub: WatchHub;
  let log: Log;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'keyval-watch-hub-'));
    sm = await MemoryStateMachine.create({ snapshotDir: dir });
    hub = new WatchHub(sm);
    log = new Log();
  });
  afterEach(async () => {
    await hub.close();
    await sm.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('delivers live events to the watchers of a key, a range and a prefix, with filters and prev records', async () => {
    const key = new RecordingSink();
    const range = new RecordingSink();
    const noDelete = new RecordingSink();
    hub.add(spec('a', { startRevision: 2 }), key);
    hub.add(spec('a', { rangeEnd: b('c'), startRevision: 2 }), range);
    hub.add(spec('a', { rangeEnd: Uint8Array.of(0), startRevision: 2, noDelete: true, prevKv: true }), noDelete);
    expect(hub.size).toEqual({ synced: 3, lagging: 0 });
    await sm.apply([log.put('a', '1'), log.put('b', '1'), log.put('c', '1'), log.put('a', '2'), log.del('a', 'z')]);
    expect(key.events).toEqual(['put a@2', 'put a@5', 'delete a@6']);
    expect(range.events).toEqual(['put a@2', 'put b@3', 'put a@5', 'delete a@6', 'delete b@6']);
    expect(noDelete.events).toEqual(['put a@2', 'put b@3', 'put c@4', 'put a@5']);
    expect(noDelete.prevs).toEqual(['-', '-', '-', '1']);
    expect(key.syncs).toBe(1);
  });

  it('replays the history from a past start revision, then goes on live with no gap and no duplicate', async () => {
    await sm.apply([log.put('k', '1'), log.put('k', '2'), log.put('other', 'x')]);
    const sink = new RecordingSink();
    hub.add(spec('k', { startRevision: 3, prevKv: true }), sink);
    expect(hub.size.lagging).toBe(1);
    await sm.apply([log.put('k', '3')]); // while lagging: comes from the history
    await settle(hub);
    await sm.apply([log.put('k', '4')]);
    expect(sink.events).toEqual(['put k@3', 'put k@5', 'put k@6']);
    expect(sink.prevs).toEqual(['1', '2', '3']);
  });

  it('a watcher from a future revision gets nothing below it, while the member replays its log up to there (chaos: a restarted member)', async () => {
    // A member that restarts replays its log after it serves again: a client resuming at
    // revision 4 there is synced at once (4 > the hub's 1) and must not be handed 2 and 3.
    const sink = new RecordingSink();
    hub.add(spec('k', { startRevision: 4 }), sink);
    expect(hub.size).toEqual({ synced: 1, lagging: 0 });
    await sm.apply([log.put('k', '1'), log.put('k', '2'), log.put('k', '3'), log.put('k', '4')]);
    expect(sink.events).toEqual(['put k@4', 'put k@5']);
  });

  it('a full sink makes its watcher lag; it catches up from the history once it has room', async () => {
    const sink = new RecordingSink();
    hub.add(spec('k', { startRevision: 2 }), sink);
    await sm.apply([log.put('k', '1')]);
    sink.room = false;
    await sm.apply([log.put('k', '2'), log.put('k', '3')]);
    expect(hub.size).toEqual({ synced: 0, lagging: 1 });
    await sm.apply([log.put('k', '4')]);
    sink.room = true;
    hub.wake();
    await settle(hub);
    await sm.apply([log.put('k', '5')]);
    expect(sink.events).toEqual(['put k@2', 'put k@3', 'put k@4', 'put k@5', 'put k@6']);
  });

  it('cancels a watcher whose history was compacted, with the compacted revision', async () => {
    await sm.apply([log.put('k', '1'), log.put('k', '2'), log.put('k', '3'), log.compact(3)]);
    const old = new RecordingSink();
    const atCompaction = new RecordingSink();
    hub.add(spec('k', { startRevision: 2 }), old);
    hub.add(spec('k', { startRevision: 3 }), atCompaction);
    await settle(hub);
    expect(old.compactedAt).toBe(3);
    expect(old.events).toEqual([]);
    expect(atCompaction.compactedAt).toBeUndefined();
    expect(atCompaction.events).toEqual(['put k@3', 'put k@4']);
  });

  it('re-reads the history after a snapshot replaced the state under the watchers', async () => {
    const other = await MemoryStateMachine.create({ snapshotDir: path.join(dir, 'other') });
    const otherLog = new Log();
    await other.apply([otherLog.put('k', '1'), otherLog.put('k', '2'), otherLog.put('k', '3')]);
    const snapshot = await other.createSnapshot();
    const sink = new RecordingSink();
    await sm.apply([log.put('k', '1')]);
    hub.add(spec('k', { startRevision: 2 }), sink);
    await sm.restore(snapshot.path);
    await settle(hub);
    expect(sink.events).toEqual(['put k@2', 'put k@3', 'put k@4']);
    await other.close();
  });

  it('property: every watcher gets exactly the history from its start revision, in order, whatever the fullness and timing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('put' as const), key: fc.constantFrom('a', 'b', 'c') }),
            fc.record({ kind: fc.constant('del' as const), key: fc.constantFrom('a', 'b', 'c') }),
            fc.record({ kind: fc.constant('watch' as const), key: fc.constantFrom('a', 'b'), prefix: fc.boolean(), back: fc.nat(6) }),
            fc.record({ kind: fc.constant('room' as const), watcher: fc.nat(9), room: fc.boolean() }),
            fc.record({ kind: fc.constant('settle' as const) }),
          ),
          { maxLength: 40 },
        ),
        async (steps) => {
          const stepDir = await fs.mkdtemp(path.join(os.tmpdir(), 'keyval-watch-prop-'));
          const machine = await MemoryStateMachine.create({ snapshotDir: stepDir });
          const propHub = new WatchHub(machine);
          const propLog = new Log();
          const watchers: Array<{ sink: RecordingSink; key: string; prefix: boolean; start: number }> = [];
          let value = 0;
          try {
            for (const step of steps) {
              if (step.kind === 'put') {
                await machine.apply([propLog.put(step.key, String(value++))]);
              } else if (step.kind === 'del') {
                await machine.apply([propLog.del(step.key)]);
              } else if (step.kind === 'watch') {
                const start = Math.max(1, machine.revision() + 1 - step.back);
                const sink = new RecordingSink();
                watchers.push({ sink, key: step.key, prefix: step.prefix, start });
                propHub.add(spec(step.key, { startRevision: start, ...(step.prefix && { rangeEnd: b(String.fromCharCode(step.key.charCodeAt(0) + 2)) }) }), sink);
              } else if (step.kind === 'room') {
                const w = watchers[step.watcher % Math.max(1, watchers.length)];
                if (w !== undefined) {
                  w.sink.room = step.room;
                  propHub.wake();
                }
              } else {
                await new Promise((resolve) => setImmediate(resolve));
              }
            }
            for (const w of watchers) {
              w.sink.room = true;
            }
            propHub.wake();
            await settle(propHub);
            const all = await machine.readHistory({ fromRevision: 1, toRevision: machine.revision(), maxEvents: 100_000 });
            for (const w of watchers) {
              const expected = all.events
                .filter((e) => e.kv.modRevision >= w.start)
                .filter((e) => {
                  const k = e.kv.key.toString();
                  return w.prefix ? k >= w.key && k < String.fromCharCode(w.key.charCodeAt(0) + 2) : k === w.key;
                })
                .map((e) => `${e.type} ${e.kv.key.toString()}@${e.kv.modRevision}`);
              expect(w.sink.events).toEqual(expected);
            }
          } finally {
            await propHub.close();
            await machine.close();
            await fs.rm(stepDir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
