/**
 * Conformance: the history (etcd's MVCC) — reads at past revisions, compaction, ranges with a
 * revision inside txns, etcd's sorting and revision filters, and the history in snapshots.
 */
import { CompactedError, FutureRevisionError } from '../errors';
import { SortOrder, SortTarget } from '../kv-types';
import type { RangeRequest } from '../kv-types';
import type { StateMachine } from '../state-machine';
import type { StateMachineFactory } from './conformance-harness.test';
import { kvText, rangeText, rejection, response } from './conformance-harness.test';
import { HistoryModel } from './history-model.test';
import { LogBuilder, b } from './log-builder.test';

const ALL: RangeRequest = { key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) };

/** Applies each entry in its own call, capturing the model after each. */
async function applyCapturing(sm: StateMachine, model: HistoryModel, entries: ReturnType<LogBuilder['put']>[]): Promise<void> {
  for (const entry of entries) {
    await sm.apply([entry]);
    await model.capture(sm);
  }
}

/** A history with overwrites, deletes, re-creations, a range delete and a multi-key txn. */
function history(log: LogBuilder): ReturnType<LogBuilder['put']>[] {
  return [
    log.put('a', 'a1'),
    log.put('b', 'b1'),
    log.put('a', 'a2'),
    log.del('a'),
    log.put('c', 'c1'),
    log.put('a', 'a3'),
    log.txn({ compare: [], success: [{ type: 'put', request: { key: b('d'), value: b('d1') } }, { type: 'put', request: { key: b('b'), value: b('b2') } }], failure: [] }),
    log.del('b', 'd'),
    log.put('b', 'b3'),
    log.put('e', 'e1'),
    log.del('nothing'),
    log.put('a', 'a4'),
  ];
}

async function expectMatchesModel(sm: StateMachine, model: HistoryModel, from: number): Promise<void> {
  for (let revision = from; revision <= sm.revision(); revision++) {
    for (const request of [ALL, { key: b('a') }, { key: b('b'), rangeEnd: b('e') }, { key: b('zz') }]) {
      const got = await sm.range({ ...request, revision });
      expect({ revision, kvs: got.kvs.map(kvText) }).toEqual({ revision, kvs: model.kvsAt(request, revision).map(kvText) });
      expect(got.count).toBe(got.kvs.length);
      expect(got.header.revision).toBe(sm.revision());
    }
  }
}

