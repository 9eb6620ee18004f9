/**
 * Proof (issue 5, kvctl and etcd's Cluster/Maintenance services) on a real 3-member cluster:
 * kvctl's data commands and txn, its exit codes and one-line errors, `kvctl status` agreeing
 * with `etcdctl endpoint status` and `etcdctl member list`, leader transfer by kvctl and by
 * `etcdctl move-leader`, learners through `etcdctl member add/promote/remove`, snapshots on
 * demand, bench, and the message when the cluster has no leader.
 */
import { TestCluster, explain } from './harness/cluster';
import { etcdctl, etcdctlOk, parseEtcdctlJson } from './harness/etcdctl';
import type { TestMember } from './harness/member-process';
import { waitFor } from './harness/wait-for';
import { kvctlJson, kvctlOk, runKvctl } from './ops-helpers';
import type { StatusRowJson } from './ops-helpers';

jest.setTimeout(120_000);

interface EtcdStatusJson {
  Endpoint: string;
  Status: { header: { member_id: string; cluster_id: string }; leader: string; raftTerm: number; raftIndex: number; dbSize: number; raftAppliedIndex: number };
}

interface EtcdMemberListJson {
  members: { ID: string; name: string; peerURLs: string[]; clientURLs?: string[]; isLearner?: boolean }[];
}

const hexToDecimal = (hex: string): string => BigInt(`0x${hex}`).toString();

