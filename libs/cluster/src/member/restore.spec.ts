import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfChangeType, EntryType, bootstrapEntries, decodeConfChangeEntry } from '@keyval/raft';
import type { Entry, LogIndex, NodeId, SnapshotMeta, Term } from '@keyval/raft';
import { WalLogStore } from '@keyval/storage';
import { DEFAULT_LIMITS, RocksStateMachine, decodeCommand, encodeCommand, encodeMemberContext } from '@keyval/statemachine';
import type { MembershipState } from '@keyval/statemachine';
import { computeClusterId, computeMemberId, readIdentity } from './member-identity';
import { RestoreError, planRestore, restoreMember, restoredClusterId } from './restore';

const oldCluster = [1, 2, 3].map((k) => ({ name: `o${k}`, peerUrls: [`http://10.0.0.${k}:2380`] }));
const newCluster = [1, 2, 3].map((k) => ({ name: `n${k}`, peerUrls: [`http://127.0.0.1:${k}2380`] }));
const OLD_TOKEN = 'old-token';

function membershipOf(cluster: typeof oldCluster, token: string, learners: typeof oldCluster = []): MembershipState {
  const voters = cluster.map((m) => computeMemberId(m.peerUrls, token));
  const learnerIds = learners.map((m) => computeMemberId(m.peerUrls, token));
  const members = [...cluster, ...learners].map((m) => ({ id: computeMemberId(m.peerUrls, token), name: m.name, peerUrls: m.peerUrls, clientUrls: ['http://old-client:2379'] }));
  return { config: { voters, learners: learnerIds }, members };
}

const meta = (membership: MembershipState): SnapshotMeta => ({ index: 500 as LogIndex, term: 7 as Term, config: membership.config });

