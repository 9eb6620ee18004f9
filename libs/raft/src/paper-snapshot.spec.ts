/**
 * Log compaction and InstallSnapshot (§7).
 */
import { ProgressState } from './progress';
import { TestCluster, bytes } from './testing/test-cluster';
import { I, T, appendResponse, drain, entry, handle, id, makeLeader, newNode } from './testing/paper-helpers';
import type { SnapshotMeta } from './types';

const config = { voters: [id(1), id(2), id(3)], learners: [] };

describe('snapshots (§7)', () => {
  it('a leader sends a snapshot to a follower whose next entry is compacted, then waits', () => {
    const { node, storage } = makeLeader(1, [1, 2, 3], { logTerms: [1, 1, 1, 1, 1], term: 1, commit: 5, config: { checkQuorum: true } });
    drain(node, storage);
    node.step(appendResponse(3, 1, 2, 6));
    drain(node, storage);
    const meta: SnapshotMeta = { index: I(5), term: T(1), config };
    storage.compact(meta);
    // Member 2 answers a heartbeat (so it is known active) and rejects the probe: it has nothing.
    node.step({ type: 'HeartbeatResponse', from: id(2), to: id(1), term: T(2), round: 0 });
    drain(node, storage); // the heartbeat answer triggers a probe at index 5
    node.step({ type: 'AppendResponse', from: id(2), to: id(1), term: T(2), index: I(5), reject: true, hintIndex: I(0), hintTerm: T(0) });
    const msgs = drain(node, storage);
    expect(msgs.filter((m) => m.to === id(2))).toEqual([{ type: 'Snapshot', from: id(1), to: id(2), term: T(2), snapshot: meta }]);
    expect(node.status().progress!.get(id(2))!.state).toBe(ProgressState.Snapshot);
    // No snapshot storm: nothing more goes to member 2 until the transfer is reported.
    node.tick();
    node.propose(bytes('x'));
    expect(drain(node, storage).filter((m) => m.to === id(2) && m.type !== 'Heartbeat')).toEqual([]);
    node.reportSnapshot(id(2), true);
    node.step(appendResponse(2, 1, 2, 5));
    expect(node.status().progress!.get(id(2))).toMatchObject({ state: ProgressState.Replicate, match: 5 });
  });

  it('a follower installs a snapshot it lacks: the log is replaced and commit jumps to it', () => {
    const { node, storage } = newNode(2, [1, 2, 3], { term: 2, logTerms: [1, 1] });
    const meta: SnapshotMeta = { index: I(10), term: T(2), config };
    node.step({ type: 'Snapshot', from: id(1), to: id(2), term: T(2), snapshot: meta });
    const ready = handle(node, storage)!;
    expect(ready.snapshot).toEqual(meta);
    expect(ready.committedEntries).toEqual([]);
    expect(ready.messages).toEqual([appendResponse(2, 1, 2, 10)]);
    expect(storage.snapshotMeta()).toEqual(meta);
    expect(storage.allEntries()).toEqual([]);
    expect(node.status()).toMatchObject({ commit: 10, applied: 10, lastIndex: 10 });
  });

  it('a follower whose log already holds the snapshot point keeps the suffix after it and just commits', () => {
    const { node, storage } = newNode(2, [1, 2, 3], { term: 2, logTerms: [1, 1, 2, 2] });
    node.step({ type: 'Snapshot', from: id(1), to: id(2), term: T(2), snapshot: { index: I(3), term: T(2), config } });
    const ready = handle(node, storage)!;
    expect(ready.snapshot).toBeUndefined();
    expect(ready.committedEntries.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(storage.allEntries().map((e) => e.index)).toEqual([1, 2, 3, 4]);
  });

  it('a stale snapshot (at or below commit) is answered with the commit index and ignored', () => {
    const { node, storage } = newNode(2, [1, 2, 3], { term: 2, logTerms: [1, 1, 1], commit: 3 });
    node.step({ type: 'Snapshot', from: id(1), to: id(2), term: T(2), snapshot: { index: I(2), term: T(1), config } });
    const ready = handle(node, storage)!;
    expect(ready.snapshot).toBeUndefined();
    expect(ready.messages).toEqual([appendResponse(2, 1, 2, 3)]);
  });

  it('a restored follower continues from the entries after the snapshot', () => {
    const { node, storage } = newNode(2, [1, 2, 3], { term: 2 });
    node.step({ type: 'Snapshot', from: id(1), to: id(2), term: T(2), snapshot: { index: I(10), term: T(2), config } });
    handle(node, storage);
    node.step({ type: 'Append', from: id(1), to: id(2), term: T(2), prevLogIndex: I(10), prevLogTerm: T(2), entries: [entry(11, 2)], commit: I(11) });
    const ready = handle(node, storage)!;
    expect(ready.committedEntries.map((e) => e.index)).toEqual([11]);
    expect(ready.messages).toEqual([appendResponse(2, 1, 2, 11)]);
  });

  it('a failed transfer is retried (probe, then a new snapshot once the follower answers)', () => {
    const c = new TestCluster([1, 2, 3], { checkQuorum: true });
    const leader = c.member(Number(c.electLeader()));
    leader.node.propose(bytes('a'));
    c.settle();
    const follower = [...c.members.values()].find((m) => m.id !== leader.id)!;
    expect(follower.storage.lastIndex()).toBe(leader.storage.lastIndex());
    expect(leader.node.status().progress!.get(follower.id)!.state).toBe(ProgressState.Replicate);
    leader.node.reportSnapshot(follower.id, false); // not in snapshot state: ignored
    expect(leader.node.status().progress!.get(follower.id)!.state).toBe(ProgressState.Replicate);
  });
});
