/**
 * Membership changes (dissertation §4.1–§4.2): single-server changes, one at a time, taking
 * effect when appended; learners (§4.2.1); removing the leader (§4.2.2).
 */
import { decodeConfChangeEntry } from './conf-change-codec';
import { ConfChangeRefusedError, NotLeaderError } from './errors';
import { Role } from './ready';
import { TestCluster, bytes, text } from './testing/test-cluster';
import { I, T, appendResponse, drain, handle, id, newNode, steadyLeader } from './testing/paper-helpers';
import { ConfChangeType, EntryType, nodeId } from './types';

const change = (type: ConfChangeType, who: number) => ({ type, nodeId: id(who), context: bytes(`member ${who}`) });

describe('single-server membership changes (§4.1)', () => {
  it('the entry carries the change and the whole resulting configuration, in effect once appended', () => {
    const { node, storage } = steadyLeader();
    node.proposeConfChange(change(ConfChangeType.AddLearner, 4));
    expect(node.status().config).toEqual({ voters: [id(1), id(2), id(3)], learners: [id(4)] });
    const ready = handle(node, storage)!;
    const e = ready.entries[0]!;
    expect(e.type).toBe(EntryType.ConfChange);
    expect(decodeConfChangeEntry(e.data)).toEqual({ change: change(ConfChangeType.AddLearner, 4), config: { voters: [id(1), id(2), id(3)], learners: [id(4)] } });
    // The new learner is replicated to at once.
    expect(ready.earlyMessages.map((m) => m.to)).toContain(id(4));
  });

  it('refuses a second change while one is uncommitted, naming why', () => {
    const { node } = steadyLeader();
    node.proposeConfChange(change(ConfChangeType.AddLearner, 4));
    expect(() => node.proposeConfChange(change(ConfChangeType.AddLearner, 5))).toThrow(/not committed yet; one change at a time/);
  });

  it.each([
    [ConfChangeType.AddVoter, 2, /2 is already a voter/],
    [ConfChangeType.AddLearner, 3, /3 is already a member/],
    [ConfChangeType.PromoteLearner, 2, /2 is not a learner/],
    [ConfChangeType.RemoveMember, 9, /9 is not a member/],
    [ConfChangeType.AddVoter, 0, /reserved/],
  ])('refuses an invalid change (%s of %i)', (type, who, reason) => {
    const { node } = steadyLeader();
    expect(() => node.proposeConfChange(change(type, who))).toThrow(ConfChangeRefusedError);
    expect(() => node.proposeConfChange(change(type, who))).toThrow(reason);
  });

  it('refuses to remove the last voter, and followers refuse changes (not leader)', () => {
    const solo = steadyLeader({ voters: [1] });
    expect(() => solo.node.proposeConfChange(change(ConfChangeType.RemoveMember, 1))).toThrow(/last voter/);
    const { node } = newNode(2, [1, 2, 3]);
    expect(() => node.proposeConfChange(change(ConfChangeType.AddLearner, 4))).toThrow(NotLeaderError);
  });

  it('a follower adopts a configuration as soon as it appends the entry, before commit', () => {
    const { node } = newNode(2, [1, 2, 3], { term: 1, logTerms: [1] });
    const leader = steadyLeader();
    leader.node.proposeConfChange(change(ConfChangeType.AddVoter, 4));
    const append = handle(leader.node, leader.storage)!.earlyMessages.find((m) => m.to === id(2))!;
    node.step(append);
    expect(node.status().config.voters).toEqual([id(1), id(2), id(3), id(4)]);
    expect(node.status().commit).toBeLessThan(2);
  });

  it('a follower whose uncommitted configuration is truncated falls back to the previous one', () => {
    const leader = steadyLeader();
    leader.node.proposeConfChange(change(ConfChangeType.AddVoter, 4));
    const append = handle(leader.node, leader.storage)!.earlyMessages.find((m) => m.to === id(2))!;
    const { node } = newNode(2, [1, 2, 3], { term: 1, logTerms: [1] });
    node.step(append);
    expect(node.status().config.voters).toHaveLength(4);
    // A new leader of term 2 overwrites index 2 with its own entry.
    node.step({ type: 'Append', from: id(3), to: id(2), term: T(2), prevLogIndex: I(1), prevLogTerm: T(1), entries: [{ index: I(2), term: T(2), type: EntryType.Normal, data: bytes('x') }], commit: I(1) });
    expect(node.status().config).toEqual({ voters: [id(1), id(2), id(3)], learners: [] });
  });
});

