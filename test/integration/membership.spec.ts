/**
 * Proof (issue 5, membership end to end) on real processes, driven through kvctl and etcdctl:
 * grow 3 → 5 under a write load with zero failed writes (the new members join as learners,
 * catch up from a snapshot because the log they need is compacted, and are promoted
 * automatically); shrink 5 → 3 removing the leader (leadership moves first; the removed
 * members stop by themselves); replace a SIGKILLed member; and the unsafe changes refused
 * with their reasons. One cluster goes through the steps in order.
 */
import { etcd } from '@keyval/proto';
import { TestCluster, explain } from './harness/cluster';
import { etcdctl } from './harness/etcdctl';
import { bytes, missingWrites, readPrefix } from './harness/kv-helpers';
import type { TestMember } from './harness/member-process';
import { waitFor } from './harness/wait-for';
import { WriteLoad } from './harness/write-load';
import { adminOf, extraMemberSpec, kvctlJson, kvctlOk, logged, putMany, readAll, runKvctl, startExtraMember, waitVoter } from './ops-helpers';
import type { MemberAddJson, StatusRowJson } from './ops-helpers';

jest.setTimeout(180_000);

/** Frequent snapshots and a short log tail, so a joining member needs a snapshot. */
const FLAGS = ['--snapshot-count=1000', '--snapshot-catchup-entries=200'];

