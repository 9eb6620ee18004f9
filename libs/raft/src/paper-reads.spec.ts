/**
 * ReadIndex and lease reads (dissertation §6.4, §6.4.1).
 */
import { NotLeaderError } from './errors';
import { ReadMode } from './node';
import { Role } from './ready';
import { TestCluster, bytes } from './testing/test-cluster';
import { I, T, appendResponse, drain, handle, id, makeLeader, newNode, steadyLeader } from './testing/paper-helpers';

describe('ReadIndex (§6.4)', () => {
  it('records the commit index and confirms leadership with one heartbeat round before answering', () => {
    const { node, storage } = steadyLeader();
    node.readIndex('a');
    node.readIndex('b');
    const ready = handle(node, storage)!;
    // Both reads share one round.
    expect(ready.earlyMessages).toEqual([
      { type: 'Heartbeat', from: id(1), to: id(2), term: T(1), commit: I(1), round: 1 },
      { type: 'Heartbeat', from: id(1), to: id(3), term: T(1), commit: I(1), round: 1 },
    ]);
    expect(ready.readStates).toEqual([]);
    node.step({ type: 'HeartbeatResponse', from: id(2), to: id(1), term: T(1), round: 1 });
    expect(handle(node, storage)!.readStates).toEqual([
      { context: 'a', index: I(1) },
      { context: 'b', index: I(1) },
    ]);
  });

  it('an acknowledgement of an older round does not confirm a newer read', () => {
    const { node, storage } = steadyLeader();
    node.tick(); // round 1
    drain(node, storage);
    node.readIndex('late'); // needs round 2
    drain(node, storage);
    node.step({ type: 'HeartbeatResponse', from: id(2), to: id(1), term: T(1), round: 1 });
    expect(node.hasReady() ? handle(node, storage)!.readStates : []).toEqual([]);
    node.step({ type: 'HeartbeatResponse', from: id(3), to: id(1), term: T(1), round: 2 });
    expect(handle(node, storage)!.readStates).toEqual([{ context: 'late', index: I(1) }]);
  });

  it('a new leader serves no read before an entry of its own term commits', () => {
    const { node, storage } = makeLeader(1, [1, 2, 3]);
    drain(node, storage);
    node.readIndex('early');
    drain(node, storage);
    node.step({ type: 'HeartbeatResponse', from: id(2), to: id(1), term: T(1), round: 1 });
    expect(node.hasReady() ? handle(node, storage)!.readStates : []).toEqual([]);
    node.step(appendResponse(2, 1, 1, 1)); // the no-op commits
    const msgs = drain(node, storage);
    const round = msgs.find((m) => m.type === 'Heartbeat');
    expect(round).toBeDefined();
    node.step({ type: 'HeartbeatResponse', from: id(2), to: id(1), term: T(1), round: (round as { round: number }).round });
    expect(handle(node, storage)!.readStates).toEqual([{ context: 'early', index: I(1) }]);
  });

  it('a follower forwards the read to its leader and serves the index the leader returns', () => {
    const { node, storage } = newNode(2, [1, 2, 3], { term: 1 });
    expect(() => node.readIndex('x')).toThrow(NotLeaderError);
    node.step({ type: 'Heartbeat', from: id(1), to: id(2), term: T(1), commit: I(0), round: 1 });
    drain(node, storage);
    node.readIndex('x');
    expect(drain(node, storage)).toEqual([{ type: 'ReadIndex', from: id(2), to: id(1), term: T(1), context: 'x' }]);
    node.step({ type: 'ReadIndexResponse', from: id(1), to: id(2), term: T(1), context: 'x', index: I(7), reject: false });
    expect(handle(node, storage)!.readStates).toEqual([{ context: 'x', index: I(7) }]);
  });

  it('reads waiting on a leader that loses leadership are reported failed, to be retried', () => {
    const { node, storage } = steadyLeader();
    node.readIndex('lost');
    drain(node, storage);
    node.step({ type: 'Append', from: id(2), to: id(1), term: T(2), prevLogIndex: I(0), prevLogTerm: T(0), entries: [], commit: I(0) });
    const ready = handle(node, storage)!;
    expect(node.status().role).toBe(Role.Follower);
    expect(ready.failedReads).toEqual(['lost']);
  });

  it('every read in a cluster observes every write acknowledged before it began', () => {
    const c = new TestCluster([1, 2, 3]);
    const leader = c.electLeader();
    c.member(Number(leader)).node.propose(bytes('w'));
    c.settle();
    const writeIndex = c.member(Number(leader)).applied[0]!.index;
    for (const m of c.members.values()) {
      m.node.readIndex(`r${m.id}`);
    }
    c.settle();
    for (const m of c.members.values()) {
      expect(m.readStates[0]!.index).toBeGreaterThanOrEqual(writeIndex);
    }
  });
});

