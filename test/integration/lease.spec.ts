/**
 * Proof (issue 15, Lease): leases on a 3-member cluster of real processes through clients no
 * one here wrote — etcdctl's lease commands, lock and elect; the etcd3 client's lease with
 * keepalive, lock and election — keepalives through a follower (relayed to the leader), keys
 * deleted everywhere when a lease expires, and no lease expiring early when the leader dies.
 */
import { spawn } from 'node:child_process';
import { clusterForSuite, explain } from './harness/cluster';
import { etcd3ClientsForSuite } from './harness/etcd3-clients';
import { etcdctlOk, findEtcdctl, parseEtcdctlJson } from './harness/etcdctl';
import type { TestMember } from './harness/member-process';
import { readPrefix } from './harness/kv-helpers';
import { sleep, waitFor } from './harness/wait-for';

jest.setTimeout(120_000);

describe('leases', () => {
  const c = clusterForSuite({ size: 3 });
  const clientOf = etcd3ClientsForSuite();

  it(
    'etcdctl: grant, put --lease, timetolive --keys, list, keep-alive --once, revoke deleting the keys — through a follower',
    explain(c, async () => {
      const at = [c().followersOf(await c().leader())[0]?.endpoint as string];
      const granted = await etcdctlOk(at, ['lease', 'grant', '30']);
      const id = /^lease ([0-9a-f]+) granted with TTL\(30s\)\n$/.exec(granted)?.[1] as string;
      expect(id).toBeDefined();
      await etcdctlOk(at, ['put', '--lease', id, 'l/a', '1']);
      await etcdctlOk(at, ['put', '--lease', id, 'l/b', '2']);
      const got = parseEtcdctlJson(await etcdctlOk(at, ['get', 'l/a', '-w', 'json'])) as { kvs: { lease: string | number }[] };
      expect(BigInt(got.kvs[0]?.lease as string)).toBe(BigInt(`0x${id}`));
      expect(await etcdctlOk(at, ['lease', 'timetolive', id, '--keys'])).toMatch(new RegExp(`^lease ${id} granted with TTL\\(30s\\), remaining\\((2\\d|30)s\\), attached keys\\(\\[l/a l/b\\]\\)\\n$`));
      expect(await etcdctlOk(at, ['lease', 'list'])).toContain(`${id}\n`);
      expect(await etcdctlOk(at, ['lease', 'keep-alive', '--once', id])).toBe(`lease ${id} keepalived with TTL(30)\n`);
      expect(await etcdctlOk(at, ['lease', 'revoke', id])).toBe(`lease ${id} revoked\n`);
      for (const m of c().members) {
        expect(await etcdctlOk([m.endpoint], ['get', 'l/', '--prefix'])).toBe('');
      }
      expect(await etcdctlOk(at, ['lease', 'timetolive', id])).toBe(`lease ${id} already expired\n`);
    }),
  );

  it(
    'a lease without keepalives expires: its keys disappear from every member, not before its TTL',
    explain(c, async () => {
      const etcd = clientOf(c().members);
      const deletes: Array<{ key: string; revision: string }> = [];
      const watcher = await etcd.watch().prefix('x/').create();
      watcher.on('delete', (kv) => deletes.push({ key: kv.key.toString(), revision: kv.mod_revision }));
      // The leader starts the TTL when it applies the grant, after this instant.
      const beforeGrant = performance.now();
      const lease = etcd.lease(2, { autoKeepAlive: false });
      await lease.grant();
      await lease.put('x/1').value('a');
      await lease.put('x/2').value('b');
      for (const m of c().members) {
        await waitFor(async () => (await readPrefix(m, 'x/')).size === 0, { timeoutMs: 10_000, what: `the expired lease's keys gone from ${m.name}` });
      }
      expect(performance.now() - beforeGrant).toBeGreaterThanOrEqual(1_995);
      // A watcher sees both deletions, in key order, in one revision (etcd's revoke).
      await waitFor(() => deletes.length === 2, { timeoutMs: 5_000, what: 'two delete events' });
      expect(deletes.map((d) => d.key)).toEqual(['x/1', 'x/2']);
      expect(deletes[0]?.revision).toBe(deletes[1]?.revision);
      await watcher.cancel();
    }),
  );

  it(
    'keepalives through a follower keep a lease alive past its TTL; the leader dying does not expire it early',
    explain(c, async () => {
      const leader = await c().leader();
      const followers = c().followersOf(leader);
      const etcd = clientOf(followers);
      const lease = etcd.lease(3);
      await lease.put('k/alive').value('yes');
      await sleep(5_000);
      expect((await readPrefix(followers[0] as TestMember, 'k/')).get('k/alive')).toBe('yes');
      await leader.stop('SIGKILL');
      // Keepalives go on through the followers; a new leader must not expire the lease.
      await sleep(6_000);
      expect((await readPrefix(followers[0] as TestMember, 'k/')).get('k/alive')).toBe('yes');
      // The killed leader comes back with the lease (its own data, then catch-up): listed
      // from its applied state, and revoked through it.
      await c().restart(leader);
      const id = (await lease.grant()).toString();
      const hex = BigInt(id).toString(16);
      await waitFor(async () => (await etcdctlOk([leader.endpoint], ['lease', 'list'])).includes(`${hex}\n`), { timeoutMs: 15_000, what: `${leader.name} to list the lease after its restart` });
      await lease.revoke();
      for (const m of c().members) {
        await waitFor(async () => (await readPrefix(m, 'k/')).size === 0, { timeoutMs: 10_000, what: `the revoked lease's key gone from ${m.name}` });
      }
    }),
  );

  it(
    'etcdctl lock and elect, and the etcd3 client’s lock and election',
    explain(c, async () => {
      const at = [(await c().leader()).endpoint];
      expect(await etcdctlOk(at, ['lock', 'mylock', 'echo', 'held'])).toBe('held\n');
      const bin = findEtcdctl() as string;
      const candidate = spawn(bin, [`--endpoints=${at[0]}`, 'elect', 'elections/e', 'first'], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      candidate.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
      try {
        await waitFor(() => out.includes('first'), { timeoutMs: 10_000, what: 'etcdctl elect to win' });
        expect(await etcdctlOk(at, ['elect', '--listen', 'elections/e'], { killAfterMs: 3_000 }).catch((e: Error) => e.message)).toMatch(/first/);
      } finally {
        candidate.kill('SIGINT');
      }
      const etcd = clientOf(c().members);
      const lock = etcd.lock('locks/a');
      await lock.acquire();
      await expect(etcd.lock('locks/a').acquire()).rejects.toThrow(/Failed to acquire a lock/);
      await lock.release();
      await etcd.lock('locks/a').do(async () => undefined);
      const election = etcd.election('elections/js');
      const campaign = election.campaign('js-1');
      await new Promise<void>((resolve) => campaign.once('elected', () => resolve()));
      expect(await election.leader()).toBe('js-1');
      await campaign.resign();
    }),
  );
});
