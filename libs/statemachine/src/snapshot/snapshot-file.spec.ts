import fc from 'fast-check';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { SnapshotCorruptError, SnapshotTruncatedError } from '../errors';
import { DEFAULT_LIMITS } from '../limits';
import { LogBuilder, b, removeDir, tempDir } from '../testing/log-builder.test';
import { MemoryStateMachine } from '../memory/memory-state-machine';
import type { SnapshotFileInfo } from './snapshot-file';
import { readSnapshotFrames, readSnapshotRecords, verifySnapshotFile, writeSnapshotFile } from './snapshot-file';
import type { SnapshotHeader, SnapshotRecord } from './snapshot-format';
import { CHUNK_PREFIX_BYTES } from './snapshot-format';
import { SnapshotStore } from './snapshot-store';

const header: SnapshotHeader = {
  format: 2,
  lastIndex: 42 as SnapshotHeader['lastIndex'],
  lastTerm: 7 as SnapshotHeader['lastTerm'],
  revision: 300,
  compactRevision: 5,
  logTimeMs: 123_456,
  membership: { config: { voters: [1n as never, 2n as never], learners: [3n as never] }, members: [{ id: 1n as never, name: 'one', peerUrls: ['http://x:1'], clientUrls: [] }] },
};

function records(count: number): SnapshotRecord[] {
  const out: SnapshotRecord[] = [{ type: 'session', session: { key: '\u0001c', clientId: 'c', lastSeq: 3, lastIndex: 40, lastSeenMs: 99, outcome: Uint8Array.of(1, 2, 3) } }];
  const keyOf = (i: number): Uint8Array => b(`key-${String(i).padStart(5, '0')}`);
  for (let i = 0; i < count; i++) {
    out.push({ type: 'revision', record: { revision: 6 + i, writes: [{ type: i % 5 === 4 ? 'delete' : 'put', key: keyOf(i), prevRevision: i % 3 }] } });
  }
  for (let i = 0; i < count; i++) {
    const key = keyOf(i);
    out.push({ type: 'version', version: { key, revision: 5, kv: { key, createRevision: 2, modRevision: 5, version: 1 + (i % 4), value: b(`value ${i}`.repeat(3)) } } });
    out.push({ type: 'version', version: { key, revision: 6 + i, kv: null } });
  }
  return out;
}

async function* iterate<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

/** Offsets of the start of each chunk frame in the file. */
async function chunkOffsets(file: string): Promise<number[]> {
  const offsets: number[] = [];
  let at = 0;
  for await (const frame of readSnapshotFrames(file, DEFAULT_LIMITS)) {
    if (frame.type === 'chunk') {
      offsets.push(at);
    }
    at += frame.raw.byteLength;
  }
  return offsets;
}

async function flipByte(file: string, offset: number): Promise<void> {
  const bytes = await fs.readFile(file);
  bytes[offset] = (bytes[offset] as number) ^ 0x5a;
  await fs.writeFile(file, bytes);
}

