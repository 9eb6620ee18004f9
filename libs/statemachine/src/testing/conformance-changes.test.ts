/**
 * Conformance: what watchers build on — the changes told to listeners as batches commit, and
 * reading the history back in revision order (StateMachine.onChange / readHistory).
 */
import type { KeyEvent } from '../engine/history';
import { CompactedError, FutureRevisionError } from '../errors';
import type { StoreChange } from '../state-machine';
import type { StateMachineFactory } from './conformance-harness.test';
import { kvText } from './conformance-harness.test';
import { LogBuilder, b } from './log-builder.test';

function eventText(event: KeyEvent): string {
  return `${event.type} ${kvText(event.kv)} prev ${kvText(event.prev)}`;
}

function history(log: LogBuilder): ReturnType<LogBuilder['put']>[] {
  return [
    log.put('a', '1'),
    log.put('b', '1'),
    log.txn({ compare: [], success: [{ type: 'put', request: { key: b('c'), value: b('1') } }, { type: 'put', request: { key: b('a'), value: b('2') } }, { type: 'deleteRange', request: { key: b('b') } }], failure: [] }),
    log.del('nothing'),
    log.del('a', 'z'),
    log.put('a', '3'),
  ];
}

export function describeChangesConformance(factory: StateMachineFactory): void {
  describe('changes and history reads (watchers)', () => {
    afterEach(() => factory.cleanup());

    it('tells listeners each batch’s events in order, with the record each replaced, as it becomes visible', async () => {
      const sm = await factory.create();
      const seen: Array<{ revision: number; smRevision: number; events: string[] }> = [];
      const off = sm.onChange((change: StoreChange) => {
        if (change.type === 'committed') {
          seen.push({ revision: change.revision, smRevision: sm.revision(), events: change.events.map(eventText) });
        }
      });
      const log = new LogBuilder();
      const entries = history(log);
      await sm.apply(entries.slice(0, 3));
      await sm.apply(entries.slice(3));
      off();
      await sm.apply([log.put('after', 'unsubscribed')]);
      expect(seen).toEqual([
        {
          revision: 4,
          smRevision: 4,
          events: [
            'put a=1@c2/m2/v1 prev -',
            'put b=1@c3/m3/v1 prev -',
            'put c=1@c4/m4/v1 prev -',
            'put a=2@c2/m4/v2 prev a=1@c2/m2/v1',
            'delete b=@c0/m4/v0 prev b=1@c3/m3/v1',
          ],
        },
        { revision: 6, smRevision: 6, events: ['delete a=@c0/m5/v0 prev a=2@c2/m4/v2', 'delete c=@c0/m5/v0 prev c=1@c4/m4/v1', 'put a=3@c6/m6/v1 prev -'] },
      ]);
    });

    it('reads the history back in revision order: the same events, filtered, in bounded parts', async () => {
      const sm = await factory.create();
      const live: string[] = [];
      sm.onChange((change) => {
        if (change.type === 'committed') {
          live.push(...change.events.map(eventText));
        }
      });
      await sm.apply(history(new LogBuilder()));
      const all = await sm.readHistory({ fromRevision: 1, toRevision: sm.revision(), prevKv: true, maxEvents: 1000 });
      expect(all.events.map(eventText)).toEqual(live);
      expect(all.nextRevision).toBe(7);
      const withoutPrev = await sm.readHistory({ fromRevision: 4, toRevision: 5, maxEvents: 1000 });
      expect(withoutPrev.events.map(eventText)).toEqual(['put c=1@c4/m4/v1 prev -', 'put a=2@c2/m4/v2 prev -', 'delete b=@c0/m4/v0 prev -', 'delete a=@c0/m5/v0 prev -', 'delete c=@c0/m5/v0 prev -']);
      const onlyA = await sm.readHistory({ fromRevision: 1, toRevision: 6, maxEvents: 1000, keyFilter: (key) => Buffer.from(key).toString() === 'a' });
      expect(onlyA.events.map((e) => `${e.type}@${e.kv.modRevision}`)).toEqual(['put@2', 'put@4', 'delete@5', 'put@6']);
      // Parts end at a revision's end: 2 events asked, revision 4's three all come.
      const first = await sm.readHistory({ fromRevision: 2, toRevision: 6, maxEvents: 2 });
      expect(first.events.map((e) => e.kv.modRevision)).toEqual([2, 3]);
      expect(first.nextRevision).toBe(4);
      const second = await sm.readHistory({ fromRevision: first.nextRevision, toRevision: 6, maxEvents: 2 });
      expect(second.events.map((e) => e.kv.modRevision)).toEqual([4, 4, 4]);
      expect(second.nextRevision).toBe(5);
      // Nothing to read in an empty tail.
      expect(await sm.readHistory({ fromRevision: 7, toRevision: 6, maxEvents: 10 })).toEqual({ events: [], nextRevision: 7 });
      await expect(sm.readHistory({ fromRevision: 1, toRevision: 7, maxEvents: 10 })).rejects.toBeInstanceOf(FutureRevisionError);
    });

    it('refuses a read below the compacted revision; at it, a previous record compacted away is left out', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply([...history(log), log.compact(4)]);
      await sm.compacted(4);
      await expect(sm.readHistory({ fromRevision: 3, toRevision: 6, maxEvents: 10 })).rejects.toBeInstanceOf(CompactedError);
      const read = await sm.readHistory({ fromRevision: 4, toRevision: 6, prevKv: true, maxEvents: 10 });
      expect(read.events.map(eventText)).toEqual([
        'put c=1@c4/m4/v1 prev -',
        'put a=2@c2/m4/v2 prev -',
        'delete b=@c0/m4/v0 prev -',
        'delete a=@c0/m5/v0 prev a=2@c2/m4/v2',
        'delete c=@c0/m5/v0 prev c=1@c4/m4/v1',
        'put a=3@c6/m6/v1 prev -',
      ]);
    });

    it('tells listeners when a snapshot replaced the state', async () => {
      const source = await factory.create();
      await source.apply(history(new LogBuilder()));
      const info = await source.createSnapshot();
      const target = await factory.create();
      const seen: StoreChange[] = [];
      target.onChange((change) => seen.push(change));
      await target.restore(info.path);
      expect(seen).toEqual([{ type: 'restored', revision: 6, compactRevision: -1 }]);
      expect((await target.readHistory({ fromRevision: 1, toRevision: 6, maxEvents: 100 })).events).toHaveLength(8);
    });
  });
}
