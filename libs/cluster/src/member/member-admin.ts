/**
 * Operator actions on a running member beyond membership changes: moving leadership (and
 * waiting until it moved), and reading a consistent backup of the state (a snapshot file,
 * taken fresh when the latest one is behind what was applied).
 */
import { promises as fs } from 'node:fs';
import { crc32c } from '@node-rs/crc32';
import { NO_NODE, NotLeaderError, Role, TransferRefusedError } from '@keyval/raft';
import type { NodeId, SnapshotMeta } from '@keyval/raft';
import type { MembershipState } from '@keyval/statemachine';
import type { KvMember } from './kv-member';
import type { Outcome } from '@keyval/outcome';

/** Leadership did not move within the deadline (the core gives up after an election timeout). */
export class LeaderTransferTimeoutError extends Error {
  readonly code = 'LEADER_TRANSFER_TIMEOUT';
  /** The transfer was started; it may still complete. */
  readonly outcome: Outcome = 'maybe-applied';
  constructor(
    readonly target: NodeId,
    waitedMs: number,
  ) {
    super(`leadership did not move to ${target.toString(16)} within ${Math.round(waitedMs)} ms`);
    this.name = 'LeaderTransferTimeoutError';
  }
}

/** The voter other than the leader with the highest match index, or undefined if none. */
export function bestTransferee(member: KvMember): NodeId | undefined {
  const st = member.status();
  let best: { id: NodeId; match: number } | undefined;
  for (const [id, pr] of st.progress ?? []) {
    if (id !== member.id && !pr.isLearner && st.config.voters.includes(id) && (best === undefined || pr.match > best.match)) {
      best = { id, match: pr.match };
    }
  }
  return best?.id;
}

/**
 * On the leader: hands leadership to `target` (0n: the most caught-up voter) and resolves
 * with the new leader once this member has seen it take over. Throws NotLeaderError off the
 * leader (the caller forwards), TransferRefusedError for a target that is not a voter, and
 * LeaderTransferTimeoutError when leadership has not moved by `deadlineMs` (performance.now()).
 */
export async function transferLeadership(member: KvMember, target: NodeId, deadlineMs: number): Promise<NodeId> {
  const st = member.status();
  if (st.role !== Role.Leader) {
    throw new NotLeaderError(st.leader === NO_NODE ? undefined : st.leader);
  }
  const chosen = target === NO_NODE ? bestTransferee(member) : target;
  if (chosen === undefined) {
    throw new TransferRefusedError('there is no other voter to hand leadership to');
  }
  if (chosen === member.id) {
    return chosen;
  }
  const started = performance.now();
  member.driver.transferLeadership(chosen);
  return new Promise<NodeId>((resolve, reject) => {
    const check = (): boolean => {
      const leader = member.status().leader;
      if (leader === chosen) {
        finish();
        resolve(chosen);
        return true;
      }
      return false;
    };
    const timer = setTimeout(
      () => {
        finish();
        if (!check()) reject(new LeaderTransferTimeoutError(chosen, performance.now() - started));
      },
      Math.max(0, deadlineMs - performance.now()),
    );
    const off = member.driver.onLeaderChange(() => void check());
    const finish = (): void => {
      clearTimeout(timer);
      off();
    };
    check();
  });
}

/** Bytes read from a snapshot file per chunk of a backup stream. */
export const BACKUP_CHUNK_BYTES = 256 * 1024;

/** A snapshot file held open for streaming: its metadata, size, checksum and the members at its index. */
export interface BackupSource {
  readonly meta: SnapshotMeta;
  readonly revision: number;
  readonly totalBytes: number;
  /** CRC-32C (Castagnoli) of the whole file. */
  readonly crc32c: number;
  readonly membership: MembershipState;
  /** The file's bytes in order, in pieces of at most `chunkBytes`. */
  chunks(chunkBytes?: number): AsyncIterable<Buffer>;
  /** Releases the file (always call it, also after a failure). */
  close(): Promise<void>;
}

/**
 * Opens a consistent backup of `member`'s state: its latest snapshot when that covers
 * everything applied, otherwise a snapshot taken now. The file is held open, so pruning old
 * snapshots meanwhile cannot take it away.
 */
export async function openBackup(member: KvMember): Promise<BackupSource> {
  const applied = member.status().applied;
  let meta = member.stateMachine.snapshots.latest()?.meta;
  if (meta === undefined || meta.index < applied) {
    meta = await member.driver.takeSnapshot();
  }
  const info = member.stateMachine.snapshots.byIndex(meta.index);
  const handle = await fs.open(info.path, 'r');
  try {
    const size = (await handle.stat()).size;
    let crc = 0;
    const buffer = Buffer.allocUnsafe(BACKUP_CHUNK_BYTES * 4);
    for (let at = 0; at < size; ) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - at), at);
      if (bytesRead === 0) throw new Error(`${info.path}: ended at ${at} of ${size} bytes`);
      crc = crc32c(buffer.subarray(0, bytesRead), crc);
      at += bytesRead;
    }
    return {
      meta: info.meta,
      revision: info.revision,
      totalBytes: size,
      crc32c: crc,
      membership: info.membership,
      chunks: (chunkBytes = BACKUP_CHUNK_BYTES) => readChunks(handle, size, chunkBytes),
      close: () => handle.close(),
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

async function* readChunks(handle: fs.FileHandle, size: number, chunkBytes: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < size; ) {
    const piece = Buffer.allocUnsafe(Math.min(chunkBytes, size - at));
    const { bytesRead } = await handle.read(piece, 0, piece.length, at);
    if (bytesRead === 0) throw new Error(`snapshot file ended at ${at} of ${size} bytes`);
    at += bytesRead;
    yield bytesRead === piece.length ? piece : piece.subarray(0, bytesRead);
  }
}
