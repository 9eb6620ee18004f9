import { logIndex } from '@keyval/raft';
import { EntryTooLargeError, InvalidStoreOptionError, StoreClosedError, WriteBufferFullError } from '../errors';
import { FaultyFileSystem } from '../testing/faulty-file-system';
import { entries, entry, makeTempDir, removeDir } from '../testing/log-fixtures';
import { WalLogStore } from './wal-log-store';

// Real fsyncs on a disk shared with other work can take tens of milliseconds each.
jest.setTimeout(60_000);

describe('WalLogStore group commit', () => {
  let dir: string;
  let fs: FaultyFileSystem;
  let store: WalLogStore;

  beforeEach(async () => {
    dir = await makeTempDir('wal-group');
    fs = new FaultyFileSystem();
    store = await WalLogStore.open(dir, { fileSystem: fs });
    fs.writes = 0;
    fs.datasyncs = 0;
  });

  afterEach(async () => {
    await store.close();
    await removeDir(dir);
  });

  it('turns 256 concurrent appends into one write and one fdatasync', async () => {
    const writes = [];
    for (let index = 1; index <= 256; index++) {
      writes.push(store.append([entry(index, 1, new Uint8Array(256))]));
    }
    await Promise.all(writes);
    expect(fs.writes).toBe(1);
    expect(fs.datasyncs).toBe(1);
    expect(store.lastIndex()).toBe(256);
  });

  it('acknowledges nothing before the fdatasync that covers it completes', async () => {
    let openGate!: () => void;
    fs.datasyncGate = new Promise<void>((resolve) => (openGate = resolve));
    let resolved = false;
    const write = store.append(entries(1, 3, 1)).then(() => (resolved = true));
    await waitFor(() => fs.datasyncs === 1);
    await turns(50);
    expect(resolved).toBe(false);
    expect(store.lastIndex()).toBe(0);
    openGate();
    await write;
    expect(resolved).toBe(true);
    expect(store.lastIndex()).toBe(3);
  });

  it('keeps accepting appends while a sync is in flight and batches them into the next write', async () => {
    let openGate!: () => void;
    fs.datasyncGate = new Promise<void>((resolve) => (openGate = resolve));
    const first = store.append(entries(1, 1, 1));
    await waitFor(() => fs.datasyncs === 1);
    const later = [];
    for (let index = 2; index <= 100; index++) {
      later.push(store.append([entry(index, 1)]));
    }
    expect(fs.writes).toBe(1);
    openGate();
    await Promise.all([first, ...later]);
    expect(fs.writes).toBe(2);
    expect(fs.datasyncs).toBe(2);
    expect(store.lastIndex()).toBe(100);
  });

  it('does not fdatasync unsynced saves, and sync() makes them durable with one fdatasync', async () => {
    await store.save({ entries: entries(1, 5, 1) }, { sync: false });
    expect(fs.datasyncs).toBe(0);
    expect(store.lastIndex()).toBe(5);
    await store.sync();
    expect(fs.datasyncs).toBe(1);
    await store.sync();
    expect(fs.datasyncs).toBe(1);
  });

  it('refuses an entry whose record exceeds maxRecordBytes, changing nothing', async () => {
    await store.close();
    store = await WalLogStore.open(dir, { fileSystem: fs, maxRecordBytes: 1024, writeBufferBytesMax: 4096 });
    await store.append(entries(1, 1, 1));
    const big = entry(2, 1, new Uint8Array(1024));
    await expect(store.append([big])).rejects.toThrow(EntryTooLargeError);
    await expect(store.append([big])).rejects.toMatchObject({ index: 2, limitBytes: 1024 });
    await store.append(entries(2, 2, 1));
    expect(store.lastIndex()).toBe(2);
  });

  it('bounds the write buffer: refuses writes past writeBufferBytesMax with WriteBufferFullError', async () => {
    await store.close();
    store = await WalLogStore.open(dir, { fileSystem: fs, maxRecordBytes: 1024, writeBufferBytesMax: 4096 });
    let openGate!: () => void;
    fs.datasyncGate = new Promise<void>((resolve) => (openGate = resolve));
    const inFlight = store.append([entry(1, 1, new Uint8Array(900))]);
    await waitFor(() => fs.datasyncs === 1);
    const buffered = [2, 3, 4, 5].map((index) => store.append([entry(index, 1, new Uint8Array(900))]));
    await expect(store.append([entry(6, 1, new Uint8Array(900))])).rejects.toThrow(WriteBufferFullError);
    openGate();
    await Promise.all([inFlight, ...buffered]);
    await store.append([entry(6, 1, new Uint8Array(900))]);
    expect(store.lastIndex()).toBe(6);
  });

  it('rejects options outside their limits', async () => {
    await expect(WalLogStore.open(dir, { segmentBytes: 100 })).rejects.toThrow(InvalidStoreOptionError);
    await expect(WalLogStore.open(dir, { maxRecordBytes: 4096, writeBufferBytesMax: 1024 })).rejects.toThrow(InvalidStoreOptionError);
    await expect(WalLogStore.open(dir, { cacheBytesMax: -1 })).rejects.toThrow(InvalidStoreOptionError);
  });

  it('serves reads of entries older than the cache from disk, verifying them', async () => {
    await store.close();
    store = await WalLogStore.open(dir, { fileSystem: fs, cacheBytesMax: 200, segmentBytes: 4096 });
    for (let from = 1; from <= 400; from += 40) {
      await store.append(entries(from, from + 39, 2));
    }
    const read = store.entries(logIndex(1), logIndex(401), Number.MAX_SAFE_INTEGER);
    expect(read.map((e) => e.index)).toEqual(Array.from({ length: 400 }, (_, k) => k + 1));
    expect(read.map((e) => [...e.data])).toEqual(entries(1, 400, 2).map((e) => [...e.data]));
    await store.close();
    expect(store.entries(logIndex(400), logIndex(401), Number.MAX_SAFE_INTEGER)).toHaveLength(1);
    expect(() => store.entries(logIndex(1), logIndex(2), Number.MAX_SAFE_INTEGER)).toThrow(StoreClosedError);
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 1000 && !condition(); attempt++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(condition()).toBe(true);
}

/** Lets the event loop run `count` times (I/O callbacks included). */
async function turns(count: number): Promise<void> {
  for (let k = 0; k < count; k++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}
