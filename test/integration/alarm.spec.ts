/**
 * Proof (issue 15, Alarm and the space quota) on a real 3-member KeyVal cluster started with a
 * tiny `--quota-backend-bytes`, driven with etcdctl as an etcd operator would: writes fill the
 * quota, the next write fails with etcd's exact text (RESOURCE_EXHAUSTED) on the leader and
 * through a follower, `etcdctl alarm list` shows the NOSPACE alarm on every member, Status
 * lists it in `errors`, /health turns false and kvctl status shows it; a backup restores with it;
 * the alarm survives a restart of every member;
 * deleting, compacting, defragmenting and `etcdctl alarm disarm` bring writes back.
 */
import * as path from 'node:path';
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import { etcd as etcdpb } from '@keyval/proto';
import { clusterForSuite, explain } from './harness/cluster';
import { etcdctl, etcdctlOk, parseEtcdctlJson } from './harness/etcdctl';
import type { TestMember } from './harness/member-process';
import { waitFor } from './harness/wait-for';
import { extraMemberSpec, kvctlJson, startExtraMember } from './ops-helpers';

jest.setTimeout(180_000);

/** Quota of each member: its empty database takes about 30 KB (RocksDB's LOG and OPTIONS files). */
const QUOTA_BYTES = 384 * 1024;
const VALUE = Buffer.alloc(16 * 1024, 'q');
const NO_SPACE = 'etcdserver: mvcc: database space exceeded';

interface StatusJson {
  Endpoint: string;
  Status: { header: { member_id: number; revision: number }; errors?: string[]; dbSize: number };
}

const lastLine = (text: string): string => text.trim().split('\n').slice(-1)[0] ?? '';

async function memberId(member: TestMember): Promise<bigint> {
  return (await member.status(5_000)).header?.memberId ?? 0n;
}

