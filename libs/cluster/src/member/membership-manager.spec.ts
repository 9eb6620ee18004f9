import { ConfChangeRefusedError, ConfChangeType, NotLeaderError, ProgressState, Role, nodeId } from '@keyval/raft';
import type { ConfChange, FollowerStatus, LogIndex, NodeId, RaftStatus, Term } from '@keyval/raft';
import { DEFAULT_LIMITS, decodeCommand } from '@keyval/statemachine';
import type { ApplyResult, Command, MembershipState } from '@keyval/statemachine';
import type { RaftDriver } from '../driver/raft-driver';
import { MemoryNetwork } from '../transport/memory-transport';
import { startToyMember, waitUntil } from '../testing/toy-member';
import type { ToyMember } from '../testing/toy-member';
import { MembershipManager, MembershipRefusedError } from './membership-manager';

const [A, B, C, L] = [nodeId(0xa), nodeId(0xb), nodeId(0xc), nodeId(0x1e)];
const T = 10; // election timeout, ticks

/** A driver stand-in: the status the manager judges by, and the changes it proposes. */
class FakeDriver {
  proposed: ConfChange[] = [];
  progress = new Map<NodeId, FollowerStatus>();
  role = Role.Leader;
  lastIndex = 1_000;
  voters: NodeId[] = [A, B, C];
  learners: NodeId[] = [];
  readonly tickMs = 10;
  /** Per peer: ms since its connection broke (absent: never). */
  readonly unreachable = new Map<NodeId, number>();

  msSinceUnreachable(id: NodeId): number {
    return this.unreachable.get(id) ?? Infinity;
  }

  follower(id: NodeId, match: number, ticksSinceActive: number, isLearner = false): void {
    this.progress.set(id, { match: match as LogIndex, next: (match + 1) as LogIndex, state: ProgressState.Replicate, recentActive: ticksSinceActive <= T, ticksSinceActive, isLearner, pendingSnapshot: 0 as LogIndex });
  }

  status(): RaftStatus {
    return {
      id: A,
      role: this.role,
      term: 3 as Term,
      vote: A,
      leader: this.role === Role.Leader ? A : B,
      commit: this.lastIndex as LogIndex,
      applied: this.lastIndex as LogIndex,
      firstIndex: 1 as LogIndex,
      lastIndex: this.lastIndex as LogIndex,
      config: { voters: this.voters, learners: this.learners },
      leadTransferee: undefined,
      progress: this.role === Role.Leader ? this.progress : undefined,
      electionTimeoutTicks: T,
    };
  }

  async proposeConfChange(change: ConfChange): Promise<void> {
    this.proposed.push(change);
  }

  /** Commands proposed (decoded), each applied as `applyAs` says. */
  readonly commands: Command[] = [];
  applyAs: (command: Command) => ApplyResult = () => ({ kind: 'empty', index: 1 as LogIndex });

  async propose(data: Uint8Array): Promise<ApplyResult> {
    const command = decodeCommand(data, DEFAULT_LIMITS);
    this.commands.push(command);
    return this.applyAs(command);
  }
}

function manager(driver: FakeDriver, membership: MembershipState = { config: { voters: [A, B, C], learners: [] }, members: [] }, promoteLagEntries = 100): MembershipManager {
  return new MembershipManager(
    { id: A, driver: driver as unknown as RaftDriver<ApplyResult>, membership: () => membership, clusterToken: 'token' },
    { promoteLagEntries, autoPromote: true },
  );
}

const soon = (): number => performance.now() + 1_000;

async function refusal(promise: Promise<unknown>): Promise<MembershipRefusedError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof MembershipRefusedError) return error;
    throw error;
  }
  throw new Error('the change was not refused');
}

