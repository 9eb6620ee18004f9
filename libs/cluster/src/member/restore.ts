/**
 * Offline restore: a new member data dir from a backup (a snapshot file saved with
 * `kvctl snapshot save`, or with `etcdctl snapshot save` from a KeyVal member: etcd's stream
 * form, whose SHA-256 trailer is verified first), for starting a new cluster holding every key of the backup at the
 * same revision, with a new membership and a new cluster id (etcd's `snapshot restore`).
 *
 *     backup.snap ─▶ <dir>.restoring/sm        RocksDB restored from the file (and the file kept
 *                   │                          as the member's first snapshot, for new followers)
 *                   ├─ <dir>.restoring/wal     log = snapshot(index, term, old config) then the
 *                   │                          restore entries below, all committed
 *                   └─ <dir>.restoring/member.json   identity: member id, new cluster id
 *                   ─▶ rename to <dir>       (the commit point: no half-restored data dir)
 *
 * Restore entries (identical on every restored member, so their logs match), at term
 * snapshot.term + 1 from snapshot.index + 1: one configuration entry adding (or promoting)
 * each new member that is not already a voter, in id order; then one removing each member of
 * the backup that is not a new member; then, for new members whose id was already a voter (a
 * restore with the same peer URLs and token), a memberAttributes command resetting its name
 * and client URLs (the backup's client URLs belong to the old cluster).
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ConfChangeType, EntryType, applyChange, encodeConfChangeEntry, nodeId } from '@keyval/raft';
import type { ConfChange, Entry, HardState, LogIndex, MembershipConfig, NodeId, SnapshotMeta, Term } from '@keyval/raft';
import { WalLogStore } from '@keyval/storage';
import { RocksStateMachine, encodeCommand, encodeMemberContext, etcdStreamSnapshot } from '@keyval/statemachine';
import type { MembershipState } from '@keyval/statemachine';
import { computeMemberId, writeIdentity } from './member-identity';
import type { InitialMember } from './member-options';

/** Most members a restored cluster may have (a limit on everything). */
export const RESTORE_MEMBERS_MAX = 64;

/** A restore that cannot be done; the message says why. Nothing was left behind. */
export class RestoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RestoreError';
  }
}

/** What a restore needs to know of the backup. */
export interface BackupInfo {
  readonly meta: SnapshotMeta;
  readonly membership: MembershipState;
}

/** A member of the restored cluster. */
export interface RestoredMemberSpec {
  readonly id: NodeId;
  readonly name: string;
  readonly peerUrls: readonly string[];
}

/** The log every restored member starts with after the snapshot. */
export interface RestorePlan {
  readonly members: readonly RestoredMemberSpec[];
  readonly clusterId: bigint;
  readonly term: Term;
  readonly entries: readonly Entry[];
  readonly hardState: HardState;
  /** The configuration after the entries: every new member a voter. */
  readonly config: MembershipConfig;
}

const byId = (a: NodeId, b: NodeId): number => (a < b ? -1 : a > b ? 1 : 0);

/** The new cluster's id: from the new member ids, the token and the backup's position, never the old cluster's. */
export function restoredClusterId(ids: readonly NodeId[], token: string, meta: SnapshotMeta): bigint {
  const hash = createHash('sha1').update('keyval-restore\n').update(token).update(`\n${meta.index}/${meta.term}\n`);
  for (const id of [...ids].sort(byId)) hash.update(`${id.toString(16)}\n`);
  const id = hash.digest().readBigUInt64BE(0);
  return id === 0n ? 1n : id;
}

/** Checks the new membership and derives the member ids (as a new cluster's bootstrap does). */
function newMembers(initialCluster: readonly InitialMember[], token: string): RestoredMemberSpec[] {
  if (initialCluster.length === 0) throw new RestoreError('--initial-cluster names no member');
  if (initialCluster.length > RESTORE_MEMBERS_MAX) throw new RestoreError(`--initial-cluster names ${initialCluster.length} members; at most ${RESTORE_MEMBERS_MAX}`);
  const names = new Set<string>();
  const members = initialCluster.map((m) => {
    if (m.peerUrls.length === 0) throw new RestoreError(`--initial-cluster gives ${m.name} no peer URL`);
    if (names.has(m.name)) throw new RestoreError(`--initial-cluster names ${m.name} twice`);
    names.add(m.name);
    return { id: computeMemberId(m.peerUrls, token), name: m.name, peerUrls: [...m.peerUrls] };
  });
  if (new Set(members.map((m) => m.id)).size !== members.length) throw new RestoreError('two members of --initial-cluster share peer URLs');
  return members.sort((a, b) => byId(a.id, b.id));
}

/**
 * The entries that turn the backup's membership into the new one (see the file comment).
 * Pure and deterministic: every restored member computes the same plan from the same inputs.
 */
