/**
 * Leadership transfer (dissertation §3.10).
 */
import { LeaderTransferInProgressError, NotLeaderError, TransferRefusedError } from './errors';
import { Role } from './ready';
import { TestCluster, bytes } from './testing/test-cluster';
import { I, T, appendResponse, drain, handle, id, newNode, steadyLeader } from './testing/paper-helpers';
import { nodeId } from './types';

const TRANSFER_SETUP = { learners: [4], config: { checkQuorum: true } };

describe('leader transfer (§3.10)', () => {
  it('sends TimeoutNow at once to an up-to-date target', () => {
    const { node, storage } = steadyLeader(TRANSFER_SETUP);
    node.transferLeadership(id(2));
    expect(handle(node, storage)!.earlyMessages).toEqual([{ type: 'TimeoutNow', from: id(1), to: id(2), term: T(1) }]);
  });

  it('first brings a lagging target up to date, then sends TimeoutNow', () => {
    const { node, storage } = steadyLeader(TRANSFER_SETUP);
    node.propose(bytes('x'));
    drain(node, storage);
    node.transferLeadership(id(3));
    expect(drain(node, storage).filter((m) => m.type === 'TimeoutNow')).toEqual([]);
    node.step(appendResponse(3, 1, 1, 2));
    expect(drain(node, storage)).toContainEqual({ type: 'TimeoutNow', from: id(1), to: id(3), term: T(1) });
  });

  it('refuses proposals while a transfer is in progress, and aborts it after an election timeout', () => {
    const { node, storage } = steadyLeader(TRANSFER_SETUP);
    node.propose(bytes('x'));
    drain(node, storage);
    node.transferLeadership(id(3));
    expect(() => node.propose(bytes('y'))).toThrow(LeaderTransferInProgressError);
    for (let t = 0; t < 10; t++) {
      node.tick();
      for (const m of drain(node, storage)) {
        if (m.type === 'Heartbeat') {
          node.step({ type: 'HeartbeatResponse', from: m.to, to: id(1), term: m.term, round: m.round });
        }
      }
    }
    expect(node.status()).toMatchObject({ role: Role.Leader, leadTransferee: undefined });
    expect(() => node.propose(bytes('y'))).not.toThrow();
  });

  it('refuses a target that is not a voter, and followers refuse transfers', () => {
    const { node } = steadyLeader(TRANSFER_SETUP);
    expect(() => node.transferLeadership(id(4))).toThrow(TransferRefusedError);
    expect(() => node.transferLeadership(id(9))).toThrow(/9 is not a voter/);
    const follower = newNode(2, [1, 2, 3]);
    expect(() => follower.node.transferLeadership(id(3))).toThrow(NotLeaderError);
  });

  it('TimeoutNow makes the target campaign at once, skipping pre-vote, with the transfer flag', () => {
    const { node, storage } = newNode(2, [1, 2, 3], { term: 1, config: { preVote: true, checkQuorum: true } });
    node.step({ type: 'Heartbeat', from: id(1), to: id(2), term: T(1), commit: I(0), round: 1 });
    drain(node, storage);
    node.step({ type: 'TimeoutNow', from: id(1), to: id(2), term: T(1) });
    expect(node.status()).toMatchObject({ role: Role.Candidate, term: 2 });
    expect(drain(node, storage)).toEqual([
      { type: 'Vote', from: id(2), to: id(1), term: T(2), lastLogIndex: I(0), lastLogTerm: T(0), transfer: true },
      { type: 'Vote', from: id(2), to: id(3), term: T(2), lastLogIndex: I(0), lastLogTerm: T(0), transfer: true },
    ]);
  });

  it('a follower honours TimeoutNow only from its leader of the current term', () => {
    const { node, storage } = newNode(2, [1, 2, 3], { term: 1, config: { preVote: true, checkQuorum: true } });
    // Leader not known yet (e.g. just restarted): nobody's TimeoutNow starts a forced election.
    node.step({ type: 'TimeoutNow', from: id(1), to: id(2), term: T(1) });
    expect(node.status()).toMatchObject({ role: Role.Follower, term: 1 });
    node.step({ type: 'Heartbeat', from: id(1), to: id(2), term: T(1), commit: I(0), round: 1 });
    drain(node, storage);
    // Not from the leader it follows.
    node.step({ type: 'TimeoutNow', from: id(3), to: id(2), term: T(1) });
    // From an older term.
    node.step({ type: 'TimeoutNow', from: id(1), to: id(2), term: T(0) });
    expect(node.status()).toMatchObject({ role: Role.Follower, term: 1 });
    expect(drain(node, storage).filter((m) => m.type === 'Vote')).toEqual([]);
  });

  it('hands leadership over in a real cluster within one election round', () => {
    const c = new TestCluster([1, 2, 3], { preVote: true, checkQuorum: true });
    const from = c.electLeader();
    const target = [1, 2, 3].map((n) => nodeId(n)).find((n) => n !== from)!;
    c.member(Number(from)).node.transferLeadership(target);
    c.settle();
    expect(c.leader()).toBe(target);
    expect(c.member(Number(from)).node.status().role).toBe(Role.Follower);
  });
});