describe('MembershipManager safety checks (fake driver, no timers)', () => {
  it('refuses to remove a live voter while another voter of three is down, naming why; --force overrides', async () => {
    const driver = new FakeDriver();
    driver.follower(B, 1_000, 0);
    driver.follower(C, 900, 5 * T); // down: not heard from for five election timeouts
    const m = manager(driver);
    const refused = await refusal(m.remove(B, false, soon()));
    expect(refused.kind).toBe('not-enough-started');
    expect(refused.reason).toMatch(/would leave 2 voters of which only 1 are reachable \(members down: c\); a quorum needs 2/);
    expect(driver.proposed).toEqual([]);
    await m.remove(B, true, soon());
    expect(driver.proposed).toEqual([{ type: ConfChangeType.RemoveMember, nodeId: B, context: new Uint8Array(0) }]);
  });

  it('counts a member whose connection broke after it was last heard from as down, before an election timeout passes', async () => {
    const driver = new FakeDriver();
    driver.follower(B, 1_000, 0);
    driver.follower(C, 1_000, 3); // heard from 30 ms ago: recent
    driver.unreachable.set(C, 10); // ...but its stream broke 10 ms ago: killed since
    const m = manager(driver);
    const refused = await refusal(m.remove(B, false, soon()));
    expect(refused.reason).toMatch(/members down: c\)/);
    driver.unreachable.set(C, 50); // it broke before it was last heard from: reconnected, live
    await m.remove(B, false, soon());
    expect(driver.proposed.map((c) => c.nodeId)).toEqual([B]);
  });

  it('allows removing the member that is down (the rest still form a quorum)', async () => {
    const driver = new FakeDriver();
    driver.follower(B, 1_000, 0);
    driver.follower(C, 900, 5 * T);
    await manager(driver).remove(C, false, soon());
    expect(driver.proposed.map((c) => c.nodeId)).toEqual([C]);
  });

  it('refuses to promote a learner that is behind or unreachable, and promotes one that caught up', async () => {
    const driver = new FakeDriver();
    driver.learners = [L];
    driver.follower(B, 1_000, 0);
    driver.follower(C, 1_000, 0);
    driver.follower(L, 700, 0, true);
    const m = manager(driver);
    const behind = await refusal(m.promote(L, false, soon()));
    expect(behind.kind).toBe('learner-not-ready');
    expect(behind.reason).toBe('learner 1e is 300 entries behind the leader (at most 100 allowed); wait for it to catch up');
    driver.follower(L, 990, 5 * T, true);
    expect((await refusal(m.promote(L, false, soon()))).reason).toBe('learner 1e is not reachable');
    driver.follower(L, 990, 0, true);
    await m.promote(L, false, soon());
    expect(driver.proposed.map((c) => [c.type, c.nodeId])).toEqual([[ConfChangeType.PromoteLearner, L]]);
  });

  it('names the etcd condition of each refusal: unknown member, not a learner, peer URL or name taken', async () => {
    const driver = new FakeDriver();
    driver.follower(B, 1_000, 0);
    driver.follower(C, 1_000, 0);
    const membership: MembershipState = { config: { voters: [A, B, C], learners: [] }, members: [{ id: B, name: 'b', peerUrls: ['http://b:2380'], clientUrls: [] }] };
    const m = manager(driver, membership);
    expect((await refusal(m.remove(nodeId(0x99), false, soon()))).kind).toBe('member-not-found');
    expect((await refusal(m.promote(nodeId(0x99), false, soon()))).kind).toBe('member-not-found');
    expect((await refusal(m.promote(B, false, soon()))).kind).toBe('not-learner');
    expect((await refusal(m.add('x', ['http://b:2380'], false, false, soon()))).kind).toBe('peer-urls-exist');
    expect((await refusal(m.add('b', ['http://x:2380'], false, false, soon()))).kind).toBe('name-exists');
    expect((await refusal(m.add('x', [], false, false, soon()))).kind).toBe('bad-request');
    expect(driver.proposed).toEqual([]);
  });

  it('adds a learner by default; adding a voter is refused when the new voter (not running yet) would cost the live quorum', async () => {
    const driver = new FakeDriver();
    driver.voters = [A, B];
    driver.follower(B, 1_000, 5 * T); // B down: 1 of 2 live; with a third, not-yet-running voter, 1 of 3
    const m = manager(driver, { config: { voters: [A, B], learners: [] }, members: [] });
    const learner = await m.add('n4', ['http://n4:2380'], false, false, soon());
    expect(driver.proposed[0]?.type).toBe(ConfChangeType.AddLearner);
    expect(driver.proposed[0]?.nodeId).toBe(learner.id);
    const refused = await refusal(m.add('n5', ['http://n5:2380'], true, false, soon()));
    expect(refused.kind).toBe('not-enough-started');
    expect(driver.proposed).toHaveLength(1);
  });

  it('a newly elected leader waits (bounded) to hear from every member before refusing', async () => {
    const driver = new FakeDriver();
    driver.follower(B, 1_000, 0);
    driver.follower(C, 0, Infinity); // not heard from yet in this term
    const m = manager(driver);
    const removal = m.remove(B, false, soon());
    setTimeout(() => driver.follower(C, 1_000, 0), 60); // C answers the new leader's heartbeat
    await removal;
    expect(driver.proposed.map((c) => c.nodeId)).toEqual([B]);
  });

  it('member update: checks on the leader (unknown id, a URL another member has, no URL), proposes a memberUpdate command, and reports a refusal made when it applied', async () => {
    const driver = new FakeDriver();
    const members = [
      { id: B, name: 'b', peerUrls: ['http://b:2380'], clientUrls: [] },
      { id: C, name: 'c', peerUrls: ['http://c:2380'], clientUrls: [] },
    ];
    const membership: MembershipState = { config: { voters: [A, B, C], learners: [] }, members };
    const m = manager(driver, membership);
    expect((await refusal(m.update(nodeId(0x99), ['http://x:2380'], soon()))).kind).toBe('member-not-found');
    expect((await refusal(m.update(B, ['http://c:2380'], soon()))).kind).toBe('peer-urls-exist');
    expect((await refusal(m.update(B, [], soon()))).kind).toBe('bad-request');
    expect(driver.commands).toEqual([]);
    const updated = { ...membership, members: [{ ...members[0], peerUrls: ['http://b2:2380'] } as (typeof members)[number], members[1] as (typeof members)[number]] };
    driver.applyAs = () => ({ kind: 'memberUpdate', index: 2 as LogIndex, membership: updated });
    expect(await m.update(B, ['http://b2:2380'], soon())).toEqual({ id: B, name: 'b', peerUrls: ['http://b2:2380'], clientUrls: [] });
    expect(driver.commands.map((c) => c.op)).toEqual([{ type: 'memberUpdate', id: B, peerUrls: ['http://b2:2380'] }]);
    // Its own URL is no clash (etcd allows it too); here another member took it meanwhile.
    driver.applyAs = () => ({ kind: 'memberUpdate', index: 3 as LogIndex, membership, refused: 'peer-urls-exist' });
    expect((await refusal(m.update(B, ['http://b:2380'], soon()))).kind).toBe('peer-urls-exist');
    expect(driver.commands).toHaveLength(2);
    expect(driver.proposed).toEqual([]);
    driver.role = Role.Follower;
    await expect(m.update(B, ['http://b3:2380'], soon())).rejects.toThrow(NotLeaderError);
  });

  it('answers NotLeaderError off the leader (the caller forwards)', async () => {
    const driver = new FakeDriver();
    driver.role = Role.Follower;
    await expect(manager(driver).remove(B, false, soon())).rejects.toThrow(NotLeaderError);
    await expect(manager(driver).ensureRemovable(B, false, soon())).rejects.toThrow(NotLeaderError);
  });
});

