/**
 * Proof (issue 5): a learner is promoted by hand with `kvctl member promote` once it has
 * caught up, when the members do not promote learners themselves (--no-auto-promote-learners);
 * until then it stays a learner that receives the log but does not vote.
 */
import { clusterForSuite, explain } from './harness/cluster';
import type { TestMember } from './harness/member-process';
import { waitFor } from './harness/wait-for';
import { adminOf, extraMemberSpec, kvctlJson, putMany, readAll, runKvctl, startExtraMember } from './ops-helpers';
import type { MemberAddJson } from './ops-helpers';

jest.setTimeout(120_000);

const FLAGS = ['--no-auto-promote-learners'];

describe('manual promotion of a learner (real processes, kvctl)', () => {
  const c = clusterForSuite({ size: 3, memberFlags: () => FLAGS });
  let learner: TestMember | undefined;

  afterAll(async () => {
    await learner?.stop('SIGKILL').catch(() => undefined);
    learner?.closeChannel();
  });

  it(
    'keeps a caught-up learner a learner until `kvctl member promote`, which then makes it a voter',
    explain(c, async () => {
      const lead = await c().leader(20_000);
      const endpoints = c().members.map((m) => m.endpoint);
      await putMany(lead, 'promote/', 500);

      const spec = await extraMemberSpec(c().dir, 'n4');
      const peerUrl = `http://127.0.0.1:${spec.peerPort}`;
      const added = await kvctlJson<MemberAddJson>(endpoints, ['member', 'add', 'n4', '--peer-urls', peerUrl]);
      expect(added.member).toMatchObject({ name: 'n4', isLearner: true });
      learner = await startExtraMember(spec, [...added.flags, ...FLAGS]);
      const n4 = learner;

      // It catches up (every key readable there) and still is a learner: nobody promoted it.
      const expected = await readAll(lead.endpoint);
      await waitFor(async () => (await readAll(n4.endpoint, { serializable: true })).keys.size === expected.keys.size, { timeoutMs: 30_000, what: 'n4 to hold every key' });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const before = await adminOf(lead).memberList({ serializable: false }, { timeoutMs: 2_000 });
      expect(before.members.find((m) => m.name === 'n4')?.isLearner).toBe(true);

      const promoted = await runKvctl(endpoints, ['member', 'promote', 'n4']);
      expect(promoted.stderr).toBe('');
      expect(promoted.code).toBe(0);
      expect(promoted.stdout).toContain('n4');
      const after = await adminOf(lead).memberList({ serializable: false }, { timeoutMs: 2_000 });
      expect(after.members.find((m) => m.name === 'n4')?.isLearner).toBe(false);
      expect(after.members.filter((m) => !m.isLearner)).toHaveLength(4);

      // A second promotion of the same member is refused with the reason.
      const again = await runKvctl(endpoints, ['member', 'promote', 'n4']);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/^kvctl: refused: .*not a learner/);
    }),
  );
});
