/**
 * Proof (issue 15, Maintenance) on a real 3-member KeyVal cluster, beside a real etcd 3.4 where
 * it shows the behaviour: `etcdctl endpoint status -w json` fills the fields etcd fills, with
 * header.member_id = the member asked; `etcdctl endpoint hashkv --cluster` agrees on every
 * member and refuses compacted and future revisions with etcd's texts; `kvctl check` passes,
 * then exits 1 naming a member whose stored data was tampered with; `etcdctl defrag` gives
 * space back; `etcdctl snapshot save` writes a download etcd's client accepts (512·n + 32
 * bytes, SHA-256 trailer) that `kvctl snapshot restore` turns into a new cluster holding the
 * same key space (same HashKV); grpc.health.v1 Health/Check answers as etcd's.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import rocksdb from 'rocksdb';
import { GrpcChannel, GrpcStatus, GrpcStatusError, createClient } from '@keyval/grpc';
import { etcd as etcdpb, health } from '@keyval/proto';
import { EtcdCluster } from './harness/etcd-process';
import type { EtcdMember } from './harness/etcd-process';
import { waitFor } from './harness/wait-for';
import { clusterForSuite, explain } from './harness/cluster';
import { etcdctl, etcdctlOk, parseEtcdctlJson } from './harness/etcdctl';
import type { TestMember } from './harness/member-process';
import { extraMember, extraMemberSpec, kvctlJson, runKvctl } from './ops-helpers';

jest.setTimeout(180_000);

interface StatusJson {
  Endpoint: string;
  Status: Record<string, unknown> & {
    header: { member_id: string };
    leader: string;
    dbSize: number;
    dbSizeInUse: number;
    raftIndex: number;
    raftAppliedIndex: number;
  };
}
interface HashKvJson {
  Endpoint: string;
  HashKV: {
    header: { member_id: string; revision: number };
    hash: number;
    compact_revision: number;
  };
}

/** Puts `key` = `value` through etcdctl. */
async function put(endpoints: readonly string[], key: string, value: string): Promise<void> {
  await etcdctlOk(endpoints, ['put', key, value]);
}

/** The same writes on either system: overwrites, a delete, then a compaction at revision 4. */
async function workload(endpoints: readonly string[]): Promise<void> {
  for (const [k, v] of [
    ['m/a', '1'],
    ['m/b', '2'],
    ['m/a', '3'],
    ['m/c', '4'],
    ['m/b', '5'],
  ] as const) {
    await put(endpoints, k, v);
  }
  await etcdctlOk(endpoints, ['del', 'm/c']);
  await etcdctlOk(endpoints, ['compaction', '4']);
}

