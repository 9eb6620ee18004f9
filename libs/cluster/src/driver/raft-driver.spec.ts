import { NotLeaderError, ReadMode, nodeId } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import { MemoryNetwork } from '../transport/memory-transport';
import { put, startToyMember, waitUntil } from '../testing/toy-member';
import type { ToyMember } from '../testing/toy-member';
import { DeadlineExceededError, ProposalLostError } from './driver.errors';
import type { DriverObserver } from '../member/member-observer';
import { ManualScheduler } from '../testing/manual-scheduler';

const ids = [nodeId(1), nodeId(2), nodeId(3)];
const soon = (ms = 2_000) => performance.now() + ms;

async function cluster(options = {}): Promise<{ net: MemoryNetwork; members: ToyMember[] }> {
  const net = new MemoryNetwork();
  const members = await Promise.all(ids.map((id) => startToyMember(net, id, ids, options)));
  return { net, members };
}

async function leaderOf(members: ToyMember[], exclude?: NodeId): Promise<ToyMember> {
  let found: ToyMember | undefined;
  await waitUntil('a leader', () => {
    found = members.find((m) => m.id !== exclude && m.driver.isLeader());
    return found !== undefined;
  });
  return found!;
}

describe('RaftDriver (three in-memory members, real timers)', () => {
  let members: ToyMember[] = [];
  afterEach(() => {
    for (const m of members) m.driver.stop();
    for (const m of members) expect(m.fatal).toEqual([]);
  });

  it('elects a leader, applies a write everywhere and serves linearizable reads on a follower', async () => {
    ({ members } = await cluster());
    const leader = await leaderOf(members);
    expect(await leader.driver.propose(put('k', 'v1'), soon())).toBeNull();
    expect(await leader.driver.propose(put('k', 'v2'), soon())).toBe('v1');
    const follower = members.find((m) => m !== leader)!;
    const index = await follower.driver.readBarrier(ReadMode.Safe, soon());
    expect(follower.sm.applied).toBeGreaterThanOrEqual(index);
    expect(follower.sm.data.get('k')).toBe('v2');
  });

  it('refuses writes on a follower with the leader as hint', async () => {
    ({ members } = await cluster());
    const leader = await leaderOf(members);
    const follower = members.find((m) => m !== leader)!;
    await waitUntil('the follower to know the leader', () => follower.driver.status().leader === leader.id);
    await expect(follower.driver.propose(put('a', 'b'), soon())).rejects.toThrow(NotLeaderError);
  });

  it('fails over when the leader is cut off; the old leader’s pending write is lost or times out, never applied twice', async () => {
    let net: MemoryNetwork;
    ({ net, members } = await cluster());
    const first = await leaderOf(members);
    await first.driver.propose(put('x', '1'), soon());
    net.isolate(first.id);
    const stranded = first.driver.propose(put('x', 'stranded'), soon(400));
    const second = await leaderOf(members, first.id);
    expect(await second.driver.propose(put('x', '2'), soon())).toBe('1');
    net.heal();
    await expect(stranded).rejects.toThrow(/not applied|deadline exceeded/);
    await stranded.catch((e: Error) => expect(e instanceof ProposalLostError || e instanceof DeadlineExceededError).toBe(true));
    await waitUntil('the old leader to catch up', () => first.sm.data.get('x') === '2');
  });

  it('fails a deposed leader’s proposals beyond the new leader’s log as lost once it hears the new term, not at their deadline', async () => {
    let net: MemoryNetwork;
    ({ net, members } = await cluster());
    const first = await leaderOf(members);
    await first.driver.propose(put('x', '1'), soon());
    net.isolate(first.id);
    // Three proposals the old leader can never commit; the new leader writes nothing after its
    // no-op, so nothing else ever reaches the indexes of the second and third.
    const began = performance.now();
    const stranded = ['a', 'b', 'c'].map((v) => first.driver.propose(put('x', v), soon(20_000)).then(() => 'applied', (e: unknown) => e));
    await leaderOf(members, first.id);
    net.heal();
    for (const outcome of await Promise.all(stranded)) {
      expect(outcome).toBeInstanceOf(ProposalLostError);
    }
    expect(performance.now() - began).toBeLessThan(10_000);
    await waitUntil('the old leader to follow', () => !first.driver.isLeader() && first.sm.data.get('x') === '1');
  });

  it('catches a member up from a snapshot after the log it needs was compacted', async () => {
    let net: MemoryNetwork;
    ({ net, members } = await cluster({ snapshotEveryEntries: 20, trailing: 5 }));
    const leader = await leaderOf(members);
    const lagging = members.find((m) => m !== leader)!;
    net.isolate(lagging.id);
    for (let i = 0; i < 100; i++) {
      await leader.driver.propose(put(`k${i}`, `v${i}`), soon());
    }
    await waitUntil('compaction', () => leader.store.firstIndex() > 50);
    net.heal();
    await waitUntil('the lagging member to catch up', () => lagging.sm.data.get('k99') === 'v99');
    expect(lagging.sm.data.size).toBe(100);
    expect(lagging.store.snapshotMeta().index).toBeGreaterThan(0);
  });

  it('restarts an interrupted snapshot transfer cleanly, one transfer at a time', async () => {
    let net: MemoryNetwork;
    ({ net, members } = await cluster({ snapshotEveryEntries: 20, trailing: 5 }));
    const leader = await leaderOf(members);
    const lagging = members.find((m) => m !== leader)!;
    net.isolate(lagging.id);
    for (let i = 0; i < 100; i++) {
      await leader.driver.propose(put(`k${i}`, 'x'.repeat(200)), soon());
    }
    await waitUntil('compaction', () => leader.store.firstIndex() > 50);
    net.failSnapshotTransfers = 2;
    net.heal();
    await waitUntil('the lagging member to catch up', () => lagging.sm.data.get('k99') !== undefined, 10_000);
    expect(lagging.sm.data.size).toBe(100);
    // Two broken transfers, then one that got through; no storm of parallel ones.
    expect(net.snapshotTransfersStarted).toBeGreaterThanOrEqual(3);
    expect(net.snapshotTransfersStarted).toBeLessThan(10);
  });

  it('tells its observer about commits, applies, reads, heartbeat round trips and failed proposals', async () => {
    const seen = new Map<NodeId, string[]>();
    const observer = (id: NodeId): DriverObserver => {
      const log: string[] = [];
      seen.set(id, log);
      return {
        proposalCommitted: (ms) => log.push(ms >= 0 ? 'committed' : 'negative latency'),
        proposalsFailed: (count) => log.push(`failed ${count}`),
        applied: (entries, ms) => log.push(entries > 0 && ms >= 0 ? 'applied' : 'bad apply'),
        readBarrier: (mode) => log.push(`read ${mode}`),
        heartbeatRoundTrip: (peer, ms) => log.push(peer !== id && ms >= 0 ? 'rtt' : 'bad rtt'),
        snapshotSent: () => log.push('snapshot'),
      };
    };
    const net = new MemoryNetwork();
    members = await Promise.all(ids.map((id) => startToyMember(net, id, ids, { observer: observer(id) })));
    const leader = await leaderOf(members);
    await leader.driver.propose(put('o', '1'), soon());
    await leader.driver.readBarrier(ReadMode.Safe, soon());
    await waitUntil('a heartbeat round trip', () => seen.get(leader.id)!.includes('rtt'));
    const follower = members.find((m) => m !== leader)!;
    await waitUntil('the follower to know the leader', () => follower.driver.status().leader === leader.id);
    await expect(follower.driver.propose(put('o', '2'), soon())).rejects.toThrow(NotLeaderError);
    const log = seen.get(leader.id)!;
    expect(log).toContain('committed');
    expect(log).toContain('applied');
    expect(log).toContain('read safe');
    expect(log.filter((e) => e.startsWith('bad') || e === 'negative latency')).toEqual([]);
    expect(seen.get(follower.id)).toContain('failed 1');
    expect(seen.get(follower.id)).not.toContain('committed'); // commit latency is the proposer's
  });

  it('hands leadership to another member on request', async () => {
    ({ members } = await cluster());
    const leader = await leaderOf(members);
    const target = members.find((m) => m !== leader)!;
    await leader.driver.propose(put('t', '1'), soon());
    leader.driver.transferLeadership(target.id);
    await waitUntil('the transfer', () => target.driver.isLeader());
  });
});

describe('RaftDriver on an injected scheduler (as a seeded simulation drives it)', () => {
  it('elects, commits and applies only as the scheduler\'s time moves: it reads no clock and arms no timer of its own', async () => {
    const scheduler = new ManualScheduler();
    const solo = await startToyMember(new MemoryNetwork(), nodeId(1), [nodeId(1)], { scheduler });
    try {
      await scheduler.advance(0);
      expect(solo.driver.isLeader()).toBe(false); // no time has passed: no election timeout
      expect(scheduler.timersArmed).toBeGreaterThan(0); // the ticker armed its deadline here
      await scheduler.advance(150);
      expect(solo.driver.isLeader()).toBe(false); // the election timeout is 200-400 ms
      await scheduler.advance(400);
      expect(solo.driver.isLeader()).toBe(true);
      const write = solo.driver.propose(put('k', 'v'), scheduler.nowMs() + 1_000);
      await scheduler.advance(0);
      expect(await write).toBeNull();
      expect(solo.sm.data.get('k')).toBe('v');
      expect(solo.fatal).toEqual([]);
    } finally {
      solo.driver.stop();
    }
  });
});
