import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SnapshotCorruptError } from '../errors';
import { DEFAULT_LIMITS } from '../limits';
import { MemoryStateMachine } from '../memory/memory-state-machine';
import { LogBuilder, removeDir, tempDir } from '../testing/log-builder.test';
import { ETCD_SNAPSHOT_ALIGN, etcdSnapshotPadding, etcdStreamSnapshot } from './etcd-stream';
import { verifySnapshotFile } from './snapshot-file';

/** A snapshot file as etcd's Snapshot stream carries it: the file, zeros to 512, its SHA-256. */
function asEtcdStream(file: Buffer): Buffer {
  const body = Buffer.concat([file, Buffer.alloc(etcdSnapshotPadding(file.length))]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

describe('etcd stream form of a snapshot (etcdctl snapshot save from a KeyVal member)', () => {
  let dir: string;
  let snapshot: Buffer;

  beforeAll(async () => {
    dir = await tempDir('etcd-stream');
    const sm = await MemoryStateMachine.create({ snapshotDir: path.join(dir, 'snapshots'), limits: { snapshotChunkBytes: 128 } });
    const log = new LogBuilder();
    await sm.apply(Array.from({ length: 40 }, (_, i) => log.put(`key-${i}`, `value-${i}`)));
    snapshot = await fs.readFile((await sm.createSnapshot()).path);
    await sm.close();
  });
  afterAll(() => removeDir(dir));

  const write = async (name: string, bytes: Buffer): Promise<string> => {
    const file = path.join(dir, name);
    await fs.writeFile(file, bytes);
    return file;
  };

  it('pads to 512 bytes as etcd’s clients require', () => {
    expect([0, 1, 511, 512, 513].map(etcdSnapshotPadding)).toEqual([0, 511, 1, 0, 511]);
    expect(asEtcdStream(snapshot).length % ETCD_SNAPSHOT_ALIGN).toBe(32);
  });

  it('finds the snapshot inside a download, which then verifies as a snapshot file', async () => {
    const file = await write('download.db', asEtcdStream(snapshot));
    expect(await etcdStreamSnapshot(file)).toBe(snapshot.length);
    const inner = await write('inner.snap', (await fs.readFile(file)).subarray(0, snapshot.length));
    await expect(verifySnapshotFile(inner, DEFAULT_LIMITS)).resolves.toMatchObject({ revision: 41 });
  });

  it('leaves a plain snapshot file alone', async () => {
    expect(await etcdStreamSnapshot(await write('plain.snap', snapshot))).toBeUndefined();
  });

  it('refuses a damaged download: a changed byte, a changed checksum, non-zero padding', async () => {
    const good = asEtcdStream(snapshot);
    const flipped = Buffer.from(good);
    flipped[40] = (flipped[40] as number) ^ 0x01;
    await expect(etcdStreamSnapshot(await write('flipped.db', flipped))).rejects.toThrow(/SHA-256 mismatch/);
    const badSum = Buffer.from(good);
    badSum[badSum.length - 1] = (badSum[badSum.length - 1] as number) ^ 0x01;
    await expect(etcdStreamSnapshot(await write('badsum.db', badSum))).rejects.toBeInstanceOf(SnapshotCorruptError);
    expect(etcdSnapshotPadding(snapshot.length)).toBeGreaterThan(0);
    const body = Buffer.concat([snapshot, Buffer.alloc(etcdSnapshotPadding(snapshot.length), 1)]);
    const padded = Buffer.concat([body, createHash('sha256').update(body).digest()]);
    await expect(etcdStreamSnapshot(await write('padded.db', padded))).rejects.toThrow(/padding/);
  });
});
