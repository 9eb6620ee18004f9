import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { logIndex } from '@keyval/raft';
import { CorruptLogError } from '../errors';
import { entries, hardState, makeTempDir, plain, removeDir, snapshotMeta } from '../testing/log-fixtures';
import { flipByte, recordOffsets, recordingLogger, segmentFiles } from '../testing/wal-files';
import { WalLogStore } from './wal-log-store';

// Real fsyncs on a disk shared with other work can take tens of milliseconds each.
jest.setTimeout(60_000);

const ALL = Number.MAX_SAFE_INTEGER;

describe('WalLogStore recovery', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await makeTempDir('wal-recovery');
  });

  afterEach(async () => {
    await removeDir(dir);
  });

  /** Writes entries 1..count (term 1) in batches of `batch`, with 4 KiB segments. */
  async function writeLog(count: number, batch = 10): Promise<void> {
    const store = await WalLogStore.open(dir, { segmentBytes: 4096 });
    for (let from = 1; from <= count; from += batch) {
      await store.save({ entries: entries(from, Math.min(count, from + batch - 1), 1), hardState: hardState(1, 1, from) });
    }
    await store.close();
  }

  it('refuses a flipped byte in the middle of a sealed segment, naming the file and offset', async () => {
    await writeLog(300);
    const [first] = await segmentFiles(dir);
    const offsets = await recordOffsets(first as string);
    const victim = offsets[Math.floor(offsets.length / 2)] as number;
    await flipByte(first as string, victim + 20);
    const opening = WalLogStore.open(dir, { segmentBytes: 4096 });
    await expect(opening).rejects.toThrow(CorruptLogError);
    await expect(opening).rejects.toMatchObject({ file: first, offset: victim });
    await expect(opening).rejects.toThrow(`${first} at offset ${victim}`);
  });

  it('refuses a flipped byte in the last segment when whole records follow it (not a torn tail)', async () => {
    await writeLog(300);
    const last = (await segmentFiles(dir)).at(-1) as string;
    const offsets = await recordOffsets(last);
    expect(offsets.length).toBeGreaterThan(4);
    const victim = offsets[offsets.length - 3] as number;
    await flipByte(last, victim + 14);
    await expect(WalLogStore.open(dir)).rejects.toMatchObject({ name: 'CorruptLogError', file: last, offset: victim });
  });

  it.each([1, 7, 12, 30])('recovers from a tail cut %i bytes into the last record, logging it', async (cut) => {
    await writeLog(45, 1);
    const last = (await segmentFiles(dir)).at(-1) as string;
    const lastRecord = (await recordOffsets(last)).at(-1) as number;
    await fsp.truncate(last, lastRecord + cut);
    const logger = recordingLogger();
    const store = await WalLogStore.open(dir, { logger, segmentBytes: 4096 });
    // The last record was the hard state of the last save; the entry before it survives.
    expect(store.lastIndex()).toBe(45);
    expect(logger.lines.find((line) => line.level === 'warn')).toMatchObject({ fields: { file: last, offset: lastRecord } });
    expect((await fsp.stat(last)).size).toBe(lastRecord);
    await store.append(entries(46, 47, 2));
    await store.close();
    const reopened = await WalLogStore.open(dir);
    expect(plain(reopened.entries(logIndex(1), logIndex(48), ALL))).toEqual(plain([...entries(1, 45, 1), ...entries(46, 47, 2)]));
    await reopened.close();
  });

  it('recovers to the last whole entry when the cut falls inside an entry record', async () => {
    const store = await WalLogStore.open(dir);
    await store.append(entries(1, 50, 3));
    await store.close();
    const [file] = await segmentFiles(dir);
    const lastRecord = (await recordOffsets(file as string)).at(-1) as number;
    await fsp.truncate(file as string, lastRecord + 25);
    const reopened = await WalLogStore.open(dir);
    expect(reopened.lastIndex()).toBe(49);
    expect(plain(reopened.entries(logIndex(1), logIndex(50), ALL))).toEqual(plain(entries(1, 49, 3)));
    await reopened.close();
  });

  it('treats zeros after the last record (pages that never reached the disk) as a torn tail', async () => {
    await writeLog(40);
    const last = (await segmentFiles(dir)).at(-1) as string;
    const size = (await fsp.stat(last)).size;
    await fsp.appendFile(last, Buffer.alloc(5000));
    const store = await WalLogStore.open(dir);
    expect(store.lastIndex()).toBe(40);
    expect((await fsp.stat(last)).size).toBe(size);
    await store.close();
  });

  it('refuses a segment whose header is damaged', async () => {
    await writeLog(300);
    const [first] = await segmentFiles(dir);
    await flipByte(first as string, 3);
    await expect(WalLogStore.open(dir)).rejects.toMatchObject({ name: 'CorruptLogError', file: first, offset: 0 });
  });

  it('refuses to start when a segment holding live entries is missing', async () => {
    await writeLog(300);
    const files = await segmentFiles(dir);
    expect(files.length).toBeGreaterThanOrEqual(3);
    await fsp.unlink(files[1] as string);
    await expect(WalLogStore.open(dir)).rejects.toThrow(/missing: a segment holding them is gone/);
  });

  it('deletes whole segments that lie before the snapshot after a compaction', async () => {
    await writeLog(300);
    const before = await segmentFiles(dir);
    const store = await WalLogStore.open(dir, { segmentBytes: 4096 });
    await store.compact(snapshotMeta(250, 1));
    const after = await segmentFiles(dir);
    expect(after.length).toBeLessThan(before.length);
    expect(after).toEqual(before.slice(before.length - after.length));
    // The oldest remaining segment holds entry 251 (its header's first index is <= 251).
    expect(Number.parseInt(path.basename(after[0] as string).slice(17, 33), 16)).toBeLessThanOrEqual(251);
    await store.close();
    const reopened = await WalLogStore.open(dir);
    expect(reopened.firstIndex()).toBe(251);
    expect(plain(reopened.entries(logIndex(251), logIndex(301), ALL))).toEqual(plain(entries(251, 300, 1)));
    expect(reopened.hardState()).toEqual(hardState(1, 1, 291));
    await reopened.close();
  });

  it('removes a stale segment older than a gap (an interrupted deletion) and keeps the log', async () => {
    await writeLog(300);
    const [oldest] = await segmentFiles(dir);
    const copy = await fsp.readFile(oldest as string);
    const store = await WalLogStore.open(dir, { segmentBytes: 4096 });
    await store.compact(snapshotMeta(290, 1));
    await store.close();
    await fsp.writeFile(oldest as string, copy);
    const reopened = await WalLogStore.open(dir);
    expect(await segmentFiles(dir)).not.toContain(oldest);
    expect(reopened.firstIndex()).toBe(291);
    expect(reopened.lastIndex()).toBe(300);
    await reopened.close();
  });

  it('removes an incomplete segment creation (.wal.tmp) on open', async () => {
    await writeLog(20);
    const leftover = path.join(dir, 'wal', '0000000000000009-0000000000000015.wal.tmp');
    await fsp.writeFile(leftover, Buffer.alloc(10));
    const store = await WalLogStore.open(dir);
    await expect(fsp.stat(leftover)).rejects.toThrow(/ENOENT/);
    expect(store.lastIndex()).toBe(20);
    await store.close();
  });

  it('verifies records again when reading them from disk', async () => {
    await writeLog(100);
    const store = await WalLogStore.open(dir, { cacheBytesMax: 0 });
    const [first] = await segmentFiles(dir);
    const victim = (await recordOffsets(first as string))[5] as number;
    await flipByte(first as string, victim + 30);
    expect(() => store.entries(logIndex(1), logIndex(20), ALL)).toThrow(CorruptLogError);
    await store.close();
  });
});