describe('lease reads (§6.4.1)', () => {
  it('are refused without check-quorum (config validation)', () => {
    expect(() => newNode(1, [1], { config: { leaseReads: true, checkQuorum: false } })).toThrow(/leaseReads needs checkQuorum/);
  });

  it('hold from the send time of the acknowledged round for T minus the drift margin, then lapse', () => {
    const { node, storage } = steadyLeader({ config: { checkQuorum: true, leaseReads: true, leaseDriftMarginTicks: 2 } });
    expect(node.hasValidLease()).toBe(false);
    node.tick(); // round 1 sent at tick 1
    drain(node, storage);
    node.step({ type: 'HeartbeatResponse', from: id(2), to: id(1), term: T(1), round: 1 });
    expect(node.hasValidLease()).toBe(true);
    node.readIndex('fast', ReadMode.Lease);
    expect(handle(node, storage)!.readStates).toEqual([{ context: 'fast', index: I(1) }]);
    // Lease = sent at tick 1 + (10 - 2) ticks: valid through tick 8, not at tick 9.
    for (let t = 2; t <= 8; t++) {
      node.tick();
      drain(node, storage);
    }
    expect(node.hasValidLease()).toBe(true);
    node.tick();
    drain(node, storage);
    expect(node.hasValidLease()).toBe(false);
  });

  it('fall back to a heartbeat round when the lease has lapsed', () => {
    const { node, storage } = steadyLeader({ config: { checkQuorum: true, leaseReads: true } });
    node.readIndex('slow', ReadMode.Lease);
    const ready = handle(node, storage)!;
    expect(ready.readStates).toEqual([]);
    expect(ready.earlyMessages.filter((m) => m.type === 'Heartbeat')).toHaveLength(2);
  });

  it('are forfeited for the rest of the term once TimeoutNow was sent, even after the transfer aborts', () => {
    const { node, storage } = steadyLeader({ config: { checkQuorum: true, leaseReads: true } });
    const ackRounds = (): void => {
      for (const m of drain(node, storage)) {
        if (m.type === 'Heartbeat') {
          node.step({ type: 'HeartbeatResponse', from: m.to, to: id(1), term: m.term, round: m.round });
        }
      }
    };
    node.tick();
    ackRounds();
    expect(node.hasValidLease()).toBe(true);
    node.transferLeadership(id(2));
    expect(drain(node, storage)).toContainEqual({ type: 'TimeoutNow', from: id(1), to: id(2), term: T(1) });
    expect(node.hasValidLease()).toBe(false);
    // The transfer aborts after an election timeout; every round is acknowledged by a quorum.
    for (let t = 0; t < 25; t++) {
      node.tick();
      ackRounds();
    }
    expect(node.status()).toMatchObject({ role: Role.Leader, term: 1, leadTransferee: undefined });
    // The TimeoutNow may still be in flight: reads take a heartbeat round instead of the lease.
    expect(node.hasValidLease()).toBe(false);
    node.readIndex('after-abort', ReadMode.Lease);
    const ready = handle(node, storage)!;
    expect(ready.readStates).toEqual([]);
    expect(ready.earlyMessages.filter((m) => m.type === 'Heartbeat')).toHaveLength(2);
  });

  it('a restarted member refuses votes for an election timeout, honouring a lease it may have promised', () => {
    const { node, storage } = newNode(2, [1, 2, 3], { term: 1, config: { checkQuorum: true, leaseReads: true } });
    node.step({ type: 'Vote', from: id(3), to: id(2), term: T(2), lastLogIndex: I(0), lastLogTerm: T(0), transfer: false });
    expect(drain(node, storage)).toEqual([]);
  });
});
