/**
 * Member and cluster ids, derived the way etcd derives them (SHA-1 of the peer URLs and the
 * cluster token; the cluster id from the sorted member ids), and the identity file a member
 * writes into its data dir on first start so that a restart never recomputes them.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { nodeId } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';

/** A member id from its peer URLs and the cluster token (plus a time for members added later). */
export function computeMemberId(peerUrls: readonly string[], clusterToken: string, addedAtMs?: number): NodeId {
  const hash = createHash('sha1');
  hash.update([...peerUrls].sort().join(''));
  hash.update(clusterToken);
  if (addedAtMs !== undefined) {
    hash.update(String(Math.floor(addedAtMs / 1000)));
  }
  const id = hash.digest().readBigUInt64BE(0);
  // 0 means "none" in the core: never hand it out.
  return nodeId(id === 0n ? 1n : id);
}

/** The cluster id from the initial members' ids. */
export function computeClusterId(memberIds: readonly NodeId[]): bigint {
  const hash = createHash('sha1');
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buffer = Buffer.alloc(8);
  for (const id of sorted) {
    buffer.writeBigUInt64BE(id);
    hash.update(buffer);
  }
  return hash.digest().readBigUInt64BE(0);
}

export interface MemberIdentity {
  readonly name: string;
  readonly memberId: NodeId;
  readonly clusterId: bigint;
  readonly createdAtMs: number;
}

const IDENTITY_FILE = 'member.json';

export class IdentityFileError extends Error {
  constructor(file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'IdentityFileError';
  }
}

/** Reads the identity file of a data dir, or undefined when the dir has none (a new member). */
export async function readIdentity(dataDir: string): Promise<MemberIdentity | undefined> {
  const file = path.join(dataDir, IDENTITY_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw error;
  }
  try {
    const raw = JSON.parse(text) as { name?: unknown; memberId?: unknown; clusterId?: unknown; createdAtMs?: unknown };
    if (typeof raw.name !== 'string' || typeof raw.memberId !== 'string' || typeof raw.clusterId !== 'string' || typeof raw.createdAtMs !== 'number') {
      throw new Error('missing fields');
    }
    return { name: raw.name, memberId: nodeId(BigInt(`0x${raw.memberId}`)), clusterId: BigInt(`0x${raw.clusterId}`), createdAtMs: raw.createdAtMs };
  } catch (error) {
    throw new IdentityFileError(file, `not a valid identity file (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** Writes the identity file durably (temp file, fsync, rename, directory fsync). */
export async function writeIdentity(dataDir: string, identity: MemberIdentity): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, IDENTITY_FILE);
  const tmp = `${file}.tmp`;
  const body = JSON.stringify({ name: identity.name, memberId: identity.memberId.toString(16), clusterId: identity.clusterId.toString(16), createdAtMs: identity.createdAtMs }, null, 2);
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(`${body}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, file);
  const dir = await fs.open(dataDir, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
