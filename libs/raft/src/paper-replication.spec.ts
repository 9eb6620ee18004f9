/**
 * Paper tests for log replication and commitment: Raft paper §5.3 and §5.4.2.
 */
import { EntryType } from './types';
import type { AppendRequest } from './messages';
import { ProgressState } from './progress';
import { Role } from './ready';
import { TestCluster, bytes, text } from './testing/test-cluster';
import { I, T, appendResponse, drain, drainCommitted, entry, handle, id, makeLeader, newNode, steadyLeader } from './testing/paper-helpers';


/** A leader of term 1 for [1,2,3] whose followers have acknowledged its no-op. */
describe('§5.3 log replication', () => {
  it('a leader appends a proposal to its log and sends it to every follower after the previous entry', () => {
    const { node, storage } = steadyLeader();
    const ticket = node.propose(bytes('x'));
    expect(ticket).toEqual({ index: I(2), term: T(1) });
    const ready = handle(node, storage)!;
    const e = { index: I(2), term: T(1), type: EntryType.Normal, data: bytes('x') };
    expect(ready.entries).toEqual([e]);
    // The leader may send before its own write is durable (dissertation §10.2.1).
    expect(ready.earlyMessages).toEqual([
      { type: 'Append', from: id(1), to: id(2), term: T(1), prevLogIndex: I(1), prevLogTerm: T(1), entries: [e], commit: I(1) },
      { type: 'Append', from: id(1), to: id(3), term: T(1), prevLogIndex: I(1), prevLogTerm: T(1), entries: [e], commit: I(1) },
    ]);
    expect(ready.messages).toEqual([]);
  });

  it('proposals made between two Readies travel in one Append per follower', () => {
    const { node, storage } = steadyLeader();
    node.propose(bytes('a'));
    node.propose(bytes('b'));
    node.proposeBatch([bytes('c'), bytes('d')]);
    const appends = handle(node, storage)!.earlyMessages as AppendRequest[];
    expect(appends).toHaveLength(2);
    expect(appends[0]!.entries.map((e) => text(e.data))).toEqual(['a', 'b', 'c', 'd']);
  });

  it('commits once a majority (counting the leader only once durable) holds the entry, then tells followers', () => {
    const { node, storage } = steadyLeader();
    node.propose(bytes('x'));
    const ready = node.ready();
    // Not durable on the leader yet: one follower's ack is not a majority of three.
    node.step(appendResponse(2, 1, 1, 2));
    expect(node.status().commit).toBe(1);
    storage.append(ready.entries);
    node.advance(ready);
    expect(node.status().commit).toBe(2);
    const next = handle(node, storage)!;
    expect(next.committedEntries.map((e) => text(e.data))).toEqual(['x']);
    expect(next.earlyMessages).toEqual([
      { type: 'Append', from: id(1), to: id(2), term: T(1), prevLogIndex: I(2), prevLogTerm: T(1), entries: [], commit: I(2) },
      // Member 3 already has entry 2 in flight (Replicate): it needs only the new commit index.
      { type: 'Append', from: id(1), to: id(3), term: T(1), prevLogIndex: I(2), prevLogTerm: T(1), entries: [], commit: I(2) },
    ]);
  });

  it.each([
    // [cluster size, acks from followers, committed?]
    [1, [], true],
    [3, [], false],
    [3, [2], true],
    [5, [2], false],
    [5, [2, 3], true],
    [5, [2, 3, 4, 5], true],
  ])('with %i voters and acks from %j, commit is %s', (size, acks, committed) => {
    const voters = Array.from({ length: size }, (_, k) => k + 1);
    const { node, storage } = makeLeader(1, voters);
    drain(node, storage);
    for (const from of acks) {
      node.step(appendResponse(from, 1, 1, 1));
    }
    expect(node.status().commit).toBe(committed ? 1 : 0);
  });

  it('committing an entry commits every preceding entry, including earlier terms', () => {
    const { node, storage } = makeLeader(1, [1, 2, 3], { logTerms: [1, 1], term: 1 });
    drain(node, storage);
    node.step(appendResponse(2, 1, 2, 3));
    const committed = drainCommitted(node, storage);
    expect(committed.map((e) => [e.index, e.term])).toEqual([
      [1, 1],
      [2, 1],
      [3, 2],
    ]);
  });

  it('a follower commits up to the leader commit, bounded by what it holds', () => {
    const { node, storage } = newNode(2, [1, 2, 3], { term: 1, logTerms: [1] });
    node.step({ type: 'Append', from: id(1), to: id(2), term: T(1), prevLogIndex: I(1), prevLogTerm: T(1), entries: [entry(2, 1), entry(3, 1)], commit: I(5) });
    const ready = handle(node, storage)!;
    expect(node.status().commit).toBe(3);
    expect(ready.committedEntries.map((e) => e.index)).toEqual([1, 2, 3]);
    // The acknowledgement waits for the entries to be durable.
    expect(ready.earlyMessages).toEqual([]);
    expect(ready.messages).toEqual([appendResponse(2, 1, 1, 3)]);
  });

  it.each([
    // [prevIndex, prevTerm, accept?, hintIndex, hintTerm] against the follower log [1, 2, 2]
    [0, 0, true, 0, 0],
    [1, 1, true, 0, 0],
    [3, 2, true, 0, 0],
    [3, 3, false, 3, 2], // same index, newer term at the leader: the follower offers its last entry of term <= 3
    [4, 2, false, 3, 2], // beyond the follower's log: hint its last index
    [2, 1, false, 1, 1], // term 2 at index 2 conflicts with the leader's term 1: skip back to index 1
  ])('the consistency check: prev (%i, %i) accepted=%s, hint (%i, %i)', (prevIndex, prevTerm, accepted, hintIndex, hintTerm) => {
    const { node, storage } = newNode(2, [1, 2, 3], { term: 3, logTerms: [1, 2, 2] });
    node.step({ type: 'Append', from: id(1), to: id(2), term: T(3), prevLogIndex: I(prevIndex), prevLogTerm: T(prevTerm), entries: [], commit: I(0) });
    const msgs = drain(node, storage);
    expect(msgs).toEqual([
      {
        type: 'AppendResponse',
        from: id(2),
        to: id(1),
        term: T(3),
        index: I(accepted ? prevIndex : prevIndex),
        reject: !accepted,
        hintIndex: I(hintIndex),
        hintTerm: T(hintTerm),
      },
    ]);
  });

  it('a follower deletes a conflicting entry and all that follow it, then appends the new ones', () => {
    const { node, storage } = newNode(2, [1, 2, 3], { term: 2, logTerms: [1, 1, 1] });
    node.step({ type: 'Append', from: id(1), to: id(2), term: T(3), prevLogIndex: I(1), prevLogTerm: T(1), entries: [entry(2, 3), entry(3, 3), entry(4, 3)], commit: I(0) });
    const ready = handle(node, storage)!;
    expect(ready.entries.map((e) => [e.index, e.term])).toEqual([
      [2, 3],
      [3, 3],
      [4, 3],
    ]);
    expect(storage.allEntries().map((e) => e.term)).toEqual([1, 3, 3, 3]);
  });

  it('entries already present are not rewritten (duplicate Append is idempotent)', () => {
    const { node, storage } = newNode(2, [1, 2, 3], { term: 1, logTerms: [1, 1] });
    node.step({ type: 'Append', from: id(1), to: id(2), term: T(1), prevLogIndex: I(0), prevLogTerm: T(0), entries: [entry(1, 1), entry(2, 1)], commit: I(0) });
    const ready = handle(node, storage)!;
    expect(ready.entries).toEqual([]);
    expect(ready.messages).toEqual([appendResponse(2, 1, 1, 2)]);
  });

  it('figure 7: a new leader brings every possible follower log into agreement with its own', () => {
    // Terms of the logs (a)–(f) of figure 7 against the leader's log, with the leader elected in term 8.
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const followers = [
      [1, 1, 1, 4, 4, 5, 5, 6, 6], // (a) missing one
      [1, 1, 1, 4], // (b) missing many
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // (c) an extra uncommitted entry
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // (d) extra entries of term 7
      [1, 1, 1, 4, 4, 4, 4], // (e) conflicting term 4 entries
      [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // (f) conflicting terms 2 and 3
    ];
    for (const followerLog of followers) {
      const c = new TestCluster([1, 2, 3], {}, []);
      for (const [who, log] of [
        [1, leaderLog],
        [2, followerLog],
        [3, leaderLog],
      ] as const) {
        const m = c.member(who);
        m.storage.applySnapshot({ index: I(0), term: T(0), config: { voters: [id(1), id(2), id(3)], learners: [] } });
        m.storage.append(log.map((t, k) => entry(k + 1, t)));
        m.storage.setHardState({ term: T(7), vote: id(0), commit: I(0) });
        c.restart(who);
      }
      c.member(1).node.campaign();
      c.settle();
      c.tickAll(3);
      expect(c.leader()).toBe(id(1));
      const leaderTerms = c.member(1).storage.allEntries().map((e) => e.term);
      expect(c.member(2).storage.allEntries().map((e) => e.term)).toEqual(leaderTerms);
      expect(leaderTerms.slice(0, 10)).toEqual(leaderLog);
    }
  });

  it('repairs a divergent follower in about one round trip per term, not per entry', () => {
    // Follower (f) above: 8 conflicting entries in two terms.
    const { node, storage } = makeLeader(1, [1, 2], { logTerms: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6], term: 7 });
    const follower = newNode(2, [1, 2], { term: 8, logTerms: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3] });
    let rounds = 0;
    let inbox = drain(node, storage);
    while (node.status().progress!.get(id(2))!.state !== ProgressState.Replicate && rounds < 20) {
      const toFollower = inbox.filter((m) => m.to === id(2) && m.type === 'Append');
      inbox = [];
      for (const m of toFollower) {
        follower.node.step(m);
      }
      for (const m of drain(follower.node, follower.storage)) {
        node.step(m);
      }
      inbox.push(...drain(node, storage));
      rounds++;
    }
    expect(node.status().progress!.get(id(2))!.state).toBe(ProgressState.Replicate);
    expect(rounds).toBeLessThanOrEqual(3);
    expect(node.status().role).toBe(Role.Leader);
  });
});

describe('§5.4.2 committing entries from previous terms', () => {
  it('a leader does not commit an entry of an earlier term by counting replicas', () => {
    // Figure 8: leader of term 4 holds entry 2 of term 2 replicated on a majority; it must not
    // commit it until an entry of term 4 is replicated too.
    const { node, storage } = makeLeader(1, [1, 2, 3, 4, 5], { logTerms: [1, 2], term: 3 });
    drain(node, storage);
    expect(node.status().term).toBe(4);
    // Followers acknowledge index 2 only (not the no-op at index 3).
    node.step(appendResponse(2, 1, 4, 2));
    node.step(appendResponse(3, 1, 4, 2));
    expect(node.status().commit).toBe(0);
    // Once a majority holds the term-4 no-op, everything before it commits too.
    node.step(appendResponse(2, 1, 4, 3));
    node.step(appendResponse(3, 1, 4, 3));
    expect(node.status().commit).toBe(3);
  });
});