describe('snapshot files', () => {
  let dir: string;
  let info: SnapshotFileInfo;

  beforeEach(async () => {
    dir = await tempDir('snapfile');
    info = await writeSnapshotFile(dir, header, iterate(records(200)), 1024);
  });
  afterEach(() => removeDir(dir));

  it('writes a verifiable file named by index and term, and reads back the same header and records', async () => {
    expect(info.fileName).toBe(`snapshot-${'42'.padStart(20, '0')}-${'7'.padStart(20, '0')}.snap`);
    expect(info.meta).toEqual({ index: 42, term: 7, config: header.membership.config });
    expect((await fs.stat(info.path)).size).toBe(info.sizeBytes);
    expect(await fs.readdir(dir)).toEqual([info.fileName]);
    const read: SnapshotRecord[] = [];
    for await (const item of readSnapshotRecords(info.path, DEFAULT_LIMITS)) {
      if (item.type === 'header') {
        expect(item.header).toEqual(header);
      } else if (item.type === 'records') {
        read.push(...item.records);
      }
    }
    expect(read).toEqual(records(200));
    expect((await chunkOffsets(info.path)).length).toBeGreaterThan(5);
  });

  it('detects a flipped byte in a chunk and names the chunk (verifying reader and streaming receiver)', async () => {
    const offsets = await chunkOffsets(info.path);
    const victim = 3;
    await flipByte(info.path, (offsets[victim] as number) + CHUNK_PREFIX_BYTES + 10);
    const error = await verifySnapshotFile(info.path, DEFAULT_LIMITS).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SnapshotCorruptError);
    expect(error).toMatchObject({ chunkIndex: victim, code: 'SNAPSHOT_CORRUPT' });
    expect(String(error)).toContain(`chunk ${victim} at byte ${offsets[victim]}: chunk checksum mismatch`);

    const store = await SnapshotStore.open(path.join(dir, 'incoming'), DEFAULT_LIMITS);
    const receiver = store.receiver();
    const bytes = await fs.readFile(info.path);
    let received: unknown;
    for (let at = 0; at < bytes.length && received === undefined; at += 700) {
      received = await receiver.write(bytes.subarray(at, at + 700)).catch((e: unknown) => e);
    }
    expect(received).toBeInstanceOf(SnapshotCorruptError);
    expect(received).toMatchObject({ chunkIndex: victim });
    expect(await fs.readdir(store.dir)).toEqual([]);
  });

  it('detects a flipped byte in the header or the end frame', async () => {
    await flipByte(info.path, 20);
    await expect(verifySnapshotFile(info.path, DEFAULT_LIMITS)).rejects.toThrow(/header checksum mismatch/);
    await flipByte(info.path, 20);
    await flipByte(info.path, info.sizeBytes - 6);
    await expect(verifySnapshotFile(info.path, DEFAULT_LIMITS)).rejects.toThrow(/whole-file checksum mismatch/);
  });

  it('detects any single corrupted byte anywhere in the file', async () => {
    const original = await fs.readFile(info.path);
    await fc.assert(
      fc.asyncProperty(fc.nat(original.length - 1), fc.integer({ min: 1, max: 255 }), async (offset, mask) => {
        const bytes = Buffer.from(original);
        bytes[offset] = (bytes[offset] as number) ^ mask;
        await fs.writeFile(info.path, bytes);
        await expect(verifySnapshotFile(info.path, DEFAULT_LIMITS)).rejects.toBeInstanceOf(SnapshotCorruptError);
      }),
      { numRuns: 60 },
    );
  });

  it('rejects a truncated file, and trailing bytes after the end frame', async () => {
    const original = await fs.readFile(info.path);
    for (const cut of [0, 10, 100, Math.floor(original.length / 2), original.length - 1]) {
      await fs.writeFile(info.path, original.subarray(0, cut));
      await expect(verifySnapshotFile(info.path, DEFAULT_LIMITS)).rejects.toBeInstanceOf(SnapshotTruncatedError);
    }
    await fs.writeFile(info.path, Buffer.concat([original, Buffer.of(0)]));
    await expect(verifySnapshotFile(info.path, DEFAULT_LIMITS)).rejects.toThrow(/after the end frame/);
  });

  it('a receiver refuses to finish a truncated stream and leaves nothing behind', async () => {
    const store = await SnapshotStore.open(path.join(dir, 'incoming'), DEFAULT_LIMITS);
    const receiver = store.receiver();
    const bytes = await fs.readFile(info.path);
    await receiver.write(bytes.subarray(0, bytes.length - 3));
    await expect(receiver.finish()).rejects.toBeInstanceOf(SnapshotTruncatedError);
    expect(await fs.readdir(store.dir)).toEqual([]);
    expect(store.list()).toEqual([]);
  });

  it('restoring a corrupt snapshot throws and leaves the machine as it was', async () => {
    const machine = await MemoryStateMachine.create({ snapshotDir: path.join(dir, 'machine') });
    const log = new LogBuilder();
    await machine.apply([log.put('keep', 'me')]);
    await flipByte(info.path, (await chunkOffsets(info.path))[1] as number);
    await expect(machine.restore(info.path)).rejects.toMatchObject({ chunkIndex: 1 });
    expect(machine.appliedIndex()).toBe(1);
    expect((await machine.range({ key: b('keep') })).count).toBe(1);
    await machine.close();
  });

  it('lists valid snapshots on open, skipping corrupt headers and removing temporary files', async () => {
    const second = await writeSnapshotFile(dir, { ...header, lastIndex: 50 as SnapshotHeader['lastIndex'] }, iterate(records(3)), 1024);
    await fs.writeFile(path.join(dir, 'snapshot-00000000000000000099-00000000000000000001.snap'), 'garbage');
    await fs.writeFile(path.join(dir, 'leftover.snap.tmp'), 'partial');
    const store = await SnapshotStore.open(dir, { ...DEFAULT_LIMITS, snapshotsRetained: 5 });
    expect(store.list().map((f) => f.meta.index)).toEqual([42, 50]);
    expect(store.latest()?.path).toBe(second.path);
    expect(await fs.readdir(dir)).not.toContain('leftover.snap.tmp');
  });
});
