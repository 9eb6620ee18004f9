/**
 * Proof (issue 15, MemberUpdate) on a real 3-member KeyVal cluster: `etcdctl member update`
 * changes a member's peer URL keeping its id, with etcd's output and refusals (unknown id,
 * a URL another member has); the member restarted on its new URL takes part again, which it
 * can only do if the others' transports now send there (nothing listens on the old one); then
 * `kvctl member update` moves it once more.
 */
import { clusterForSuite, explain } from './harness/cluster';
import { etcdctl, etcdctlOk } from './harness/etcdctl';
import { freePorts } from './harness/free-ports';
import type { TestMember } from './harness/member-process';
import { waitFor } from './harness/wait-for';
import { kvctlJson } from './ops-helpers';

jest.setTimeout(180_000);

// etcdctl prints ids with Go's %16x: padded with spaces.
const hex16 = (id: bigint): string => id.toString(16).padStart(16, ' ');
const lastLine = (text: string): string => text.trim().split('\n').slice(-1)[0] ?? '';

interface MemberListJson {
  header: { cluster_id: number };
  members: { ID: number; name: string; peerURLs: string[] }[];
}

/** Restarts `member` listening on and advertising `peerUrl`, then proves it replicates: a write through another member reaches it. */
async function moveAndProve(cluster: ReturnType<ReturnType<typeof clusterForSuite>>, member: TestMember, peerUrl: string, key: string): Promise<void> {
  await member.stop('SIGTERM');
  member.extraFlags = [`--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`];
  await cluster.restart(member);
  const other = cluster.running().find((m) => m !== member) as TestMember;
  await etcdctlOk([other.endpoint], ['put', key, 'moved']);
  await waitFor(async () => (await etcdctlOk([member.endpoint], ['get', key, '--consistency=s', '--print-value-only'])) === 'moved\n', {
    timeoutMs: 15_000,
    what: `${key} replicated to ${member.name} on ${peerUrl}`,
  });
}

describe('MemberUpdate on KeyVal (real processes, etcdctl and kvctl)', () => {
  const c = clusterForSuite({ size: 3 });

  it(
    'changes a member’s peer URL keeping its id; refuses unknown ids and taken URLs with etcd’s texts; the transports follow',
    explain(c, async () => {
      const leader = await c().leader();
      const [moving, other] = c().followersOf(leader) as [TestMember, TestMember];
      const id = (await moving.status(5_000)).header?.memberId as bigint;
      const clusterId = (await moving.status(5_000)).header?.clusterId as bigint;
      const [port1, port2] = await freePorts(2);
      const url1 = `http://127.0.0.1:${port1}`;

      // Through a follower (the change runs on the leader), as etcdctl prints it.
      expect(await etcdctlOk([other.endpoint], ['member', 'update', id.toString(16), `--peer-urls=${url1}`])).toBe(`Member ${hex16(id)} updated in cluster ${hex16(clusterId)}\n`);
      const list = JSON.parse(await etcdctlOk([leader.endpoint], ['member', 'list', '-w', 'json'])) as MemberListJson;
      expect(list.members.find((m) => m.name === moving.name)?.peerURLs).toEqual([url1]);
      expect(list.members).toHaveLength(3);
      // etcd's refusals.
      const unknown = await etcdctl([leader.endpoint], ['member', 'update', '1234', `--peer-urls=http://127.0.0.1:${port2}`]);
      expect(unknown.code).toBe(1);
      expect(lastLine(unknown.stderr)).toBe('Error: etcdserver: member not found');
      const taken = await etcdctl([leader.endpoint], ['member', 'update', id.toString(16), `--peer-urls=${leader.peerUrl}`]);
      expect(lastLine(taken.stderr)).toBe('Error: etcdserver: Peer URLs already exists');

      // The others now send to the new URL: restarted there, the member catches up.
      await moveAndProve(c(), moving, url1, 'moved/1');

      // kvctl does the same, by name.
      const url2 = `http://127.0.0.1:${port2}`;
      const updated = await kvctlJson<{ updated: { id: string; peerUrls: string[] } }>(c().endpoints(), ['member', 'update', moving.name, '--peer-urls', url2]);
      expect(updated.updated).toMatchObject({ id: id.toString(16), peerUrls: [url2] });
      await moveAndProve(c(), moving, url2, 'moved/2');
      // Still three voters, the same ids.
      const after = JSON.parse(await etcdctlOk(c().endpoints(), ['member', 'list', '-w', 'json'])) as MemberListJson;
      expect(after.members.map((m) => BigInt(m.ID)).sort()).toEqual(list.members.map((m) => BigInt(m.ID)).sort());
    }),
  );
});
