import { NotLeaderError } from './errors';
import { ReadMode } from './node';
import { TestCluster, bytes, text } from './testing/test-cluster';
import { nodeId } from './types';

describe('whole-cluster behaviour (in-memory)', () => {
  it('elects one leader and replicates and applies a proposal everywhere', () => {
    const c = new TestCluster([1, 2, 3]);
    const leader = c.electLeader();
    c.member(Number(leader)).node.propose(bytes('x=1'));
    c.settle();
    for (const m of c.members.values()) {
      expect(m.applied.map((e) => text(e.data))).toEqual(['x=1']);
    }
  });

  it('a follower refuses proposals and names the leader', () => {
    const c = new TestCluster([1, 2, 3]);
    const leader = c.electLeader();
    const follower = [...c.members.values()].find((m) => m.id !== leader)!;
    expect(() => follower.node.propose(bytes('y'))).toThrow(NotLeaderError);
    try {
      follower.node.propose(bytes('y'));
    } catch (error) {
      expect((error as NotLeaderError).leaderHint).toBe(leader);
    }
  });

  it('elects a new leader after the old one is isolated, and the old one rejoins as follower', () => {
    const c = new TestCluster([1, 2, 3]);
    const first = c.electLeader();
    c.isolate(Number(first));
    c.tickAll(60);
    const second = c.leader();
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    c.member(Number(second)).node.propose(bytes('after'));
    c.settle();
    c.heal();
    c.tickAll(30);
    expect(c.leader()).toBe(second);
    for (const m of c.members.values()) {
      expect(m.applied.map((e) => text(e.data))).toEqual(['after']);
    }
  });

  it('serves ReadIndex on the leader and on followers', () => {
    const c = new TestCluster([1, 2, 3]);
    const leader = c.electLeader();
    c.member(Number(leader)).node.readIndex('r1');
    const follower = [...c.members.values()].find((m) => m.id !== leader)!;
    follower.node.readIndex('r2');
    c.settle();
    expect(c.member(Number(leader)).readStates.map((r) => r.context)).toEqual(['r1']);
    expect(follower.readStates.map((r) => r.context)).toEqual(['r2']);
  });

  it('serves a lease read without a heartbeat round while the lease holds', () => {
    const c = new TestCluster([1, 2, 3], { leaseReads: true });
    const leader = c.member(Number(c.electLeader()));
    c.tickAll(2);
    expect(leader.node.hasValidLease()).toBe(true);
    const sentBefore = c.sent.length;
    leader.node.readIndex('lease', ReadMode.Lease);
    c.settle();
    expect(leader.readStates.map((r) => r.context)).toEqual(['lease']);
    expect(c.sent.slice(sentBefore).filter((m) => m.type === 'Heartbeat')).toHaveLength(0);
  });

  it('a single-member cluster commits on its own', () => {
    const c = new TestCluster([1]);
    c.electLeader();
    c.member(1).node.propose(bytes('solo'));
    c.settle();
    expect(c.member(1).applied.map((e) => text(e.data))).toEqual(['solo']);
    expect(c.member(1).node.status().leader).toBe(nodeId(1));
  });
});
