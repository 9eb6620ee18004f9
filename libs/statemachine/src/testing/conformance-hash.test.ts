/**
 * Conformance: etcd's Hash and HashKV — hashes of the applied state that every member with the
 * same state computes equal (whatever its physical compaction progress or its applied index),
 * that change with the data, and that refuse the revisions etcd refuses.
 */
import { CompactedError, FutureRevisionError } from '../errors';
import type { StateMachine } from '../state-machine';
import type { StateMachineFactory } from './conformance-harness.test';
import { LogBuilder } from './log-builder.test';

function writes(log: LogBuilder): ReturnType<LogBuilder['put']>[] {
  return [log.put('a', 'a1'), log.put('b', 'b1'), log.put('a', 'a2'), log.del('b'), log.put('c', 'c1'), log.put('a', 'a3')];
}

async function hashesAtEveryRevision(sm: StateMachine, from: number): Promise<number[]> {
  const out: number[] = [];
  for (let revision = from; revision <= sm.revision(); revision++) {
    out.push((await sm.hashKv(revision)).hash);
  }
  return out;
}

export function describeHashConformance(factory: StateMachineFactory): void {
  describe('Hash and HashKV (etcd maintenance)', () => {
    afterEach(() => factory.cleanup());

    it('HashKV differs between revisions, is stable, and answers for the current revision at 0', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply(writes(log));
      const hashes = await hashesAtEveryRevision(sm, 1);
      expect(new Set(hashes).size).toBe(hashes.length);
      expect(await hashesAtEveryRevision(sm, 1)).toEqual(hashes);
      const current = await sm.hashKv(0);
      expect(current).toEqual({ hash: hashes[hashes.length - 1], hashRevision: 7, revision: 7, compactRevision: -1 });
      // A write that changes nothing (a delete of nothing) leaves the hash alone.
      await sm.apply([log.del('nothing')]);
      expect((await sm.hashKv(0)).hash).toBe(current.hash);
      expect((await sm.hashKv(-1)).hash).toBe((await sm.hashKv(-5)).hash);
    });

    it('refuses as etcd: at or below the compacted revision, above the current one', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply(writes(log));
      await expect(sm.hashKv(8)).rejects.toBeInstanceOf(FutureRevisionError);
      await sm.apply([log.compact(4)]);
      await expect(sm.hashKv(4)).rejects.toBeInstanceOf(CompactedError);
      await expect(sm.hashKv(3)).rejects.toBeInstanceOf(CompactedError);
      expect((await sm.hashKv(5)).compactRevision).toBe(4);
    });

    it('equal on two machines with the same applied state, whatever their compaction progress and applied index', async () => {
      const one = await factory.create();
      const other = await factory.create();
      const log = new LogBuilder();
      const entries = writes(log);
      await one.apply(entries);
      await other.apply(entries);
      const before = await hashesAtEveryRevision(one, 1);
      expect(await hashesAtEveryRevision(other, 1)).toEqual(before);
      // After a compaction the hashes leave out what no read can reach any more (as etcd's
      // do), whether the physical deletion has run (one) or not yet (other).
      const compact = log.compact(5);
      await one.apply([compact]);
      await one.compacted(5);
      await other.apply([compact]);
      const after = await hashesAtEveryRevision(one, 6);
      expect(after).not.toEqual(before.slice(5));
      expect(await hashesAtEveryRevision(other, 6)).toEqual(after);
      expect(await one.hashStore()).toEqual(await other.hashStore());
      // The applied index is not part of the state's hash; the data is.
      const storeHash = (await one.hashStore()).hash;
      await one.apply([log.empty()]);
      expect(one.appliedIndex()).toBeGreaterThan(other.appliedIndex());
      expect((await one.hashStore()).hash).toBe(storeHash);
      await one.apply([log.put('z', 'z1')]);
      expect((await one.hashStore()).hash).not.toBe(storeHash);
    });

    it('a machine restored from a snapshot hashes as its source', async () => {
      const source = await factory.create({ snapshotChunkBytes: 256 });
      const log = new LogBuilder();
      await source.apply([...writes(log), log.compact(3)]);
      const info = await source.createSnapshot();
      const target = await factory.create();
      await target.restore(info.path);
      expect(await target.hashStore()).toEqual(await source.hashStore());
      expect(await hashesAtEveryRevision(target, 4)).toEqual(await hashesAtEveryRevision(source, 4));
    });
  });
}