describe('kvctl against a real cluster', () => {
  let cluster: TestCluster | undefined;
  const c = (): TestCluster => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    return cluster;
  };
  const eps = (): string[] => c().endpoints();

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 3 });
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it(
    'put, get (key, prefix, range, count), del and a compare-and-swap txn; table, simple and json output',
    explain(c, async () => {
      expect(await kvctlOk(eps(), ['put', 'app/a', 'alpha'])).toBe('OK\n');
      expect(await kvctlOk(eps(), ['put', 'app/b', 'beta'])).toBe('OK\n');
      expect(await kvctlOk(eps(), ['put', 'apq', 'outside'])).toBe('OK\n');
      expect(await kvctlOk(eps(), ['get', 'app/a', '-o', 'simple'])).toBe('app/a\nalpha\n');
      expect(await kvctlOk(eps(), ['get', 'app/', '--prefix', '--print-value-only'])).toBe('alpha\nbeta\n');
      expect(await kvctlOk(eps(), ['get', 'app/a', 'app/c', '-o', 'simple'])).toBe('app/a\nalpha\napp/b\nbeta\n');
      const table = await kvctlOk(eps(), ['get', 'app/', '--prefix']);
      expect(table.split('\n')[0]).toMatch(/^KEY\s+VALUE\s+VERSION\s+MOD-REVISION$/);
      const json = await kvctlJson<{ count: number; kvs: { key: string; value: string; version: number }[] }>(eps(), ['get', 'app/', '--prefix']);
      expect(json.count).toBe(2);
      expect(json.kvs.map((kv) => [kv.key, kv.value, kv.version])).toEqual([
        ['app/a', 'alpha', 1],
        ['app/b', 'beta', 1],
      ]);
      expect(await kvctlJson(eps(), ['get', 'app/', '--prefix', '--count-only'])).toMatchObject({ count: 2 });

      // Compare-and-swap: the first swap wins, the second sees the new value.
      expect(await kvctlOk(eps(), ['txn', '--if', 'app/a == alpha', '--then', 'put app/a alpha2', '--else', 'get app/a'])).toBe('SUCCESS\n\nOK\n');
      expect(await kvctlOk(eps(), ['txn', '--if', 'app/a == alpha', '--then', 'put app/a alpha3', '--else', 'get app/a'])).toBe('FAILURE\n\napp/a\nalpha2\n');
      const created = await kvctlJson<{ succeeded: boolean }>(eps(), ['txn', '--if', 'version(app/new) == 0', '--then', "put app/new 'first value'"]);
      expect(created.succeeded).toBe(true);
      expect(await kvctlOk(eps(), ['get', 'app/new', '--print-value-only'])).toBe('first value\n');

      expect(await kvctlOk(eps(), ['del', 'app/', '--prefix'])).toBe('3\n');
      expect(await kvctlOk(eps(), ['get', 'app/', '--prefix', '--print-value-only'])).toBe('');
      expect(await kvctlOk(eps(), ['get', 'apq', '--print-value-only'])).toBe('outside\n');
      // Through a single follower too (it forwards writes to the leader).
      const follower = c().followersOf(await c().leader())[0] as TestMember;
      expect(await kvctlOk([follower.endpoint], ['put', 'via-follower', 'yes'])).toBe('OK\n');
      expect(await kvctlOk([follower.endpoint], ['get', 'via-follower', '--print-value-only'])).toBe('yes\n');
    }),
  );

  it(
    'exit 2 with one line for usage errors; exit 1 with one clear line for an unreachable cluster; KEYVAL_ENDPOINTS',
    explain(c, async () => {
      for (const args of [['bogus'], ['get'], ['put', 'k'], ['-o', 'xml', 'get', 'k'], ['txn', '--if', 'k ~ v', '--then', 'get k'], ['get', 'k', '--limit', 'x']]) {
        const r = await runKvctl(eps(), args);
        expect({ args, code: r.code }).toEqual({ args, code: 2 });
        expect(r.stderr).toMatch(/^kvctl: /);
        expect(r.stdout).toBe('');
      }
      const help = await runKvctl(undefined, ['--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('Usage: kvctl');
      expect((await runKvctl(undefined, ['member', 'add', '--help'])).stdout).toContain('--peer-urls');

      const unreachable = await runKvctl(['127.0.0.1:1', '127.0.0.1:2'], ['get', 'k', '--timeout', '2s']);
      expect(unreachable.code).toBe(1);
      expect(unreachable.stderr).toMatch(/^kvctl: cannot reach the cluster at 127\.0\.0\.1:1, 127\.0\.0\.1:2 \(.*ECONNREFUSED.*\)\n$/);

      const viaEnv = await runKvctl(undefined, ['get', 'apq', '--print-value-only'], { env: { KEYVAL_ENDPOINTS: eps().join(',') } });
      expect(viaEnv.code).toBe(0);
      expect(viaEnv.stdout).toBe('outside\n');
    }),
  );

  it(
    'kvctl status agrees with etcdctl endpoint status and etcdctl member list',
    explain(c, async () => {
      // The two tools read at different instants: compare a moment when nothing moved between
      // them (kvctl's reading before and after etcdctl's is the same), so a background entry
      // (a lease checkpoint, an election under load) is not read as a disagreement.
      const progress = (rs: readonly StatusRowJson[]): string => JSON.stringify(rs.map((r) => [r.id, r.isLeader, r.term, r.commit, r.applied]));
      const { leader, rows, statuses } = await waitFor(
        async () => {
          const leaderBefore = await c().leader();
          const before = await kvctlJson<StatusRowJson[]>(eps(), ['status']);
          const etcd = parseEtcdctlJson(await etcdctlOk(eps(), ['endpoint', 'status', '-w', 'json'])) as EtcdStatusJson[];
          const after = await kvctlJson<StatusRowJson[]>(eps(), ['status']);
          const stable = progress(before) === progress(after) && before.every((r) => r.lag === 0) && before[0]?.name === leaderBefore.name;
          return stable ? { leader: leaderBefore, rows: before, statuses: etcd } : undefined;
        },
        { timeoutMs: 30_000, what: 'kvctl status to read the same before and after etcdctl endpoint status' },
      );
      const members = parseEtcdctlJson(await etcdctlOk(eps(), ['member', 'list', '-w', 'json'])) as EtcdMemberListJson;
      expect(rows).toHaveLength(3);
      expect(rows[0]?.isLeader).toBe(true);
      expect(rows[0]?.name).toBe(leader.name);
      for (const row of rows) {
        const id = hexToDecimal(row.id);
        const etcdStatus = statuses.find((s) => s.Status.header.member_id === id);
        const etcdMember = members.members.find((m) => m.ID === id);
        expect(etcdStatus).toBeDefined();
        expect(etcdMember?.name).toBe(row.name);
        expect(etcdStatus?.Endpoint).toBe(row.endpoint);
        expect(etcdStatus?.Status.leader === id).toBe(row.isLeader);
        expect(etcdStatus?.Status.raftTerm).toBe(row.term);
        expect(etcdStatus?.Status.raftIndex).toBe(row.commit);
        expect(etcdStatus?.Status.raftAppliedIndex).toBe(row.applied);
        expect(row.dbBytes).toBeGreaterThan(0);
        expect(Math.abs((etcdStatus?.Status.dbSize ?? 0) - (row.dbBytes ?? 0))).toBeLessThanOrEqual((row.dbBytes ?? 0) * 0.5);
        expect(row.health).toBe('ok');
        expect(row.lag).toBe(0);
      }
      const table = await kvctlOk(eps(), ['status']);
      expect(table.split('\n')[0]).toMatch(/^NAME\s+ID\s+ROLE\s+TERM\s+COMMIT\s+APPLIED\s+LAG\s+DB SIZE\s+WAL SIZE\s+HEALTH$/);
      expect(table.split('\n')[1]).toMatch(new RegExp(`^${leader.name} \\*\\s+[0-9a-f]+\\s+leader\\s`));
      const list = await kvctlJson<{ members: { id: string; name: string; peerUrls: string[]; clientUrls: string[] }[] }>(eps(), ['member', 'list']);
      expect(list.members.map((m) => [hexToDecimal(m.id), m.name, m.peerUrls, m.clientUrls]).sort()).toEqual(members.members.map((m) => [m.ID, m.name, m.peerURLs, m.clientURLs ?? []]).sort());
    }),
  );

  it(
    'leader transfer with kvctl, and back with etcdctl move-leader',
    explain(c, async () => {
      const leader = await c().leader();
      const target = c().followersOf(leader)[0] as TestMember;
      const moved = await kvctlJson<{ leader: { name: string } }>(eps(), ['leader', 'transfer', target.name]);
      expect(moved.leader.name).toBe(target.name);
      expect((await c().leader()).name).toBe(target.name);
      await leader.status();
      const back = await etcdctl(eps(), ['move-leader', (leader.id as bigint).toString(16)]);
      expect(back.code).toBe(0);
      expect(back.stdout).toMatch(/Leadership transferred from [0-9a-f]+ to [0-9a-f]+/);
      await waitFor(async () => (await c().leader()) === leader, { timeoutMs: 10_000, what: `${leader.name} to lead again` });
      const refused = await runKvctl(eps(), ['leader', 'transfer', 'nobody']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^kvctl: no member is named "nobody"/);
    }),
  );

  it(
    'etcdctl member add --learner, a refused promote (the learner never started), member remove; kvctl member list agrees',
    explain(c, async () => {
      const added = await etcdctl(eps(), ['member', 'add', 'n9', '--learner', '--peer-urls=http://127.0.0.1:9']);
      expect(added.code).toBe(0);
      // etcdctl prints ids with %16x: padded with spaces when shorter than 16 hex digits.
      const id = /Member +([0-9a-f]+) added to cluster/.exec(added.stdout)?.[1] as string;
      expect(added.stdout).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"');
      const list = await kvctlJson<{ members: { id: string; isLearner: boolean; peerUrls: string[] }[] }>(eps(), ['member', 'list']);
      expect(list.members.find((m) => m.id === id)).toMatchObject({ isLearner: true, peerUrls: ['http://127.0.0.1:9'] });
      const promote = await etcdctl(eps(), ['member', 'promote', id]);
      expect(promote.code).not.toBe(0);
      expect(promote.stderr).toContain('etcdserver: can only promote a learner member which is in sync with leader');
      const duplicate = await etcdctl(eps(), ['member', 'add', 'n10', '--learner', '--peer-urls=http://127.0.0.1:9']);
      expect(duplicate.stderr).toContain('etcdserver: Peer URLs already exists');
      const removed = await etcdctl(eps(), ['member', 'remove', id]);
      expect(removed.code).toBe(0);
      expect(removed.stdout).toMatch(new RegExp(`Member +${id} removed from cluster`));
      const missing = await etcdctl(eps(), ['member', 'remove', id]);
      expect(missing.stderr).toContain('etcdserver: member not found');
      expect((await kvctlJson<{ members: unknown[] }>(eps(), ['member', 'list'])).members).toHaveLength(3);
    }),
  );

  it(
    'snapshot take on the leader and on every member; bench put and get print a summary',
    explain(c, async () => {
      const one = await kvctlJson<{ member: string; index: number; sizeBytes: number }[]>(eps(), ['snapshot', 'take']);
      expect(one).toHaveLength(1);
      expect(one[0]?.member).toBe((await c().leader()).name);
      expect(one[0]?.index).toBeGreaterThan(0);
      const all = await kvctlJson<{ member: string }[]>(eps(), ['snapshot', 'take', '--all']);
      expect(all.map((r) => r.member).sort()).toEqual(['n1', 'n2', 'n3']);

      const put = await kvctlJson<{ operations: number; errors: number; opsPerSecond: number; p50Ms: number; p99Ms: number; maxMs: number }>(eps(), ['bench', 'put', '--ops', '500', '--clients', '8']);
      expect(put).toMatchObject({ operations: 500, errors: 0 });
      expect(put.opsPerSecond).toBeGreaterThan(0);
      expect(put.p50Ms).toBeLessThanOrEqual(put.p99Ms);
      expect(put.p99Ms).toBeLessThanOrEqual(put.maxMs);
      const table = await kvctlOk(eps(), ['bench', 'get', '--ops', '200']);
      expect(table).toMatch(/^WORKLOAD\s+OPS\s+ERRORS\s+SECONDS\s+OPS\/S\s+P50 MS\s+P90 MS\s+P99 MS\s+MAX MS\nget\s+200\s+0\s/);
    }),
  );

  it(
    'a cluster without a leader: status and a write exit 1 saying so, within the timeout',
    explain(c, async () => {
      const [a, b] = c().members as [TestMember, TestMember];
      await a.stop('SIGKILL');
      // One member down: status still prints every member, then exits 1 as etcdctl endpoint health does.
      const oneDown = await runKvctl(eps(), ['status']);
      expect(oneDown.code).toBe(1);
      expect(oneDown.stdout).toMatch(new RegExp(`^${a.name}\\s+[0-9a-f]+\\s+unreachable\\s`, 'm'));
      expect(oneDown.stderr).toBe(`kvctl: 1 of 3 members not healthy: ${a.name} unreachable\n`);
      await b.stop('SIGKILL');
      const started = performance.now();
      const r = await runKvctl(eps(), ['put', 'k', 'v', '--timeout', '3s']);
      const elapsed = performance.now() - started;
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^kvctl: the cluster has no leader \(is a quorum of its members running\?\): /);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(elapsed).toBeLessThan(10_000);
    }),
  );
});