export function describeHistoryConformance(factory: StateMachineFactory): void {
  describe('history and compaction (etcd MVCC)', () => {
    afterEach(() => factory.cleanup());

    it('reads every past revision as it was, reporting the current revision in the header', async () => {
      const sm = await factory.create();
      const model = new HistoryModel();
      await model.capture(sm);
      await applyCapturing(sm, model, history(new LogBuilder()));
      expect(sm.revision()).toBe(12);
      await expectMatchesModel(sm, model, 1);
      expect(rangeText(await sm.range({ key: b('a'), revision: 3 }))).toEqual({ revision: 12, count: 1, more: false, kvs: ['a=a1@c2/m2/v1'] });
      expect(rangeText(await sm.range({ key: b('a'), revision: 5 }))).toEqual({ revision: 12, count: 0, more: false, kvs: [] });
      expect(rangeText(await sm.range({ ...ALL, revision: 8, limit: 2 }))).toEqual({ revision: 12, count: 4, more: true, kvs: ['a=a3@c7/m7/v1', 'b=b2@c3/m8/v2'] });
      expect(rangeText(await sm.range({ ...ALL, revision: 8, countOnly: true }))).toEqual({ revision: 12, count: 4, more: false, kvs: [] });
      expect((await sm.range({ ...ALL, revision: 8, keysOnly: true })).kvs.map(kvText)).toEqual(['a=@c7/m7/v1', 'b=@c3/m8/v2', 'c=@c6/m6/v1', 'd=@c8/m8/v1']);
    });

    it('history is the same whatever the apply batches (one call or one per entry)', async () => {
      const one = await factory.create();
      const many = await factory.create();
      const model = new HistoryModel();
      await model.capture(many);
      await one.apply(history(new LogBuilder()));
      await applyCapturing(many, model, history(new LogBuilder()));
      await expectMatchesModel(one, model, 1);
    });

    it('refuses a read above the current revision and (after a compaction) below the compacted one', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply(history(log));
      await expect(sm.range({ ...ALL, revision: 13 })).rejects.toBeInstanceOf(FutureRevisionError);
      expect(sm.compactRevision()).toBe(-1);
      const [compacted] = await sm.apply([log.compact(6)]);
      expect(response(compacted, 'compact')).toEqual({ header: { revision: 12 } });
      expect(sm.compactRevision()).toBe(6);
      expect(sm.revision()).toBe(12);
      await expect(sm.range({ ...ALL, revision: 5 })).rejects.toBeInstanceOf(CompactedError);
      await expect(sm.range({ key: b('a'), revision: 1 })).rejects.toBeInstanceOf(CompactedError);
      // etcd reads at the compacted revision itself; 0 still means the current revision.
      expect((await sm.range({ ...ALL, revision: 6 })).kvs.map(kvText)).toEqual(['b=b1@c3/m3/v1', 'c=c1@c6/m6/v1']);
      expect((await sm.range(ALL)).count).toBe(4);
    });

    it('compaction: at or below the compacted revision is compacted, above the current one is future; nothing moves', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply(history(log));
      const results = await sm.apply([log.compact(13), log.compact(4), log.compact(4), log.compact(3), log.compact(12)]);
      expect(rejection(results[0])).toBeInstanceOf(FutureRevisionError);
      expect(response(results[1], 'compact').header.revision).toBe(12);
      expect(rejection(results[2])).toBeInstanceOf(CompactedError);
      expect(rejection(results[3])).toBeInstanceOf(CompactedError);
      expect(response(results[4], 'compact').header.revision).toBe(12);
      expect(sm.compactRevision()).toBe(12);
      expect(sm.revision()).toBe(12);
    });

    it('keeps every revision at or above the compacted one readable, through more writes and compactions', async () => {
      const sm = await factory.create();
      const model = new HistoryModel();
      const log = new LogBuilder();
      await model.capture(sm);
      await applyCapturing(sm, model, history(log));
      await sm.apply([log.compact(5)]);
      await sm.compacted(5);
      await expectMatchesModel(sm, model, 5);
      await applyCapturing(sm, model, [log.put('a', 'a5'), log.del('a'), log.put('f', 'f1'), log.del('e')]);
      await sm.apply([log.compact(9)]);
      await sm.compacted(9);
      await expectMatchesModel(sm, model, 9);
      await applyCapturing(sm, model, [log.put('a', 'a6')]);
      await sm.apply([log.compact(sm.revision())]);
      await sm.compacted(sm.revision());
      await expectMatchesModel(sm, model, sm.revision());
    });

    it('a txn range at a revision reads the past (not its own writes); a bad revision fails the whole txn', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply([log.put('k', 'v1'), log.put('k', 'v2'), log.compact(2)]);
      const past = { type: 'range' as const, request: { key: b('k'), revision: 2 } };
      const [ok, future, compacted] = await sm.apply([
        log.txn({ compare: [], success: [{ type: 'put', request: { key: b('k'), value: b('v3') } }, past, { type: 'range', request: { key: b('k'), revision: 3 } }, { type: 'range', request: { key: b('k') } }], failure: [] }),
        log.txn({ compare: [], success: [{ type: 'put', request: { key: b('k'), value: b('no') } }, { type: 'range', request: { key: b('k'), revision: 5 } }], failure: [] }),
        log.txn({ compare: [], success: [{ type: 'txn', request: { compare: [], success: [{ type: 'put', request: { key: b('x'), value: b('no') } }, { type: 'range', request: { key: b('k'), revision: 1 } }], failure: [] } }], failure: [] }),
      ]);
      const txn = response(ok, 'txn');
      const ranges = txn.responses.filter((r) => r.type === 'range').map((r) => (r.type === 'range' ? { revision: r.response.header.revision, kvs: r.response.kvs.map(kvText) } : undefined));
      expect(ranges).toEqual([
        { revision: 4, kvs: ['k=v1@c2/m2/v1'] },
        { revision: 4, kvs: ['k=v2@c2/m3/v2'] },
        { revision: 4, kvs: ['k=v3@c2/m4/v3'] },
      ]);
      expect(rejection(future)).toBeInstanceOf(FutureRevisionError);
      expect(rejection(compacted)).toBeInstanceOf(CompactedError);
      expect((await sm.range(ALL)).kvs.map(kvText)).toEqual(['k=v3@c2/m4/v3']);
      expect(sm.revision()).toBe(4);
    });

    it('a txn reading the revision an earlier entry of the same apply call made sees it', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      const read = (revision: number) => log.txn({ compare: [], success: [{ type: 'range', request: { ...ALL, revision } }], failure: [] });
      const results = await sm.apply([log.put('a', '1'), log.put('b', '1'), read(3), log.del('a'), read(4), read(2)]);
      const kvsOf = (i: number): string[] => {
        const first = response(results[i], 'txn').responses[0];
        return first?.type === 'range' ? first.response.kvs.map(kvText) : [];
      };
      expect(kvsOf(2)).toEqual(['a=1@c2/m2/v1', 'b=1@c3/m3/v1']);
      expect(kvsOf(4)).toEqual(['b=1@c3/m3/v1']);
      expect(kvsOf(5)).toEqual(['a=1@c2/m2/v1']);
    });

    it('sorts and filters as etcd: count ignores filters, equal sort keys keep key order, limit then more', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply([log.put('a', 'z'), log.put('b', 'y'), log.put('c', 'y'), log.put('a', 'z2'), log.put('d', 'x')]);
      // a: c2 m5 v2; b: c3 m3 v1; c: c4 m4 v1; d: c6 m6 v1
      const keys = async (request: Partial<RangeRequest>): Promise<string[]> => (await sm.range({ ...ALL, ...request })).kvs.map((kv) => Buffer.from(kv.key).toString());
      expect(await keys({ sortOrder: SortOrder.Descend })).toEqual(['d', 'c', 'b', 'a']);
      expect(await keys({ sortOrder: SortOrder.Ascend, sortTarget: SortTarget.Version })).toEqual(['b', 'c', 'd', 'a']);
      expect(await keys({ sortOrder: SortOrder.Descend, sortTarget: SortTarget.Version })).toEqual(['a', 'b', 'c', 'd']);
      expect(await keys({ sortTarget: SortTarget.Mod })).toEqual(['b', 'c', 'a', 'd']);
      expect(await keys({ sortOrder: SortOrder.Descend, sortTarget: SortTarget.Create })).toEqual(['d', 'c', 'b', 'a']);
      expect(await keys({ sortOrder: SortOrder.Ascend, sortTarget: SortTarget.Value })).toEqual(['d', 'b', 'c', 'a']);
      expect(await keys({ sortOrder: SortOrder.Descend, sortTarget: SortTarget.Value })).toEqual(['a', 'b', 'c', 'd']);
      const sortedByValue = await sm.range({ ...ALL, sortOrder: SortOrder.Descend, sortTarget: SortTarget.Value, keysOnly: true, limit: 2 });
      expect(rangeText(sortedByValue)).toEqual({ revision: 6, count: 4, more: true, kvs: ['a=@c2/m5/v2', 'b=@c3/m3/v1'] });
      const filtered = await sm.range({ ...ALL, minModRevision: 4, maxCreateRevision: 4, limit: 1 });
      expect(rangeText(filtered)).toEqual({ revision: 6, count: 4, more: true, kvs: ['a=z2@c2/m5/v2'] });
      expect(await keys({ minCreateRevision: 3, maxModRevision: 4 })).toEqual(['b', 'c']);
      expect(rangeText(await sm.range({ ...ALL, minModRevision: 6, limit: 1 }))).toEqual({ revision: 6, count: 4, more: false, kvs: ['d=x@c6/m6/v1'] });
      expect(rangeText(await sm.range({ ...ALL, revision: 4, sortOrder: SortOrder.Descend, sortTarget: SortTarget.Mod }))).toEqual({
        revision: 6,
        count: 3,
        more: false,
        kvs: ['c=y@c4/m4/v1', 'b=y@c3/m3/v1', 'a=z@c2/m2/v1'],
      });
      // The same inside a txn.
      const [txn] = await sm.apply([log.txn({ compare: [], success: [{ type: 'range', request: { ...ALL, sortOrder: SortOrder.Descend, sortTarget: SortTarget.Version, limit: 3 } }], failure: [] })]);
      const inner = response(txn, 'txn').responses[0];
      expect(inner?.type === 'range' ? rangeText(inner.response) : undefined).toEqual({ revision: 6, count: 4, more: true, kvs: ['a=z2@c2/m5/v2', 'b=y@c3/m3/v1', 'c=y@c4/m4/v1'] });
    });

    it('snapshots carry the history from the compacted revision on', async () => {
      const source = await factory.create({ snapshotChunkBytes: 256 });
      const model = new HistoryModel();
      const log = new LogBuilder();
      await model.capture(source);
      await applyCapturing(source, model, history(log));
      await source.apply([log.compact(6)]);
      await applyCapturing(source, model, [log.put('a', 'after'), log.del('c')]);
      const info = await source.createSnapshot();
      const target = await factory.create();
      await target.restore(info.path);
      expect(target.compactRevision()).toBe(6);
      expect(target.revision()).toBe(source.revision());
      await expectMatchesModel(target, model, 6);
      await expect(target.range({ ...ALL, revision: 5 })).rejects.toBeInstanceOf(CompactedError);
      // Both go on identically, compacting further.
      const next = [log.put('b', 'next'), log.compact(12), log.compact(11)];
      expect(await target.apply(next)).toEqual(await source.apply(next));
      await model.capture(source);
      await expectMatchesModel(target, model, 12);
      // And a snapshot of the restored machine is the same file content.
      const again = await target.createSnapshot();
      const original = await source.createSnapshot();
      expect(again.sizeBytes).toBe(original.sizeBytes);
    });

    if (factory.reopen !== undefined) {
      const reopen = factory.reopen.bind(factory);
      it('keeps the history and the compacted revision across a reopen', async () => {
        const first = await factory.create();
        const model = new HistoryModel();
        const log = new LogBuilder();
        await model.capture(first);
        await applyCapturing(first, model, history(log));
        await first.apply([log.compact(7)]);
        const reopened = await reopen(first);
        expect(reopened.compactRevision()).toBe(7);
        await reopened.compacted(7);
        await expectMatchesModel(reopened, model, 7);
        await expect(reopened.range({ ...ALL, revision: 6 })).rejects.toBeInstanceOf(CompactedError);
      });
    }
  });
}