describe('learners (§4.2.1)', () => {
  it('a learner receives the log but never votes, never campaigns and never counts toward commit', () => {
    const { node, storage } = steadyLeader({ learners: [4] });
    node.propose(bytes('x'));
    const ready = handle(node, storage)!;
    expect(ready.earlyMessages.map((m) => m.to)).toEqual([id(2), id(3), id(4)]);
    node.step(appendResponse(4, 1, 1, 2));
    expect(node.status().commit).toBe(1);
    node.step(appendResponse(2, 1, 1, 2));
    expect(node.status().commit).toBe(2);
    const learner = newNode(4, [1, 2, 3], { learners: [4] });
    for (let t = 0; t < 100; t++) {
      learner.node.tick();
    }
    expect(learner.node.status().role).toBe(Role.Follower);
    expect(drain(learner.node, learner.storage)).toEqual([]);
  });

  it('a learner added, caught up and promoted becomes a voter that counts', () => {
    const c = new TestCluster([1, 2, 3]);
    c.add(4);
    const leader = c.member(Number(c.electLeader()));
    leader.node.propose(bytes('before'));
    c.settle();
    leader.node.proposeConfChange(change(ConfChangeType.AddLearner, 4));
    c.settle();
    c.tickAll(3);
    expect(c.member(4).applied.map((e) => text(e.data))).toEqual(['before']);
    leader.node.proposeConfChange(change(ConfChangeType.PromoteLearner, 4));
    c.settle();
    for (const m of c.members.values()) {
      expect(m.node.status().config).toEqual({ voters: [id(1), id(2), id(3), id(4)], learners: [] });
    }
  });
});

describe('removing members (§4.2.2)', () => {
  it('a leader that removes itself keeps leading until the change commits, then steps down; the rest elect a leader', () => {
    const c = new TestCluster([1, 2, 3]);
    const leaderId = c.electLeader();
    const leader = c.member(Number(leaderId));
    leader.node.proposeConfChange(change(ConfChangeType.RemoveMember, Number(leaderId)));
    expect(leader.node.status().role).toBe(Role.Leader);
    c.settle();
    expect(leader.node.status().role).toBe(Role.Follower);
    c.members.delete(leaderId);
    c.tickAll(60);
    const next = c.leader();
    expect(next).toBeDefined();
    expect(next).not.toBe(leaderId);
    c.member(Number(next)).node.propose(bytes('after'));
    c.settle();
    for (const m of c.members.values()) {
      expect(m.applied.map((e) => text(e.data))).toContain('after');
      expect(m.node.status().config.voters).not.toContain(leaderId);
    }
  });

  it('a removed follower gets no more replication', () => {
    const c = new TestCluster([1, 2, 3]);
    const leader = c.member(Number(c.electLeader()));
    const victim = [1, 2, 3].map((n) => nodeId(n)).find((n) => n !== leader.id)!;
    leader.node.proposeConfChange(change(ConfChangeType.RemoveMember, Number(victim)));
    c.settle();
    leader.node.propose(bytes('later'));
    c.settle();
    expect(c.member(Number(victim)).applied.map((e) => text(e.data))).not.toContain('later');
    expect(leader.node.status().progress!.has(victim)).toBe(false);
  });
});
