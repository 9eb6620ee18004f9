import { EntryType } from '@keyval/raft';
import type { Entry, HardState, LogIndex, NodeId, Term } from '@keyval/raft';
import { KvStateMachine } from './kv-state-machine';
import { SimDisk } from './sim-disk';

const e = (index: number, term: number): Entry => ({ index: index as LogIndex, term: term as Term, type: EntryType.Normal, data: new Uint8Array(0) });
const hs = (term: number, vote: number, commit: number): HardState => ({ term: term as Term, vote: BigInt(vote) as NodeId, commit: commit as LogIndex });

describe('SimDisk', () => {
  it('shows writes in the volatile view at once and in the durable copy only after sync', () => {
    const disk = new SimDisk();
    disk.write({ snapshot: undefined, entries: [e(1, 1), e(2, 1)], hardState: hs(1, 1, 0) });
    expect(disk.volatile.lastIndex()).toBe(2);
    expect(disk.durableView().lastIndex()).toBe(0);
    expect(disk.pendingCount).toBe(1);
    disk.sync();
    expect(disk.durableView().lastIndex()).toBe(2);
    expect(disk.durableView().hardState()).toEqual(hs(1, 1, 0));
    expect(disk.pendingCount).toBe(0);
  });

  it('loses every unsynced batch on a crash and rebuilds the volatile view from the durable copy', () => {
    const disk = new SimDisk();
    disk.write({ snapshot: undefined, entries: [e(1, 1)], hardState: hs(1, 0, 0) });
    disk.sync();
    disk.write({ snapshot: undefined, entries: [e(2, 2)], hardState: hs(2, 2, 1) });
    disk.write({ snapshot: undefined, entries: [e(3, 2)], hardState: hs(2, 2, 2) });
    expect(disk.volatile.lastIndex()).toBe(3);
    disk.crash(0);
    expect(disk.volatile.lastIndex()).toBe(1);
    expect(disk.volatile.hardState()).toEqual(hs(1, 0, 0));
  });

  it('on a crash keeps a written-back prefix of batches, each whole: hard state and entries of one Ready together', () => {
    const disk = new SimDisk();
    disk.write({ snapshot: undefined, entries: [e(1, 1)], hardState: hs(1, 1, 0) });
    disk.write({ snapshot: undefined, entries: [e(2, 2)], hardState: hs(2, 2, 1) });
    disk.write({ snapshot: undefined, entries: [e(3, 3)], hardState: hs(3, 3, 2) });
    disk.crash(2);
    expect(disk.volatile.lastIndex()).toBe(2);
    expect(disk.volatile.hardState()).toEqual(hs(2, 2, 1));
    expect(disk.volatile.term(2 as LogIndex)).toBe(2);
  });

  it('replaces a conflicting suffix durably only when the batch that replaces it is synced', () => {
    const disk = new SimDisk();
    disk.write({ snapshot: undefined, entries: [e(1, 1), e(2, 1), e(3, 1)], hardState: hs(1, 0, 1) });
    disk.sync();
    disk.write({ snapshot: undefined, entries: [e(2, 2)], hardState: hs(2, 0, 1) });
    expect(disk.volatile.lastIndex()).toBe(2);
    disk.crash(0);
    expect(disk.volatile.lastIndex()).toBe(3);
    expect(disk.volatile.term(2 as LogIndex)).toBe(1);
  });

  it('keeps an own image durably at once and compacts both logs to it', () => {
    const disk = new SimDisk();
    const entries = [e(1, 1), e(2, 1), e(3, 1), e(4, 1)];
    disk.write({ snapshot: undefined, entries, hardState: hs(1, 0, 4) });
    disk.sync();
    const sm = new KvStateMachine();
    for (const entry of entries.slice(0, 3)) {
      sm.apply(entry);
    }
    const image = sm.image();
    disk.saveImage(image);
    disk.compact({ index: image.index, term: image.term, config: image.config });
    expect(disk.volatile.firstIndex()).toBe(4);
    expect(disk.durableView().firstIndex()).toBe(4);
    disk.crash(0);
    expect(disk.newestDurableImage()?.index).toBe(3);
    expect(disk.volatile.snapshotMeta().index).toBe(3);
  });

  it('makes a received snapshot and its image durable together with the batch that installs it', () => {
    const disk = new SimDisk();
    disk.write({ snapshot: undefined, entries: [e(1, 1)], hardState: hs(1, 0, 1) });
    disk.sync();
    const image = { index: 10 as LogIndex, term: 3 as Term, config: { voters: [], learners: [] }, kv: [['k', 'v']] as [string, string][], ops: [], chainDigest: 42 };
    disk.write({ snapshot: { meta: { index: image.index, term: image.term, config: image.config }, image }, entries: [], hardState: hs(3, 0, 10) });
    expect(disk.imageFor(10 as LogIndex)).toBe(image);
    expect(disk.newestDurableImage()).toBeUndefined();
    disk.crash(0);
    expect(disk.imageFor(10 as LogIndex)).toBeUndefined();
    expect(disk.volatile.lastIndex()).toBe(1);
    disk.write({ snapshot: { meta: { index: image.index, term: image.term, config: image.config }, image }, entries: [], hardState: hs(3, 0, 10) });
    disk.sync();
    disk.crash(0);
    expect(disk.newestDurableImage()).toBe(image);
    expect(disk.volatile.snapshotMeta().index).toBe(10);
  });

  it('keeps the image of the previous snapshot point after a compaction (a queued Snapshot message may name it)', () => {
    const disk = new SimDisk();
    const sm = new KvStateMachine();
    const entries = Array.from({ length: 9 }, (_, k) => e(k + 1, 1));
    disk.write({ snapshot: undefined, entries, hardState: hs(1, 0, 9) });
    disk.sync();
    const images = [];
    for (const entry of entries) {
      sm.apply(entry);
      if (entry.index % 3 === 0) {
        const image = sm.image();
        images.push(image);
        disk.saveImage(image);
        disk.compact({ index: image.index, term: image.term, config: image.config });
      }
    }
    expect(disk.volatile.firstIndex()).toBe(10);
    expect(disk.imageFor(6 as LogIndex)).toBe(images[1]);
    expect(disk.imageFor(9 as LogIndex)).toBe(images[2]);
    expect(disk.imageFor(3 as LogIndex)).toBeUndefined();
  });
});