describe('etcd alarms and the space quota on KeyVal (real processes)', () => {
  const c = clusterForSuite({ size: 3, memberFlags: () => [`--quota-backend-bytes=${QUOTA_BYTES}`] });

  it(
    'fills the quota, raises NOSPACE through the log, survives restarts, and recovers as etcd does',
    explain(c, async () => {
      const leader = await c().leader();
      const follower = c().followersOf(leader)[0] as TestMember;
      const endpoints = c().endpoints();
      expect(await etcdctlOk(endpoints, ['alarm', 'list'])).toBe('');

      // Writes through the leader until the quota refuses one (bounded: far more than fit).
      let refused: unknown;
      let written = 0;
      for (; written < 200 && refused === undefined; written++) {
        await leader
          .kv()
          .put(etcdpb.PutRequest.fromPartial({ key: Buffer.from(`fill/${String(written).padStart(3, '0')}`), value: VALUE }), { timeoutMs: 10_000 })
          .catch((error: unknown) => {
            refused = error;
          });
      }
      expect(refused).toBeInstanceOf(GrpcStatusError);
      expect((refused as GrpcStatusError).code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
      expect((refused as GrpcStatusError).details).toBe(NO_SPACE);
      // It took more than a few writes: the quota counts the database, not the first write.
      expect(written).toBeGreaterThan(8);

      // The alarm names the member whose database was over the quota, on every member.
      const alarmLine = `memberID:${await memberId(leader)} alarm:NOSPACE `;
      for (const member of c().running()) {
        expect(await etcdctlOk([member.endpoint], ['alarm', 'list'])).toBe(`${alarmLine}\n`);
      }
      // Every member refuses what adds data with etcd's text; reads and deletes still work.
      for (const member of [leader, follower]) {
        const put = await etcdctl([member.endpoint], ['put', 'more', 'data']);
        expect(put.code).toBe(1);
        expect(lastLine(put.stderr)).toBe(`Error: ${NO_SPACE}`);
      }
      const grant = await etcdctl([follower.endpoint], ['lease', 'grant', '60']);
      expect(lastLine(grant.stderr)).toBe(`Error: failed to grant lease (${NO_SPACE})`);
      const txn = await etcdctl([follower.endpoint], ['txn'], { input: '\nput t v\n\n\n' });
      expect(lastLine(txn.stderr)).toBe(`Error: ${NO_SPACE}`);
      expect(await etcdctlOk([follower.endpoint], ['get', 'fill/000', '--print-value-only'])).toBe(`${VALUE.toString()}\n`);

      // Status.errors and /health, as etcd reports an active alarm.
      const statuses = parseEtcdctlJson(await etcdctlOk(endpoints, ['endpoint', 'status', '-w', 'json'])) as StatusJson[];
      expect(statuses.map((s) => s.Status.errors)).toEqual(endpoints.map(() => [alarmLine]));
      // kvctl status shows it on every member (degraded: reads and deletes still work).
      const rows = await kvctlJson<{ name: string; health: string; problems: string[] }[]>(endpoints, ['status']);
      const problem = `alarm NOSPACE raised by member ${(await memberId(leader)).toString(16)}: writes that add data are refused until it is disarmed`;
      expect(rows.map((r) => [r.health, r.problems])).toEqual(rows.map(() => ['degraded', [problem]]));
      const health = await follower.httpGet('/health');
      expect(health.status).toBe(503);
      expect(JSON.parse(health.body)).toMatchObject({ health: 'false' });

      // A backup taken now restores with the alarm (it is in the snapshot), as etcd's does.
      const file = path.join(c().dir, 'alarmed.snap');
      expect((await etcdctl([follower.endpoint], ['snapshot', 'save', file])).code).toBe(0);
      const spec = await extraMemberSpec(path.join(c().dir, 'restored'), 'r1');
      const restored = await kvctlJson<{ flags: string[] }>(endpoints, [
        'snapshot',
        'restore',
        file,
        `--data-dir=${spec.dataDir}`,
        '--name=r1',
        `--initial-cluster=r1=http://127.0.0.1:${spec.peerPort}`,
        '--initial-cluster-token=restored',
      ]);
      const copy = await startExtraMember(
        spec,
        restored.flags.filter((f) => !f.startsWith('--data-dir=')),
      );
      try {
        expect(await etcdctlOk([copy.endpoint], ['alarm', 'list'])).toBe(`${alarmLine}\n`);
        expect(lastLine((await etcdctl([copy.endpoint], ['put', 'more', 'data'])).stderr)).toBe(`Error: ${NO_SPACE}`);
      } finally {
        await copy.stop('SIGKILL').catch(() => undefined);
        copy.closeChannel();
      }

      // The alarm is replicated state: it survives a restart of every member.
      for (const member of c().running()) {
        await member.stop('SIGTERM');
        await c().restart(member);
      }
      await c().leader();
      for (const member of c().running()) {
        expect(await etcdctlOk([member.endpoint], ['alarm', 'list'])).toBe(`${alarmLine}\n`);
      }
      expect(lastLine((await etcdctl(endpoints, ['put', 'more', 'data'])).stderr)).toBe(`Error: ${NO_SPACE}`);

      // etcd's recovery: delete, compact, defragment every member, disarm.
      await etcdctlOk(endpoints, ['del', 'fill/', '--prefix']);
      const revision = (parseEtcdctlJson(await etcdctlOk(endpoints, ['endpoint', 'status', '-w', 'json'])) as StatusJson[])[0]?.Status.header.revision as number;
      await etcdctlOk(endpoints, ['compaction', '--physical', String(revision)]);
      await etcdctlOk(endpoints, ['defrag']);
      // Still refused until the alarm is disarmed, as etcd.
      expect(lastLine((await etcdctl([follower.endpoint], ['put', 'more', 'data'])).stderr)).toBe(`Error: ${NO_SPACE}`);
      expect(await etcdctlOk([follower.endpoint], ['alarm', 'disarm'])).toBe(`${alarmLine}\n`);
      expect(await etcdctlOk(endpoints, ['alarm', 'list'])).toBe('');
      // Every member applied the disarm: each takes writes again, and reports healthy.
      for (const member of c().running()) {
        await waitFor(async () => (await etcdctl([member.endpoint], ['put', `after/${member.name}`, 'ok'])).code === 0, { timeoutMs: 10_000, what: `a write through ${member.name}` });
        await waitFor(async () => (await member.httpGet('/health')).status === 200, { timeoutMs: 10_000, what: `${member.name} healthy` });
      }
      const after = parseEtcdctlJson(await etcdctlOk(endpoints, ['endpoint', 'status', '-w', 'json'])) as StatusJson[];
      expect(after.map((s) => s.Status.errors)).toEqual(endpoints.map(() => undefined));
      expect(after.every((s) => s.Status.dbSize < QUOTA_BYTES)).toBe(true);

      // Filled again through a follower: the follower judges by its own database (as etcd; the
      // leader does not judge again what it forwards) and raises the alarm naming itself.
      let again: { code: number | null; stderr: string } | undefined;
      for (let i = 0; i < 200 && (again === undefined || again.code === 0); i++) {
        again = await etcdctl([follower.endpoint], ['put', `refill/${String(i).padStart(3, '0')}`, VALUE.toString()]);
      }
      expect(lastLine(again?.stderr ?? '')).toBe(`Error: ${NO_SPACE}`);
      expect(await etcdctlOk(endpoints, ['alarm', 'list'])).toBe(`memberID:${await memberId(follower)} alarm:NOSPACE \n`);
    }),
  );
});