describe('planRestore (pure)', () => {
  it('adds every new member, then removes every old one, all at term+1 right after the snapshot, committed', () => {
    const backup = membershipOf(oldCluster, OLD_TOKEN);
    const plan = planRestore({ meta: meta(backup), membership: backup }, newCluster, 'new-token');
    const newIds = newCluster.map((m) => computeMemberId(m.peerUrls, 'new-token')).sort((a, b) => (a < b ? -1 : 1));
    expect(plan.entries.map((e) => e.index)).toEqual([501, 502, 503, 504, 505, 506]);
    expect(plan.entries.every((e) => e.term === 8 && e.type === EntryType.ConfChange)).toBe(true);
    const changes = plan.entries.map((e) => decodeConfChangeEntry(e.data));
    expect(changes.slice(0, 3).map((c) => [c.change.type, c.change.nodeId])).toEqual(newIds.map((id) => [ConfChangeType.AddVoter, id]));
    expect(changes.slice(3).every((c) => c.change.type === ConfChangeType.RemoveMember)).toBe(true);
    expect(new Set(changes.slice(3).map((c) => c.change.nodeId))).toEqual(new Set(backup.config.voters));
    expect([...plan.config.voters].sort()).toEqual([...newIds].sort());
    expect(plan.config.learners).toEqual([]);
    // The last entry's configuration is the new membership; there is never an empty voter set.
    expect(changes[5]?.config).toEqual(plan.config);
    expect(changes.every((c) => c.config.voters.length > 0)).toBe(true);
    expect(plan.hardState).toEqual({ term: 8, vote: 0n, commit: 506 });
  });

  it('is deterministic, and the new cluster id is neither the old one nor a plain bootstrap id', () => {
    const backup = membershipOf(oldCluster, OLD_TOKEN);
    const a = planRestore({ meta: meta(backup), membership: backup }, newCluster, 'new-token');
    const b = planRestore({ meta: meta(backup), membership: backup }, [...newCluster].reverse(), 'new-token');
    expect(b).toEqual(a);
    const ids = a.members.map((m) => m.id);
    expect(a.clusterId).not.toBe(computeClusterId(ids));
    expect(a.clusterId).not.toBe(computeClusterId(backup.config.voters));
    expect(restoredClusterId(ids, 'other-token', meta(backup))).not.toBe(a.clusterId);
  });

  it('keeps members whose ids were voters (same peer URLs and token) and resets their name and client URLs', () => {
    const backup = membershipOf(oldCluster, OLD_TOKEN);
    const renamed = oldCluster.map((m, k) => ({ name: `r${k + 1}`, peerUrls: m.peerUrls }));
    const plan = planRestore({ meta: meta(backup), membership: backup }, renamed, OLD_TOKEN);
    expect(plan.entries.every((e) => e.type === EntryType.Normal)).toBe(true);
    const ops = plan.entries.map((e) => decodeCommand(e.data, DEFAULT_LIMITS).op);
    expect(ops.map((op) => (op.type === 'memberAttributes' ? [op.name, op.clientUrls.length] : op.type)).sort()).toEqual([
      ['r1', 0],
      ['r2', 0],
      ['r3', 0],
    ]);
    expect(plan.config).toEqual(backup.config);
    // The cluster id still changes: the restored cluster never talks to the old one.
    expect(plan.clusterId).not.toBe(computeClusterId(backup.config.voters));
  });

  it('promotes a backup learner that is a new member, and removes old learners', () => {
    const learner = { name: 'l', peerUrls: ['http://127.0.0.1:12380'] };
    const backup = membershipOf(oldCluster, OLD_TOKEN, [{ name: 'l', peerUrls: learner.peerUrls }]);
    // Same token: the learner's id is in the backup as a learner.
    const cluster = [learner, { name: 'x', peerUrls: ['http://127.0.0.1:22380'] }];
    const plan = planRestore({ meta: meta(backup), membership: backup }, cluster, OLD_TOKEN);
    const changes = plan.entries.map((e) => decodeConfChangeEntry(e.data).change);
    const learnerId = computeMemberId(learner.peerUrls, OLD_TOKEN);
    expect(changes.find((c) => c.nodeId === learnerId)?.type).toBe(ConfChangeType.PromoteLearner);
    expect(plan.config.learners).toEqual([]);
    expect(plan.config.voters).toHaveLength(2);
  });

  it('refuses an empty or inconsistent --initial-cluster', () => {
    const backup = membershipOf(oldCluster, OLD_TOKEN);
    const info = { meta: meta(backup), membership: backup };
    expect(() => planRestore(info, [], 't')).toThrow(RestoreError);
    expect(() => planRestore(info, [newCluster[0]!, newCluster[0]!], 't')).toThrow(/twice/);
    expect(() => planRestore(info, [newCluster[0]!, { name: 'z', peerUrls: newCluster[0]!.peerUrls }], 't')).toThrow(/share peer URLs/);
    expect(() => planRestore(info, [{ name: 'z', peerUrls: [] }], 't')).toThrow(/no peer URL/);
  });
});