describe('membership changes (real processes, kvctl and etcdctl)', () => {
  let cluster: TestCluster | undefined;
  const joined: TestMember[] = [];
  const c = (): TestCluster => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    return cluster;
  };
  const running = (): TestMember[] => [...c().members, ...joined].filter((m) => m.running);
  const endpoints = (): string[] => running().map((m) => m.endpoint);
  const leader = (): Promise<TestMember> => c().leader(20_000, running());

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 3, memberFlags: () => FLAGS });
  });

  afterAll(async () => {
    await Promise.all(joined.map((m) => m.stop('SIGKILL').catch(() => undefined)));
    for (const m of joined) m.closeChannel();
    await cluster?.close();
  });

  /** `kvctl member add` for a new member, then starts it with the flags kvctl printed. */
  async function join(name: string): Promise<TestMember> {
    const spec = await extraMemberSpec(c().dir, name);
    const peerUrl = `http://127.0.0.1:${spec.peerPort}`;
    const added = await kvctlJson<MemberAddJson>(endpoints(), ['member', 'add', name, '--peer-urls', peerUrl]);
    expect(added.member).toMatchObject({ name, peerUrls: [peerUrl], isLearner: true });
    expect(added.flags).toEqual(expect.arrayContaining(['--initial-cluster-state=existing', `--name=${name}`, `--initial-advertise-peer-urls=${peerUrl}`]));
    for (const m of running()) expect(added.initialCluster).toContain(`${m.name}=${m.peerUrl}`);
    expect(added.initialCluster).toContain(`${name}=${peerUrl}`);
    const member = await startExtraMember(spec, [...added.flags, ...FLAGS]);
    joined.push(member);
    return member;
  }

  it(
    'grows 3 → 5 under a write load with zero failed writes; the learners catch up from a snapshot and are promoted automatically',
    explain(c, async () => {
      const load = new WriteLoad({ writers: 4, prefix: 'grow', members: c().members, putTimeoutMs: 10_000 });
      load.start();
      const timings: string[] = [];
      let n5: TestMember | undefined;
      try {
        await waitFor(() => load.ackCount >= 1_500, { timeoutMs: 120_000, what: '1,500 acknowledged writes (past a snapshot and a compaction)' });
        const first = await leader();
        await waitFor(async () => (await adminOf(first).status({}, { timeoutMs: 2_000 })).snapshotIndex >= 1_000n, { timeoutMs: 30_000, what: 'the leader to snapshot and compact' });
        for (const name of ['n4', 'n5']) {
          const started = performance.now();
          const member = await join(name);
          await waitVoter(await leader(), name, 90_000);
          timings.push(`${name} joined and was promoted in ${Math.round(performance.now() - started)} ms`);
          n5 = member;
        }
        const acked = load.ackCount;
        await waitFor(() => load.ackCount >= acked + 300, { timeoutMs: 30_000, what: '300 more writes with five members' });
      } finally {
        await load.stop();
      }
      console.log(`[membership] grow 3 → 5: ${timings.join('; ')}; ${load.ackCount} writes acknowledged, failed writes: ${load.describeErrors()}`);
      expect(load.describeErrors()).toBe('none');
      for (const m of joined) {
        expect(logged(m, /installed a snapshot from the leader/)).toBe(true);
      }
      // Every acknowledged write is on the newest member (linearizable read there).
      const found = await readPrefix(n5 as TestMember, 'grow/', { timeoutMs: 30_000 });
      expect(missingWrites(load.acknowledged, found)).toEqual([]);
      const rows = await kvctlJson<StatusRowJson[]>(endpoints(), ['status']);
      expect(rows).toHaveLength(5);
      expect(rows.filter((r) => r.isLeader)).toHaveLength(1);
      expect(rows.every((r) => r.role === 'leader' || r.role === 'follower')).toBe(true);
    }),
  );

  it(
    'shrinks 5 → 3, removing the leader first (leadership moves away); removed members stop by themselves',
    explain(c, async () => {
      const old = await leader();
      const removed = await runKvctl(endpoints(), ['member', 'remove', old.name]);
      expect(removed.code).toBe(0);
      expect(removed.stdout).toContain(old.name);
      expect(await old.waitExit(30_000)).toEqual({ code: 0, signal: null });
      const next = await leader();
      expect(next).not.toBe(old);
      const follower = running().find((m) => m !== next) as TestMember;
      expect((await runKvctl(endpoints(), ['member', 'remove', follower.name])).code).toBe(0);
      expect(await follower.waitExit(30_000)).toEqual({ code: 0, signal: null });
      const list = await kvctlJson<{ members: { name: string }[] }>(endpoints(), ['member', 'list']);
      expect(list.members.map((m) => m.name).sort()).toEqual(running().map((m) => m.name).sort());
      expect(list.members).toHaveLength(3);
      await kvctlOk(endpoints(), ['put', 'after-shrink', 'yes']);
      expect(await kvctlOk(endpoints(), ['get', 'after-shrink', '--print-value-only'])).toBe('yes\n');
    }),
  );

  it(
    'a member down while another joined learns the newcomer from the snapshot it installs, and follows it as leader',
    explain(c, async () => {
      const lead = await leader();
      const sleeper = running().find((m) => m !== lead) as TestMember;
      await sleeper.stop('SIGKILL');
      const newcomer = await join('n7');
      await waitVoter(lead, 'n7', 90_000);
      // Enough writes that the log holding n7's addition is compacted: the sleeper needs a snapshot.
      const joinedAt = (await adminOf(lead).status({}, { timeoutMs: 5_000 })).commitIndex;
      await putMany(lead, 'slept', 1_500);
      await waitFor(async () => (await adminOf(lead).status({}, { timeoutMs: 2_000 })).snapshotIndex > joinedAt + 200n, { timeoutMs: 30_000, what: 'the leader to compact past n7\'s addition' });
      const installs = (): number => sleeper.logRecords().filter((r) => /installed a snapshot from the leader/.test(r.msg)).length;
      const installedBefore = installs();
      await c().restart(sleeper, 60_000);
      await waitFor(() => installs() > installedBefore, { timeoutMs: 60_000, what: `${sleeper.name} to install a snapshot` });
      // The leader is now a member the sleeper never saw added: it must still answer it.
      expect((await kvctlJson<{ leader: { name: string } }>(endpoints(), ['leader', 'transfer', 'n7'])).leader.name).toBe('n7');
      await newcomer.kv().put(etcd.PutRequest.fromPartial({ key: bytes('after-transfer'), value: bytes('seen') }), { timeoutMs: 10_000 });
      await waitFor(async () => ((await readPrefix(sleeper, 'after-transfer', { serializable: true, timeoutMs: 2_000 })).size === 1 ? true : undefined), {
        timeoutMs: 20_000,
        what: `${sleeper.name} to apply a write of n7's term`,
      });
      expect((await runKvctl(endpoints(), ['member', 'remove', 'n7'])).code).toBe(0);
      expect(await newcomer.waitExit(30_000)).toEqual({ code: 0, signal: null });
    }),
  );

  it(
    'replaces a SIGKILLed member: remove it, add a new one, which catches up',
    explain(c, async () => {
      const lead = await leader();
      const victim = running().find((m) => m !== lead) as TestMember;
      await victim.stop('SIGKILL');
      // Writes while it is down, which the replacement must end up holding.
      await Promise.all(Array.from({ length: 200 }, (_, k) => lead.kv().put(etcd.PutRequest.fromPartial({ key: bytes(`replace/${k}`), value: bytes(`v${k}`) }), { timeoutMs: 10_000 })));
      expect((await runKvctl(endpoints(), ['member', 'remove', victim.name])).code).toBe(0);
      const replacement = await join('n6');
      await waitVoter(lead, 'n6', 90_000);
      const expected = await readAll(lead.endpoint);
      await waitFor(async () => (await readAll(replacement.endpoint, { serializable: true })).keys.size === expected.keys.size, { timeoutMs: 30_000, what: 'n6 to hold every key' });
      const copy = await readAll(replacement.endpoint, { serializable: true });
      expect(copy.keys).toEqual(expected.keys);
      expect((await kvctlJson<{ members: unknown[] }>(endpoints(), ['member', 'list'])).members).toHaveLength(3);
    }),
  );

  it(
    'refuses unsafe changes, naming why: removing a live voter while another of three is down; promoting a learner that is not caught up',
    explain(c, async () => {
      const lead = await leader();
      const [live, down] = running().filter((m) => m !== lead) as [TestMember, TestMember];
      await down.status();
      await down.stop('SIGKILL');
      const downId = (down.id as bigint).toString(16);

      const refused = await runKvctl(endpoints(), ['member', 'remove', live.name]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        new RegExp(`^kvctl: refused: etcdserver: re-configuration failed due to not enough started members: removing [0-9a-f]+ would leave 2 voters of which only 1 are reachable \\(members down: ${downId}\\); a quorum needs 2`),
      );
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      await live.status();
      const byEtcdctl = await etcdctl(endpoints(), ['member', 'remove', (live.id as bigint).toString(16)]);
      expect(byEtcdctl.code).not.toBe(0);
      expect(byEtcdctl.stderr).toContain('etcdserver: re-configuration failed due to not enough started members');

      // A learner that never started is not in sync: promoting it is refused.
      await kvctlOk(endpoints(), ['member', 'add', 'n9', '--peer-urls', 'http://127.0.0.1:9']);
      const promote = await runKvctl(endpoints(), ['member', 'promote', 'n9']);
      expect(promote.code).toBe(1);
      expect(promote.stderr).toMatch(/^kvctl: refused: etcdserver: can only promote a learner member which is in sync with leader: learner [0-9a-f]+ is not reachable/);
      // Removing a learner does not touch the voters: allowed while a voter is down.
      expect((await runKvctl(endpoints(), ['member', 'remove', 'n9'])).code).toBe(0);
      // Nothing changed: the three voters are still members.
      const names = (await kvctlJson<{ members: { name: string }[] }>(endpoints(), ['member', 'list', '--serializable'])).members.map((m) => m.name).sort();
      expect(names).toEqual([lead.name, live.name, down.name].sort());
    }),
  );
});
