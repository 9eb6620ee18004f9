/**
 * Proof (issue 15, MVCC history and compaction): a 3-member cluster of real processes keeps
 * every version, `etcdctl get --rev` reads the past on every member, `etcdctl compaction`
 * (through a follower too, and --physical) makes older reads fail with etcd's exact error, and
 * `--auto-compaction-*` compacts by itself on the leader.
 */
import { clusterForSuite, explain } from './harness/cluster';
import { etcdctl, etcdctlOk, parseEtcdctlJson } from './harness/etcdctl';
import { etcd } from '@keyval/proto';
import type { TestMember } from './harness/member-process';
import { bytes, prefixEnd } from './harness/kv-helpers';
import { waitFor } from './harness/wait-for';

jest.setTimeout(90_000);

interface GetJson {
  header: { revision: number };
  kvs?: { key: string; value: string; mod_revision: number; version: number }[];
  count?: number;
}

const base64 = (text: string): string => Buffer.from(text).toString('base64');

describe('history and compaction through etcdctl', () => {
  const c = clusterForSuite({ size: 3, memberFlags: () => ['--auto-compaction-mode=periodic', '--auto-compaction-retention=0'] });
  const leader = (): Promise<TestMember> => c().leader();
  const follower = async (): Promise<TestMember> => c().followersOf(await leader())[0] as TestMember;

  it(
    'get --rev reads every past version on every member; compaction fails older reads with etcd’s text',
    explain(c, async () => {
      const at = [(await leader()).endpoint];
      const revisions: number[] = [];
      for (const value of ['v1', 'v2', 'v3']) {
        await etcdctlOk(at, ['put', 'h/key', value]);
        const got = parseEtcdctlJson(await etcdctlOk(at, ['get', 'h/key', '-w', 'json'])) as GetJson;
        revisions.push(got.header.revision);
      }
      await etcdctlOk(at, ['del', 'h/key']);
      for (const m of c().members) {
        for (const [i, revision] of revisions.entries()) {
          expect(await etcdctlOk([m.endpoint], ['get', 'h/key', `--rev=${revision}`, '--print-value-only'])).toBe(`v${i + 1}\n`);
        }
        expect(await etcdctlOk([m.endpoint], ['get', 'h/key'])).toBe('');
      }
      const json = parseEtcdctlJson(await etcdctlOk(at, ['get', 'h/key', `--rev=${revisions[1]}`, '-w', 'json'])) as GetJson;
      expect(json.kvs?.[0]).toMatchObject({ key: base64('h/key'), value: base64('v2'), mod_revision: revisions[1], version: 2 });
      expect(json.header.revision).toBeGreaterThan(revisions[2] as number);

      const future = await etcdctl(at, ['get', 'h/key', '--rev=1000000']);
      expect(future.code).not.toBe(0);
      expect(future.stderr).toContain('etcdserver: mvcc: required revision is a future revision');

      // Through a follower (forwarded to the leader), waiting for the physical work.
      expect(await etcdctlOk([(await follower()).endpoint], ['compaction', String(revisions[1]), '--physical'])).toBe(`compacted revision ${revisions[1]}\n`);
      for (const m of c().members) {
        const old = await etcdctl([m.endpoint], ['get', 'h/key', `--rev=${revisions[0]}`]);
        expect(old.code).not.toBe(0);
        expect(old.stderr).toContain('etcdserver: mvcc: required revision has been compacted');
        expect(await etcdctlOk([m.endpoint], ['get', 'h/key', `--rev=${revisions[1]}`, '--print-value-only'])).toBe('v2\n');
      }
      const again = await etcdctl(at, ['compaction', String(revisions[1])]);
      expect(again.code).not.toBe(0);
      expect(again.stderr).toContain('etcdserver: mvcc: required revision has been compacted');
    }),
  );

  it(
    'sorted and filtered gets, and a txn reading a past revision',
    explain(c, async () => {
      const at = [(await follower()).endpoint];
      for (const [key, value] of [['s/a', '3'], ['s/b', '1'], ['s/c', '2']]) {
        await etcdctlOk(at, ['put', key as string, value as string]);
      }
      expect(await etcdctlOk(at, ['get', 's/', '--prefix', '--sort-by=VALUE', '--order=DESCEND', '--keys-only'])).toBe('s/a\n\ns/c\n\ns/b\n\n');
      expect(await etcdctlOk(at, ['get', 's/', '--prefix', '--sort-by=MODIFY', '--order=ASCEND', '--limit=2', '--keys-only'])).toBe('s/a\n\ns/b\n\n');
      const created = (parseEtcdctlJson(await etcdctlOk(at, ['get', 's/c', '-w', 'json'])) as GetJson).header.revision;
      // etcdctl 3.4 has no filter flags: the filters through the gRPC API, and a txn at a past revision.
      const kv = (await follower()).kv();
      const key = bytes('s/');
      const filtered = await kv.range(etcd.RangeRequest.fromPartial({ key, rangeEnd: prefixEnd(key), minCreateRevision: BigInt(created) }));
      expect(filtered.kvs.map((x) => x.key.toString())).toEqual(['s/c']);
      expect(filtered.count).toBe(3n);
      const txn = await kv.txn(
        etcd.TxnRequest.fromPartial({
          success: [
            { request: { $case: 'requestPut', value: etcd.PutRequest.fromPartial({ key: bytes('s/c'), value: bytes('changed') }) } },
            { request: { $case: 'requestRange', value: etcd.RangeRequest.fromPartial({ key: bytes('s/c'), revision: BigInt(created) }) } },
          ],
        }),
      );
      const past = txn.responses[1]?.response;
      expect(past?.$case === 'responseRange' ? past.value.kvs.map((x) => x.value.toString()) : undefined).toEqual(['2']);
    }),
  );
});

describe('auto-compaction (--auto-compaction-mode periodic, 2 s)', () => {
  const c = clusterForSuite({ size: 3, memberFlags: () => ['--auto-compaction-mode=periodic', '--auto-compaction-retention=2s'] });

  it(
    'the leader compacts by itself: a revision older than the retention becomes compacted',
    explain(c, async () => {
      const at = [(await c().leader()).endpoint];
      await etcdctlOk(at, ['put', 'auto/key', 'first']);
      const first = (parseEtcdctlJson(await etcdctlOk(at, ['get', 'auto/key', '-w', 'json'])) as GetJson).header.revision;
      await waitFor(
        async () => {
          await etcdctlOk(at, ['put', 'auto/key', `later-${Date.now()}`]);
          const r = await etcdctl(at, ['get', 'auto/key', `--rev=${first - 1}`]);
          return r.code !== 0 && r.stderr.includes('required revision has been compacted');
        },
        { timeoutMs: 20_000, intervalMs: 300, what: 'an automatic compaction past the first revision' },
      );
    }),
  );
});