describe('restoreMember (RocksDB and WAL on disk)', () => {
  let dir: string;
  let backupFile: string;
  let backupRevision: number;
  const keys = Array.from({ length: 300 }, (_, k) => `key/${String(k).padStart(4, '0')}`);

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'restore-spec-'));
    const sm = await RocksStateMachine.open({ dataDir: path.join(dir, 'source') });
    const ids = oldCluster.map((m) => computeMemberId(m.peerUrls, OLD_TOKEN));
    const contexts = new Map<NodeId, Uint8Array>(oldCluster.map((m, k) => [ids[k]!, encodeMemberContext({ name: m.name, peerUrls: m.peerUrls, clientUrls: [] })]));
    const boot = bootstrapEntries(ids, contexts);
    const puts: Entry[] = keys.map((key, k) => ({
      term: 2 as Term,
      index: (boot.entries.length + k + 1) as LogIndex,
      type: EntryType.Normal,
      data: encodeCommand({ timestampMs: 1_000 + k, op: { type: 'put', request: { key: Buffer.from(key), value: Buffer.from(`value of ${key}`) } } }),
    }));
    await sm.apply([...boot.entries, ...puts]);
    const info = await sm.createSnapshot();
    backupRevision = info.revision;
    backupFile = path.join(dir, 'backup.snap');
    await fs.copyFile(info.path, backupFile);
    await sm.close();
  });

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('creates three data dirs with identical logs that, applied, hold every key and the new membership', async () => {
    const logs: string[] = [];
    for (const m of newCluster) {
      const dataDir = path.join(dir, 'restored', m.name);
      const result = await restoreMember({ snapshotFile: backupFile, dataDir, name: m.name, initialCluster: newCluster, initialClusterToken: 'fresh' });
      expect(result.revision).toBe(backupRevision);
      const identity = await readIdentity(dataDir);
      expect(identity).toMatchObject({ name: m.name, memberId: computeMemberId(m.peerUrls, 'fresh'), clusterId: result.clusterId });

      const wal = await WalLogStore.open(dataDir);
      const sm = await RocksStateMachine.open({ dataDir: path.join(dataDir, 'sm') });
      try {
        expect(wal.snapshotMeta().index).toBe(result.meta.index);
        expect(sm.appliedIndex()).toBe(result.meta.index);
        expect(sm.snapshots.latest()?.meta.index).toBe(result.meta.index);
        const entries = wal.entries(wal.firstIndex(), (wal.lastIndex() + 1) as LogIndex, 1 << 20);
        expect(wal.hardState().commit).toBe(wal.lastIndex());
        logs.push(JSON.stringify(entries.map((e) => [e.index, e.term, e.type, Buffer.from(e.data).toString('base64')])));
        await sm.apply(entries);
        expect(sm.revision()).toBe(backupRevision);
        const all = await sm.range({ key: Buffer.from('key/'), rangeEnd: Buffer.from('key0') });
        expect(all.kvs.map((kv) => Buffer.from(kv.key).toString())).toEqual(keys);
        expect(all.kvs.every((kv) => Buffer.from(kv.value).toString() === `value of ${Buffer.from(kv.key).toString()}`)).toBe(true);
        const membership = sm.membership();
        expect(membership.members.map((x) => x.name).sort()).toEqual(['n1', 'n2', 'n3']);
        expect([...membership.config.voters].sort()).toEqual(newCluster.map((x) => computeMemberId(x.peerUrls, 'fresh')).sort());
      } finally {
        await sm.close();
        await wal.close();
      }
    }
    expect(new Set(logs).size).toBe(1);
  });

  it('refuses a non-empty data dir, an unknown name and a damaged file, leaving nothing behind', async () => {
    const busy = path.join(dir, 'busy');
    await fs.mkdir(busy, { recursive: true });
    await fs.writeFile(path.join(busy, 'something'), 'x');
    const options = { snapshotFile: backupFile, name: 'n1', initialCluster: newCluster, initialClusterToken: 't' };
    await expect(restoreMember({ ...options, dataDir: busy })).rejects.toThrow(/not empty/);
    await expect(restoreMember({ ...options, dataDir: path.join(dir, 'x'), name: 'nobody' })).rejects.toThrow(/not in --initial-cluster/);
    await expect(restoreMember({ ...options, dataDir: path.join(dir, 'x'), snapshotFile: path.join(dir, 'missing.snap') })).rejects.toThrow(/no such file/);

    const damaged = path.join(dir, 'damaged.snap');
    const bytes = await fs.readFile(backupFile);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await fs.writeFile(damaged, bytes);
    const target = path.join(dir, 'from-damaged');
    await expect(restoreMember({ ...options, dataDir: target, snapshotFile: damaged })).rejects.toThrow();
    const leftovers = (await fs.readdir(dir)).filter((n) => n.startsWith('from-damaged'));
    expect(leftovers).toEqual([]);
  });
});