describe('etcd Maintenance on KeyVal (real processes), beside etcd 3.4', () => {
  const c = clusterForSuite({ size: 3 });
  let etcd: EtcdCluster | undefined;
  const e = (): EtcdCluster => {
    if (etcd === undefined) throw new Error('etcd did not start');
    return etcd;
  };

  beforeAll(async () => {
    etcd = await EtcdCluster.start(1);
    await workload(e().members.map((m) => m.endpoint));
  });
  afterAll(async () => {
    await etcd?.close();
  });

  it(
    'endpoint status: the fields etcd fills, member_id = the member asked, one leader',
    explain(c, async () => {
      await workload(c().endpoints());
      const ours = parseEtcdctlJson(await etcdctlOk(c().endpoints(), ['endpoint', 'status', '-w', 'json'])) as StatusJson[];
      const theirs = parseEtcdctlJson(
        await etcdctlOk(
          e().members.map((m) => m.endpoint),
          ['endpoint', 'status', '-w', 'json'],
        ),
      ) as StatusJson[];
      const fields = (s: StatusJson): string[] => Object.keys(s.Status).sort();
      expect(ours.map(fields)).toEqual(ours.map(() => fields(theirs[0] as StatusJson)));
      const members = c().running();
      for (const row of ours) {
        const member = members.find((m) => row.Endpoint === m.endpoint) as TestMember;
        const self = await member.status(5_000);
        expect(row.Status.header.member_id).toBe(String(self.header?.memberId));
        expect(row.Status.leader).toBe((ours[0] as StatusJson).Status.leader);
        expect(row.Status.dbSize).toBeGreaterThan(0);
        expect(row.Status.dbSizeInUse).toBeGreaterThan(0);
        expect(row.Status.dbSizeInUse).toBeLessThanOrEqual(row.Status.dbSize);
        expect(row.Status.raftAppliedIndex).toBeLessThanOrEqual(row.Status.raftIndex);
      }
    }),
  );

  it(
    'endpoint hashkv: equal on every member; compacted and future revisions refused with etcd’s texts',
    explain(c, async () => {
      const rows = parseEtcdctlJson(await etcdctlOk([c().endpoints()[0] as string], ['endpoint', 'hashkv', '--cluster', '-w', 'json'])) as HashKvJson[];
      expect(rows).toHaveLength(3);
      expect(new Set(rows.map((r) => r.HashKV.hash)).size).toBe(1);
      expect(new Set(rows.map((r) => r.HashKV.header.member_id)).size).toBe(3);
      expect(rows.map((r) => r.HashKV.compact_revision)).toEqual([4, 4, 4]);
      const etcdEndpoints = e().members.map((m) => m.endpoint);
      const etcdRow = (parseEtcdctlJson(await etcdctlOk(etcdEndpoints, ['endpoint', 'hashkv', '-w', 'json'])) as HashKvJson[])[0] as HashKvJson;
      expect(etcdRow.HashKV.compact_revision).toBe(4);
      for (const rev of ['4', '3', '99']) {
        const mine = await etcdctl([c().endpoints()[0] as string], ['endpoint', 'hashkv', `--rev=${rev}`]);
        const etcds = await etcdctl(etcdEndpoints, ['endpoint', 'hashkv', `--rev=${rev}`]);
        expect(mine.code).toBe(etcds.code);
        expect(lastLine(mine.stderr)).toBe(lastLine(etcds.stderr));
      }
      // The revision above the compaction hashes, and equally on every member.
      const at5 = parseEtcdctlJson(await etcdctlOk(c().endpoints(), ['endpoint', 'hashkv', '--rev=5', '-w', 'json'])) as HashKvJson[];
      expect(new Set(at5.map((r) => r.HashKV.hash)).size).toBe(1);
      expect(at5[0]?.HashKV.hash).not.toBe(rows[0]?.HashKV.hash);
    }),
  );

  it(
    'defrag: etcdctl’s answer on every member, the space of deleted data given back, the data unchanged',
    explain(c, async () => {
      const endpoints = c().endpoints();
      const leader = await c().leader();
      const value = Buffer.alloc(4096, 'x');
      await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          for (let i = w; i < 400; i += 8)
            await leader.kv().put(etcdPut(`bulk/${String(i).padStart(4, '0')}`, value), {
              timeoutMs: 10_000,
            });
        }),
      );
      await etcdctlOk(endpoints, ['del', 'bulk/', '--prefix']);
      const revision = (parseEtcdctlJson(await etcdctlOk(endpoints, ['endpoint', 'status', '-w', 'json'])) as StatusJson[])[0]?.Status.header as unknown as { revision: number };
      await etcdctlOk(endpoints, ['compaction', '--physical', String(revision.revision)]);
      const before = parseEtcdctlJson(await etcdctlOk(endpoints, ['endpoint', 'status', '-w', 'json'])) as StatusJson[];
      const hashBefore = await etcdctlOk(endpoints, ['endpoint', 'hashkv']);
      const out = await etcdctlOk(endpoints, ['defrag']);
      expect(out.trim().split('\n')).toEqual(endpoints.map((ep) => `Finished defragmenting etcd member[${ep}]`));
      const etcdOut = await etcdctlOk(
        e().members.map((m) => m.endpoint),
        ['defrag'],
      );
      expect(etcdOut).toMatch(/^Finished defragmenting etcd member\[/);
      const after = parseEtcdctlJson(await etcdctlOk(endpoints, ['endpoint', 'status', '-w', 'json'])) as StatusJson[];
      for (let k = 0; k < 3; k++) {
        expect((after[k] as StatusJson).Status.dbSizeInUse).toBeLessThan((before[k] as StatusJson).Status.dbSizeInUse / 2);
      }
      expect(await etcdctlOk(endpoints, ['endpoint', 'hashkv'])).toBe(hashBefore);
    }),
  );

  it(
    'snapshot save writes what etcd’s client accepts; kvctl snapshot restore makes a new cluster with the same key space',
    explain(c, async () => {
      await put(c().endpoints(), 'snap/key', 'saved');
      const file = path.join(c().dir, 'etcdctl.snap');
      const saved = await etcdctl([c().endpoints()[0] as string], ['snapshot', 'save', file]);
      expect(saved.code).toBe(0);
      expect(saved.stdout).toBe(`Snapshot saved at ${file}\n`);
      const bytes = fs.readFileSync(file);
      expect(bytes.length % 512).toBe(32);
      expect(createHash('sha256').update(bytes.subarray(0, -32)).digest().equals(bytes.subarray(-32))).toBe(true);
      // Not a bbolt file: etcd's own tools cannot read it (documented).
      expect((await etcdctl([], ['snapshot', 'status', file])).code).not.toBe(0);
      // A damaged download is refused by restore.
      const damaged = path.join(c().dir, 'damaged.snap');
      fs.writeFileSync(damaged, Buffer.concat([bytes.subarray(0, 20), Buffer.from([(bytes[20] as number) ^ 0xff]), bytes.subarray(21)]));
      const spec = await extraMemberSpec(path.join(c().dir, 'restored'), 'r1');
      const restoreArgs = (from: string): string[] => [
        'snapshot',
        'restore',
        from,
        `--data-dir=${spec.dataDir}`,
        '--name=r1',
        `--initial-cluster=r1=http://127.0.0.1:${spec.peerPort}`,
        '--initial-cluster-token=restored',
      ];
      const refused = await runKvctl(undefined, restoreArgs(damaged));
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/SHA-256 mismatch/);
      expect(fs.existsSync(spec.dataDir)).toBe(false);

      const r = await kvctlJson<{ flags: string[]; revision: number }>(c().endpoints(), restoreArgs(file));
      const member = extraMember(
        spec,
        r.flags.filter((f) => !f.startsWith('--data-dir=')),
      );
      try {
        member.start();
        await member.waitReady(60_000);
        // Nothing was written since the save: both at the snapshot's revision.
        const source = parseEtcdctlJson(await etcdctlOk([c().endpoints()[0] as string], ['endpoint', 'hashkv', '-w', 'json'])) as HashKvJson[];
        const copy = parseEtcdctlJson(await etcdctlOk([member.endpoint], ['endpoint', 'hashkv', '-w', 'json'])) as HashKvJson[];
        expect(copy[0]?.HashKV.header.revision).toBe(r.revision);
        expect(source[0]?.HashKV.header.revision).toBe(r.revision);
        expect(copy[0]?.HashKV.hash).toBe(source[0]?.HashKV.hash);
        expect(copy[0]?.HashKV.compact_revision).toBe(source[0]?.HashKV.compact_revision);
        expect(await etcdctlOk([member.endpoint], ['get', 'snap/key', '--print-value-only'])).toBe('saved\n');
      } finally {
        await member.stop('SIGKILL').catch(() => undefined);
        member.closeChannel();
      }
    }),
  );

  it(
    'grpc.health.v1 Health/Check on the client port: SERVING for the server, NOT_FOUND "unknown service" otherwise, as etcd',
    explain(c, async () => {
      const etcdChannel = new GrpcChannel(e().members[0]?.clientUrl as string, { connectTimeoutMs: 2_000 });
      try {
        for (const channel of [c().running()[0]?.grpcChannel() as GrpcChannel, etcdChannel]) {
          const client = createClient(health.HealthDefinition, channel);
          expect(await client.check({ service: '' }, { timeoutMs: 5_000 })).toEqual({ status: health.HealthCheckResponse_ServingStatus.SERVING });
          const unknown = await client.check({ service: 'etcdserverpb.KV' }, { timeoutMs: 5_000 }).catch((error: unknown) => error);
          expect(unknown).toBeInstanceOf(GrpcStatusError);
          expect([(unknown as GrpcStatusError).code, (unknown as GrpcStatusError).details]).toEqual([GrpcStatus.NOT_FOUND, 'unknown service']);
        }
      } finally {
        etcdChannel.close();
      }
    }),
  );

  it(
    'kvctl check: every member agrees; a member whose stored data was changed behind Raft’s back is named, exit 1',
    explain(c, async () => {
      const endpoints = c().endpoints();
      await put(endpoints, 'check/victim', 'original');
      const ok = await runKvctl(endpoints, ['check', '-o', 'json']);
      expect(ok.code).toBe(0);
      const rows = JSON.parse(ok.stdout) as {
        name: string;
        hash: number;
        divergent: boolean;
      }[];
      expect(rows.map((row) => row.divergent)).toEqual([false, false, false]);
      expect(new Set(rows.map((row) => row.hash)).size).toBe(1);

      const leader = await c().leader();
      const victim = c().followersOf(leader)[0] as TestMember;
      await victim.stop('SIGTERM');
      await tamper(victim.spec.dataDir, 'check/victim');
      await c().restart(victim, 60_000);
      const bad = await runKvctl(endpoints, ['check', 'hashkv']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(new RegExp(`diverges on member ${victim.name} \\(`));
      expect(bad.stdout).toMatch(new RegExp(`^${victim.name}\\s.*DIVERGES$`, 'm'));
    }),
  );

  it(
    'endpoint status without a leader: errors says "etcdserver: no leader", as etcd’s does',
    explain(c, async () => {
      const noLeader = async (endpoint: string): Promise<StatusJson['Status'] | undefined> => {
        const r = await etcdctl([endpoint], ['endpoint', 'status', '-w', 'json']);
        const row = r.code === 0 ? ((parseEtcdctlJson(r.stdout) as StatusJson[])[0] as StatusJson) : undefined;
        return row !== undefined && String(row.Status.leader ?? 0) === '0' ? row.Status : undefined;
      };
      const three = await EtcdCluster.start(3);
      try {
        const [survivor, ...others] = three.members as [EtcdMember, ...EtcdMember[]];
        for (const m of others) await three.kill(m);
        const theirs = await waitFor(() => noLeader(survivor.endpoint), { timeoutMs: 20_000, what: 'etcd to lose its leader' });
        const leader = await c().leader();
        for (const m of c().followersOf(leader)) await m.stop('SIGKILL');
        const ours = await waitFor(() => noLeader(leader.endpoint), { timeoutMs: 20_000, what: 'KeyVal to lose its leader' });
        expect(ours.errors).toEqual(theirs.errors);
        expect(ours.errors).toEqual(['etcdserver: no leader']);
      } finally {
        await three.close();
      }
    }),
  );
});

