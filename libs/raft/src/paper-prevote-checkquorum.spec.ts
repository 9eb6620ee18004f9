/**
 * Pre-vote (dissertation §9.6) and check-quorum with the leader lease it gives followers
 * (§6.2, §9.6): a member cut off and rejoining must not depose a healthy leader, and a leader
 * cut off from a quorum must step down.
 */
import { Role } from './ready';
import { TestCluster } from './testing/test-cluster';
import { I, T, drain, handle, id, makeLeader, newNode, tickN } from './testing/paper-helpers';
import { nodeId } from './types';

describe('pre-vote (§9.6)', () => {
  it('a pre-candidate keeps its term and vote and asks for pre-votes at term + 1', () => {
    const { node, storage } = newNode(1, [1, 2, 3], { term: 2, logTerms: [1, 2], config: { preVote: true } });
    tickN(node, 20);
    expect(node.status()).toMatchObject({ role: Role.PreCandidate, term: 2, vote: id(0) });
    const ready = handle(node, storage)!;
    expect(ready.hardState).toBeUndefined();
    expect(ready.earlyMessages).toEqual([
      { type: 'PreVote', from: id(1), to: id(2), term: T(3), lastLogIndex: I(2), lastLogTerm: T(2) },
      { type: 'PreVote', from: id(1), to: id(3), term: T(3), lastLogIndex: I(2), lastLogTerm: T(2) },
    ]);
  });

  it('a granted pre-vote answers in the asked term and changes nothing on the voter', () => {
    const { node, storage } = newNode(2, [1, 2, 3], { term: 2, config: { preVote: true } });
    node.step({ type: 'PreVote', from: id(1), to: id(2), term: T(3), lastLogIndex: I(0), lastLogTerm: T(0) });
    expect(drain(node, storage)).toEqual([{ type: 'PreVoteResponse', from: id(2), to: id(1), term: T(3), reject: false }]);
    expect(node.status()).toMatchObject({ term: 2, vote: id(0) });
  });

  it('a pre-candidate with a majority of pre-votes becomes a real candidate', () => {
    const { node, storage } = newNode(1, [1, 2, 3], { term: 2, config: { preVote: true } });
    tickN(node, 20);
    drain(node, storage);
    node.step({ type: 'PreVoteResponse', from: id(2), to: id(1), term: T(3), reject: false });
    expect(node.status()).toMatchObject({ role: Role.Candidate, term: 3, vote: id(1) });
  });

  it('a member rejoining after a partition does not disturb the leader or the term', () => {
    const c = new TestCluster([1, 2, 3], { preVote: true, checkQuorum: true });
    const leader = c.electLeader();
    const term = c.member(Number(leader)).node.status().term;
    const other = [1, 2, 3].find((n) => nodeId(n) !== leader)!;
    c.isolate(other);
    c.tickAll(100); // the isolated member times out again and again
    expect(c.member(other).node.status().term).toBe(term);
    c.heal();
    c.tickAll(20);
    expect(c.leader()).toBe(leader);
    expect(c.member(Number(leader)).node.status().term).toBe(term);
  });
});

describe('check-quorum (§6.2)', () => {
  it('a leader that hears from no quorum for an election timeout steps down', () => {
    const { node, storage } = makeLeader(1, [1, 2, 3], { config: { checkQuorum: true } });
    drain(node, storage);
    tickN(node, 9);
    expect(node.status().role).toBe(Role.Leader);
    node.tick();
    expect(node.status()).toMatchObject({ role: Role.Follower, leader: id(0), term: 1 });
  });

  it('a leader that keeps hearing from a quorum stays leader', () => {
    const { node, storage } = makeLeader(1, [1, 2, 3], { config: { checkQuorum: true } });
    drain(node, storage);
    for (let t = 0; t < 50; t++) {
      node.tick();
      for (const m of drain(node, storage)) {
        if (m.type === 'Heartbeat' && m.to === id(2)) {
          node.step({ type: 'HeartbeatResponse', from: id(2), to: id(1), term: m.term, round: m.round });
        }
      }
    }
    expect(node.status().role).toBe(Role.Leader);
  });

  it('a follower that heard from its leader within the election timeout ignores vote requests (lease)', () => {
    const { node, storage } = newNode(2, [1, 2, 3], { term: 1, config: { checkQuorum: true } });
    node.step({ type: 'Heartbeat', from: id(1), to: id(2), term: T(1), commit: I(0), round: 1 });
    drain(node, storage);
    node.step({ type: 'Vote', from: id(3), to: id(2), term: T(2), lastLogIndex: I(9), lastLogTerm: T(1), transfer: false });
    expect(drain(node, storage)).toEqual([]);
    expect(node.status()).toMatchObject({ term: 1, leader: id(1) });
    // After an election timeout without the leader, it votes again.
    tickN(node, 10);
    node.step({ type: 'Vote', from: id(3), to: id(2), term: T(2), lastLogIndex: I(9), lastLogTerm: T(1), transfer: false });
    expect(drain(node, storage)).toContainEqual({ type: 'VoteResponse', from: id(2), to: id(3), term: T(2), reject: false });
  });

  it('a vote request flagged as a leader transfer bypasses the lease (§3.10)', () => {
    const { node, storage } = newNode(2, [1, 2, 3], { term: 1, config: { checkQuorum: true } });
    node.step({ type: 'Heartbeat', from: id(1), to: id(2), term: T(1), commit: I(0), round: 1 });
    drain(node, storage);
    node.step({ type: 'Vote', from: id(3), to: id(2), term: T(2), lastLogIndex: I(0), lastLogTerm: T(0), transfer: true });
    expect(drain(node, storage)).toEqual([{ type: 'VoteResponse', from: id(2), to: id(3), term: T(2), reject: false }]);
  });

  it('a partitioned leader steps down; the majority elects another; no two leaders share a term', () => {
    const c = new TestCluster([1, 2, 3, 4, 5], { preVote: true, checkQuorum: true });
    const first = c.electLeader();
    c.isolate(Number(first));
    c.tickAll(40);
    expect(c.member(Number(first)).node.status().role).not.toBe(Role.Leader);
    const second = c.leader();
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
  });
});
