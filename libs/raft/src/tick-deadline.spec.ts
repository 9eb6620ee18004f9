/**
 * ticksUntilDeadline(): the promise a driver relies on to sleep instead of ticking at a fixed
 * rate — no tick before the deadline has any visible effect (no message, no role or term
 * change), and the tick at the deadline does the work it names.
 */
import fc from 'fast-check';
import { Role } from './ready';
import { I, T, drain, id, makeLeader, newNode, tickN } from './testing/paper-helpers';
import type { RaftNode } from './node';
import type { MemoryStorage } from './memory-storage';

function visible(node: RaftNode): string {
  const st = node.status();
  return `${st.role}/${st.term}/${st.leader}`;
}

/** Ticks one at a time up to, not including, the deadline; asserts nothing visible happened. */
function sleepUntilDeadline(node: RaftNode, storage: MemoryStorage): void {
  const before = visible(node);
  const due = node.ticksUntilDeadline();
  for (let k = 1; k < due; k++) {
    node.tick();
    expect(node.hasReady()).toBe(false);
    expect(visible(node)).toBe(before);
    expect(node.ticksUntilDeadline()).toBe(due - k);
  }
  expect(drain(node, storage)).toEqual([]);
}

describe('ticksUntilDeadline', () => {
  it('a leader sleeps until its next heartbeat round, then sends it', () => {
    const { node, storage } = makeLeader(1, [1, 2, 3], { config: { heartbeatTicks: 3, electionTimeoutTicks: 10 } });
    drain(node, storage);
    expect(node.ticksUntilDeadline()).toBe(3);
    sleepUntilDeadline(node, storage);
    node.tick();
    expect(drain(node, storage).map((m) => m.type)).toEqual(['Heartbeat', 'Heartbeat']);
    expect(node.ticksUntilDeadline()).toBe(3);
  });

  it('a follower sleeps until its randomized election timeout, then campaigns', () => {
    const { node, storage } = newNode(1, [1, 2, 3], { config: { electionTimeoutTicks: 10 } });
    const due = node.ticksUntilDeadline();
    expect(due).toBeGreaterThanOrEqual(10);
    expect(due).toBeLessThan(20);
    sleepUntilDeadline(node, storage);
    node.tick();
    expect(node.status().role).toBe(Role.Candidate);
    expect(drain(node, storage).filter((m) => m.type === 'Vote')).toHaveLength(2);
  });

  it('a heartbeat from the leader pushes a follower deadline later', () => {
    const { node, storage } = newNode(1, [1, 2, 3], { term: 1, config: { electionTimeoutTicks: 10 } });
    tickN(node, 5);
    const before = node.ticksUntilDeadline();
    node.step({ type: 'Heartbeat', from: id(2), to: id(1), term: T(1), commit: I(0), round: 1 });
    drain(node, storage);
    expect(node.ticksUntilDeadline()).toBeGreaterThan(before);
  });

  it('a learner has no deadline of its own', () => {
    const { node } = newNode(4, [1, 2, 3], { learners: [4] });
    expect(node.ticksUntilDeadline()).toBe(Number.POSITIVE_INFINITY);
  });

  it('with check-quorum, an isolated leader steps down exactly at its election deadline', () => {
    const { node, storage } = makeLeader(1, [1, 2, 3], { config: { heartbeatTicks: 2, electionTimeoutTicks: 6, checkQuorum: true } });
    drain(node, storage);
    let ticks = 0;
    while (node.status().role === Role.Leader) {
      ticks += node.ticksUntilDeadline();
      sleepUntilDeadline(node, storage);
      node.tick();
      drain(node, storage);
      expect(ticks).toBeLessThanOrEqual(6);
    }
    expect(ticks).toBe(6);
  });

  it('holds for any timing configuration and any number of ticks already elapsed (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 2, max: 8 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 30 }),
        fc.boolean(),
        (heartbeatTicks, electionFactor, preVote, checkQuorum, elapsed, leader) => {
          const config = { heartbeatTicks, electionTimeoutTicks: heartbeatTicks * electionFactor, preVote, checkQuorum };
          const { node, storage } = leader ? makeLeader(1, [1, 2, 3], { config }) : newNode(1, [1, 2, 3], { config });
          drain(node, storage);
          for (let k = 0; k < elapsed; k++) {
            node.tick();
            drain(node, storage);
          }
          sleepUntilDeadline(node, storage);
          const before = visible(node);
          node.tick();
          const sent = drain(node, storage);
          expect(sent.length > 0 || visible(node) !== before).toBe(true);
        },
      ),
    );
  });
});