function etcdPut(key: string, value: Buffer): etcdpb.PutRequest {
  return etcdpb.PutRequest.fromPartial({ key: Buffer.from(key), value });
}

function lastLine(text: string): string {
  return text.trim().split('\n').slice(-1)[0] ?? '';
}

/** Flips the last value byte of every stored version of `key` in a stopped member's RocksDB. */
async function tamper(dataDir: string, key: string): Promise<void> {
  const sm = path.join(dataDir, 'sm');
  const dbName = fs
    .readdirSync(sm)
    .filter((n) => /^db-\d+$/.test(n))
    .sort()
    .slice(-1)[0];
  if (dbName === undefined) throw new Error(`no database under ${sm}`);
  const db = rocksdb(path.join(sm, dbName));
  await new Promise<void>((resolve, reject) => db.open({ createIfMissing: false }, (error) => (error ? reject(error) : resolve())));
  try {
    const changes: Array<{ key: Buffer; value: Buffer }> = [];
    const it = db.iterator({ keyAsBuffer: true, valueAsBuffer: true });
    for (;;) {
      const entry = await new Promise<{ key: Buffer; value: Buffer } | undefined>((resolve, reject) =>
        it.next((error, k, v) => (error ? reject(error) : resolve(k === undefined ? undefined : { key: k, value: v as Buffer }))),
      );
      if (entry === undefined) break;
      if (entry.key.includes(Buffer.from(key)) && entry.value.subarray(-'original'.length).toString() === 'original') {
        const value = Buffer.from(entry.value);
        value[value.length - 1] = 'X'.charCodeAt(0);
        changes.push({ key: entry.key, value });
      }
    }
    await new Promise<void>((resolve, reject) => it.end((error) => (error ? reject(error) : resolve())));
    if (changes.length === 0) throw new Error(`no stored record of ${key} found`);
    const batch = db.batch();
    for (const change of changes) batch.put(change.key, change.value);
    await new Promise<void>((resolve, reject) => batch.write({ sync: true }, (error) => (error ? reject(error) : resolve())));
  } finally {
    await new Promise<void>((resolve) => db.close(() => resolve()));
  }
}
