/**
 * Proof (issue 4): `etcdctl` (etcd 3.4 from Debian's etcd-client, a client no one here wrote)
 * works unchanged against a 3-member cluster of real processes — put, get, get --prefix,
 * del and txn against the leader and against a follower (which forwards writes), plus
 * `endpoint status`, `endpoint health` and `member list`.
 */
import { clusterForSuite, explain } from './harness/cluster';
import { etcdctl, etcdctlOk, parseEtcdctlJson } from './harness/etcdctl';
import type { TestMember } from './harness/member-process';

jest.setTimeout(60_000);

interface StatusJson {
  Endpoint: string;
  Status: { header: { cluster_id: string; member_id: string; revision: number; raft_term: number }; leader: string; raftTerm: number; raftIndex: number; version: string };
}

interface MemberListJson {
  header: { cluster_id: string };
  members: { ID: string; name: string; peerURLs: string[]; clientURLs: string[] }[];
}

describe('etcdctl against a real cluster', () => {
  const c = clusterForSuite({ size: 3 });
  // Looked up afresh by each test: a loaded machine may move leadership between tests.
  const leader = (): Promise<TestMember> => c().leader();
  const follower = async (): Promise<TestMember> => c().followersOf(await leader())[0] as TestMember;

  describe.each([
    ['the leader', leader],
    ['a follower (forwarding writes to the leader)', follower],
  ])('against %s', (label, target) => {
    const p = label.startsWith('the leader') ? 'L' : 'F';

    it(
      'put, get, get --prefix and del',
      explain(c, async () => {
        const at = [(await target()).endpoint];
        expect(await etcdctlOk(at, ['put', `${p}/a`, 'alpha'])).toBe('OK\n');
        expect(await etcdctlOk(at, ['put', `${p}/b`, 'beta'])).toBe('OK\n');
        expect(await etcdctlOk(at, ['put', `${p}x`, 'outside the prefix'])).toBe('OK\n');
        expect(await etcdctlOk(at, ['get', `${p}/a`])).toBe(`${p}/a\nalpha\n`);
        expect(await etcdctlOk(at, ['get', `${p}/`, '--prefix'])).toBe(`${p}/a\nalpha\n${p}/b\nbeta\n`);
        expect(await etcdctlOk(at, ['get', `${p}/`, '--prefix', '--keys-only'])).toBe(`${p}/a\n\n${p}/b\n\n`);
        expect(await etcdctlOk(at, ['get', `${p}/`, '--prefix', '--write-out=fields'])).toMatch(/"Count" : 2\n/);
        expect(await etcdctlOk(at, ['get', `${p}/`, '--prefix', '--limit=1'])).toBe(`${p}/a\nalpha\n`);
        // put --prev-kv prints the previous pair.
        expect(await etcdctlOk(at, ['put', `${p}/a`, 'alpha2', '--prev-kv'])).toBe(`OK\n${p}/a\nalpha\n`);
        // Every member sees the write (linearizable reads by default).
        for (const m of c().members) {
          expect(await etcdctlOk([m.endpoint], ['get', `${p}/a`, '--print-value-only'])).toBe('alpha2\n');
        }
        expect(await etcdctlOk(at, ['del', `${p}/a`])).toBe('1\n');
        expect(await etcdctlOk(at, ['del', `${p}/nothing`])).toBe('0\n');
        expect(await etcdctlOk(at, ['del', `${p}/`, '--prefix', '--prev-kv'])).toBe(`1\n${p}/b\nbeta\n`);
        expect(await etcdctlOk(at, ['get', `${p}/`, '--prefix'])).toBe('');
        expect(await etcdctlOk(at, ['get', `${p}x`, '--print-value-only'])).toBe('outside the prefix\n');
      }),
    );

    it(
      'txn: the success branch when the compare holds, the failure branch when not',
      explain(c, async () => {
        const at = [(await target()).endpoint];
        await etcdctlOk(at, ['put', `${p}/counter`, '1']);
        const script = (expected: string, next: string): string => `value("${p}/counter") = "${expected}"\n\nput ${p}/counter ${next}\n\nget ${p}/counter\n\n`;
        expect(await etcdctlOk(at, ['txn'], { input: script('1', '2') })).toBe('SUCCESS\n\nOK\n');
        expect(await etcdctlOk(at, ['txn'], { input: script('1', '3') })).toBe(`FAILURE\n\n${p}/counter\n2\n`);
        expect(await etcdctlOk(at, ['get', `${p}/counter`, '--print-value-only'])).toBe('2\n');
        // Compares on version and mod revision too.
        const rev = (parseEtcdctlJson(await etcdctlOk(at, ['get', `${p}/counter`, '-w', 'json'])) as { kvs: { mod_revision: number; version: number }[] }).kvs[0];
        expect(rev?.version).toBe(2);
        const byRevision = `mod("${p}/counter") = "${String(rev?.mod_revision)}"\nver("${p}/counter") = "2"\n\nput ${p}/counter 4\n\n\n`;
        expect(await etcdctlOk(at, ['txn'], { input: byRevision })).toBe('SUCCESS\n\nOK\n');
        expect(await etcdctlOk(at, ['get', `${p}/counter`, '--print-value-only'])).toBe('4\n');
      }),
    );
  });

  it(
    'endpoint status names one leader, the same for every member, and endpoint health passes',
    explain(c, async () => {
      const endpoints = c().endpoints();
      const current = await leader();
      const statuses = parseEtcdctlJson(await etcdctlOk(endpoints, ['endpoint', 'status', '-w', 'json'])) as StatusJson[];
      expect(statuses.map((s) => s.Endpoint).sort()).toEqual([...endpoints].sort());
      const ids = statuses.map((s) => s.Status.header.member_id);
      expect(new Set(ids)).toEqual(new Set(c().members.map((m) => String(m.id))));
      expect(new Set(statuses.map((s) => s.Status.leader))).toEqual(new Set([String(current.id)]));
      expect(new Set(statuses.map((s) => s.Status.header.cluster_id)).size).toBe(1);
      expect(statuses.every((s) => s.Status.raftTerm >= 2 && s.Status.raftIndex > 0 && s.Status.version.length > 0)).toBe(true);
      const table = await etcdctlOk(endpoints, ['endpoint', 'status', '-w', 'table']);
      expect(table.match(/\|\s+true\s+\|/g)).toHaveLength(1); // IS LEADER column: exactly one
      const health = await etcdctl(endpoints, ['endpoint', 'health']);
      expect(health.code).toBe(0);
      expect((health.stdout + health.stderr).match(/is healthy/g)).toHaveLength(3);
    }),
  );

  it(
    'member list shows every member with its name, peer URL and client URL',
    explain(c, async () => {
      const simple = await etcdctlOk([(await follower()).endpoint], ['member', 'list']);
      const lines = simple.trim().split('\n').sort();
      expect(lines).toHaveLength(3);
      for (const m of c().members) {
        expect(lines.some((l) => l.includes(`, started, ${m.name}, ${m.peerUrl}, ${m.clientUrl}, false`))).toBe(true);
      }
      const json = parseEtcdctlJson(await etcdctlOk([(await leader()).endpoint], ['member', 'list', '-w', 'json'])) as MemberListJson;
      expect(json.members.map((m) => m.name).sort()).toEqual(['n1', 'n2', 'n3']);
      expect(json.members.map((m) => m.ID).sort()).toEqual(c().members.map((m) => String(m.id)).sort());
    }),
  );

  it(
    'a bad request fails with a non-zero exit and etcd\'s message',
    explain(c, async () => {
      const empty = await etcdctl([(await follower()).endpoint], ['put', '', 'v']);
      expect(empty.code).not.toBe(0);
      expect(empty.stderr).toContain('etcdserver: key is not provided');
      const future = await etcdctl([(await leader()).endpoint], ['get', 'x', '--rev=999999']);
      expect(future.code).not.toBe(0);
      expect(future.stderr).toContain('etcdserver: mvcc: required revision is a future revision');
    }),
  );
});
