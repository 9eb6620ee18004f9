/**
 * Proof (issue 4): the `etcd3` npm client (grpc-js with etcd's own protos, a client no one
 * here wrote) works unchanged against a 3-member cluster of real processes — put, get,
 * delete, prefix reads, txn and compare-and-swap — against the leader and a follower.
 */
import { Etcd3 } from 'etcd3';
import { TestCluster, explain } from './harness/cluster';
import type { TestMember } from './harness/member-process';

jest.setTimeout(60_000);

describe('the etcd3 npm client against a real cluster', () => {
  let cluster: TestCluster | undefined;
  const clients: Etcd3[] = [];
  const c = (): TestCluster => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    return cluster;
  };
  /** A client talking to one member only, so the test knows who answers. */
  const clientOf = (member: TestMember): Etcd3 => {
    const client = new Etcd3({ hosts: [member.clientUrl], dialTimeout: 3_000, defaultCallOptions: () => ({ deadline: Date.now() + 5_000 }) });
    clients.push(client);
    return client;
  };
  const leader = (): Promise<TestMember> => c().leader();
  const follower = async (): Promise<TestMember> => c().followersOf(await leader())[0] as TestMember;

  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 3 });
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await cluster?.close();
  });

  describe.each([
    ['the leader', leader, 'L'],
    ['a follower (forwarding writes to the leader)', follower, 'F'],
  ])('against %s', (_label, target, p) => {
    it(
      'put, get, delete and prefix reads',
      explain(c, async () => {
        const etcd = clientOf(await target());
        await etcd.put(`${p}/a`).value('alpha');
        await etcd.put(`${p}/b`).value('beta');
        await etcd.put(`${p}x`).value('outside');
        expect(await etcd.get(`${p}/a`).string()).toBe('alpha');
        expect(await etcd.get(`${p}/missing`).string()).toBeNull();
        expect(await etcd.getAll().prefix(`${p}/`).strings()).toEqual({ [`${p}/a`]: 'alpha', [`${p}/b`]: 'beta' });
        expect(await etcd.getAll().prefix(`${p}/`).keys()).toEqual([`${p}/a`, `${p}/b`]);
        expect(await etcd.getAll().prefix(`${p}/`).count()).toBe(2);
        expect(await etcd.getAll().prefix(`${p}/`).limit(1).strings()).toEqual({ [`${p}/a`]: 'alpha' });
        const put = await etcd.put(`${p}/a`).value('alpha2').getPrevious();
        expect(put.value.toString()).toBe('alpha'); // etcd3 spreads prev_kv into the result
        // The write is visible on every member (linearizable reads).
        for (const m of c().members) {
          expect(await clientOf(m).get(`${p}/a`).string()).toBe('alpha2');
        }
        const deleted = await etcd.delete().key(`${p}/a`);
        expect(deleted.deleted).toBe('1');
        const byPrefix = await etcd.delete().prefix(`${p}/`).getPrevious();
        expect(byPrefix.map((kv) => kv.key.toString())).toEqual([`${p}/b`]);
        expect(await etcd.getAll().prefix(`${p}/`).keys()).toEqual([]);
        expect(await etcd.get(`${p}x`).string()).toBe('outside');
      }),
    );

    it(
      'txn: compare-and-swap takes the then branch only while the compare holds',
      explain(c, async () => {
        const etcd = clientOf(await target());
        await etcd.put(`${p}/cas`).value('0');
        // Increment a counter by compare-and-swap, as a client library would.
        for (let i = 0; i < 5; i++) {
          const current = (await etcd.get(`${p}/cas`).string()) as string;
          const txn = await etcd.if(`${p}/cas`, 'Value', '==', current).then(etcd.put(`${p}/cas`).value(String(Number(current) + 1))).commit();
          expect(txn.succeeded).toBe(true);
        }
        expect(await etcd.get(`${p}/cas`).string()).toBe('5');
        // A stale compare takes the else branch, whose ops run (a read and a put).
        const stale = await etcd
          .if(`${p}/cas`, 'Value', '==', '4')
          .then(etcd.put(`${p}/cas`).value('never'))
          .else(etcd.get(`${p}/cas`), etcd.put(`${p}/lost-race`).value('yes'))
          .commit();
        expect(stale.succeeded).toBe(false);
        expect(stale.responses[0]?.response_range?.kvs[0]?.value.toString()).toBe('5');
        expect(await etcd.get(`${p}/cas`).string()).toBe('5');
        expect(await etcd.get(`${p}/lost-race`).string()).toBe('yes');
        // Compares on version, create and mod revision.
        const kv = (await etcd.get(`${p}/cas`).exec()).kvs[0];
        expect(kv?.version).toBe('6');
        const byRevision = await etcd
          .if(`${p}/cas`, 'Version', '==', 6)
          .and(`${p}/cas`, 'Mod', '==', Number(kv?.mod_revision))
          .and(`${p}/cas`, 'Create', '<', Number(kv?.mod_revision))
          .then(etcd.delete().key(`${p}/cas`))
          .commit();
        expect(byRevision.succeeded).toBe(true);
        // A create-if-absent: version 0 means the key does not exist.
        const create = (): Promise<{ succeeded: boolean }> => etcd.if(`${p}/cas`, 'Version', '==', 0).then(etcd.put(`${p}/cas`).value('new')).commit();
        expect((await create()).succeeded).toBe(true);
        expect((await create()).succeeded).toBe(false);
      }),
    );
  });

  it(
    'a client given every member spreads its calls and every call succeeds',
    explain(c, async () => {
      const etcd = new Etcd3({ hosts: c().members.map((m) => m.clientUrl), dialTimeout: 3_000 });
      clients.push(etcd);
      await Promise.all(Array.from({ length: 30 }, (_, i) => etcd.put(`all/${String(i).padStart(2, '0')}`).value(`v${i}`)));
      const all = await etcd.getAll().prefix('all/').strings();
      expect(Object.keys(all)).toHaveLength(30);
      expect(all['all/07']).toBe('v7');
    }),
  );
});