export function planRestore(backup: BackupInfo, initialCluster: readonly InitialMember[], token: string): RestorePlan {
  const members = newMembers(initialCluster, token);
  const term = (backup.meta.term + 1) as Term;
  const entries: Entry[] = [];
  let config: MembershipConfig = backup.meta.config;
  const append = (type: EntryType, data: Uint8Array): void => {
    entries.push({ term, index: (backup.meta.index + entries.length + 1) as LogIndex, type, data });
  };
  const change = (c: ConfChange): void => {
    const next = applyChange(config, c);
    if (typeof next === 'string') throw new RestoreError(`cannot build the restored membership: ${next}`);
    config = next;
    append(EntryType.ConfChange, encodeConfChangeEntry({ change: c, config }));
  };
  const kept: RestoredMemberSpec[] = [];
  for (const m of members) {
    const context = encodeMemberContext({ name: m.name, peerUrls: m.peerUrls, clientUrls: [] });
    if (config.voters.includes(m.id)) kept.push(m);
    else change({ type: config.learners.includes(m.id) ? ConfChangeType.PromoteLearner : ConfChangeType.AddVoter, nodeId: m.id, context });
  }
  const wanted = new Set(members.map((m) => m.id));
  for (const old of [...config.voters, ...config.learners].sort(byId)) {
    if (!wanted.has(old)) change({ type: ConfChangeType.RemoveMember, nodeId: old, context: new Uint8Array(0) });
  }
  for (const m of kept) {
    append(EntryType.Normal, encodeCommand({ timestampMs: 0, op: { type: 'memberAttributes', id: m.id, name: m.name, clientUrls: [] } }));
  }
  const last = (backup.meta.index + entries.length) as LogIndex;
  return {
    members,
    clusterId: restoredClusterId(members.map((m) => m.id), token, backup.meta),
    term,
    entries,
    hardState: { term, vote: nodeId(0), commit: last },
    config,
  };
}

export interface RestoreOptions {
  /** The backup file (`kvctl snapshot save`, or `etcdctl snapshot save` from a KeyVal member). */
  readonly snapshotFile: string;
  /** The new member's data dir: must not exist, or be empty. */
  readonly dataDir: string;
  /** This member's name; must be in `initialCluster`. */
  readonly name: string;
  readonly initialCluster: readonly InitialMember[];
  readonly initialClusterToken: string;
}

export interface RestoreResult {
  readonly memberId: NodeId;
  readonly clusterId: bigint;
  /** The backup's position and revision. */
  readonly meta: SnapshotMeta;
  readonly revision: number;
  readonly plan: RestorePlan;
}

async function checkTarget(dataDir: string): Promise<void> {
  try {
    const names = await fs.readdir(dataDir);
    if (names.length > 0) throw new RestoreError(`${dataDir} exists and is not empty; restore into a new data dir`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') throw new RestoreError(`${dataDir} exists and is not a directory`);
    throw error;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Restores the state machine from the backup, keeping the file as the member's first snapshot. */
async function restoreStateMachine(dir: string, file: string): Promise<{ info: BackupInfo; revision: number }> {
  // A download saved by `etcdctl snapshot save` holds the snapshot, padding and a SHA-256.
  const inner = await etcdStreamSnapshot(file);
  const sm = await RocksStateMachine.open({ dataDir: path.join(dir, 'sm') });
  try {
    const receiver = sm.snapshots.receiver();
    try {
      for await (const piece of createReadStream(file, { highWaterMark: 1024 * 1024, ...(inner !== undefined && { end: inner - 1 }) })) {
        await receiver.write(piece as Buffer);
      }
    } catch (error) {
      await receiver.abort();
      throw error;
    }
    const stored = await receiver.finish();
    const restored = await sm.restore(stored.path);
    return { info: { meta: restored.meta, membership: restored.membership }, revision: restored.revision };
  } finally {
    await sm.close();
  }
}

/**
 * Creates a member data dir from a backup (see the file comment). Throws RestoreError for bad
 * options or a non-empty target, and the state machine's SnapshotCorruptError /
 * SnapshotTruncatedError for a damaged file; on any failure nothing is left at `dataDir`.
 */
export async function restoreMember(options: RestoreOptions): Promise<RestoreResult> {
  const self = options.initialCluster.find((m) => m.name === options.name);
  if (self === undefined) {
    throw new RestoreError(`--name ${options.name} is not in --initial-cluster (${options.initialCluster.map((m) => m.name).join(', ')})`);
  }
  await fs.access(options.snapshotFile).catch(() => {
    throw new RestoreError(`${options.snapshotFile}: no such file`);
  });
  await checkTarget(options.dataDir);
  const target = path.resolve(options.dataDir);
  const work = `${target}.restoring-${process.pid}`;
  await fs.rm(work, { recursive: true, force: true });
  await fs.mkdir(work, { recursive: true });
  try {
    const { info, revision } = await restoreStateMachine(work, options.snapshotFile);
    const plan = planRestore(info, options.initialCluster, options.initialClusterToken);
    const memberId = computeMemberId(self.peerUrls, options.initialClusterToken);
    const wal = await WalLogStore.open(work);
    try {
      await wal.save({ snapshot: info.meta, entries: plan.entries, hardState: plan.hardState }, { sync: true });
    } finally {
      await wal.close();
    }
    await writeIdentity(work, { name: options.name, memberId, clusterId: plan.clusterId, createdAtMs: Date.now() });
    // Checked empty above; rmdir (not rm -r) so nothing written there meanwhile is lost.
    await fs.rmdir(target).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await fs.rename(work, target);
    await fsyncDir(path.dirname(target));
    return { memberId, clusterId: plan.clusterId, meta: info.meta, revision, plan };
  } catch (error) {
    await fs.rm(work, { recursive: true, force: true });
    throw error;
  }
}