describe('MembershipManager on a real core (three in-memory members)', () => {
  let members: ToyMember[] = [];
  afterEach(() => {
    for (const m of members) m.driver.stop();
  });

  it('refuses a second change while the first is not committed (one change at a time)', async () => {
    const net = new MemoryNetwork();
    const ids = [nodeId(1), nodeId(2), nodeId(3)];
    members = await Promise.all(ids.map((id) => startToyMember(net, id, ids)));
    let leader: ToyMember | undefined;
    await waitUntil('a leader', () => (leader = members.find((m) => m.driver.isLeader())) !== undefined);
    const lead = leader as ToyMember;
    await waitUntil('every follower heard from', () => [...(lead.driver.status().progress ?? new Map<NodeId, FollowerStatus>()).values()].every((p) => p.ticksSinceActive <= 10));
    const m = new MembershipManager(
      { id: lead.id, driver: lead.driver as unknown as RaftDriver<ApplyResult>, membership: () => ({ config: lead.driver.status().config, members: [] }), clusterToken: 't' },
      { promoteLagEntries: 100, autoPromote: false },
    );
    // Both proposed in the same turn of the event loop: the first cannot have committed yet.
    const first = m.add('n4', ['http://n4:2380'], false, false, performance.now() + 2_000);
    const second = m.add('n5', ['http://n5:2380'], false, false, performance.now() + 2_000);
    await expect(second).rejects.toThrow(ConfChangeRefusedError);
    await expect(second).rejects.toThrow(/is not committed yet; one change at a time/);
    await first;
    expect(lead.driver.status().config.learners).toHaveLength(1);
  });
});
