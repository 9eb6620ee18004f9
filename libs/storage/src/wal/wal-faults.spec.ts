import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { logIndex } from '@keyval/raft';
import { DiskFullError, FsyncFailedError, LogWriteFailedError, StoreFailedError } from '../errors';
import { FaultyFileSystem, systemError } from '../testing/faulty-file-system';
import { entries, entry, hardState, makeTempDir, plain, removeDir } from '../testing/log-fixtures';
import { verifyDataDir } from '../verify-data-dir';
import { WalLogStore } from './wal-log-store';

// Real fsyncs on a disk shared with other work can take tens of milliseconds each.
jest.setTimeout(60_000);

describe('WalLogStore under injected faults', () => {
  let dir: string;
  let fs: FaultyFileSystem;
  let store: WalLogStore;

  beforeEach(async () => {
    dir = await makeTempDir('wal-faults');
    fs = new FaultyFileSystem();
    store = await WalLogStore.open(dir, { fileSystem: fs, probeIntervalMs: 0, segmentBytes: 8192 });
    fs.datasyncs = 0;
    fs.writes = 0;
  });

  afterEach(async () => {
    await store.close();
    await removeDir(dir);
  });

  async function walBytes(): Promise<number> {
    const names = await fsp.readdir(path.join(dir, 'wal'));
    let total = 0;
    for (const name of names) {
      total += (await fsp.stat(path.join(dir, 'wal', name))).size;
    }
    return total;
  }

  describe('a failed fdatasync (EIO)', () => {
    it('is fatal: rejects every waiter with FsyncFailedError and never retries the sync', async () => {
      await store.append(entries(1, 10, 1));
      fs.datasyncFault = systemError('EIO', 'input/output error');
      const syncsBefore = fs.datasyncs;
      const waiters = [11, 12, 13].map((index) => store.append([entry(index, 1)]));
      for (const waiter of waiters) {
        await expect(waiter).rejects.toThrow(FsyncFailedError);
      }
      expect(fs.datasyncs).toBe(syncsBefore + 1);
      expect(store.health()).toMatchObject({ state: 'failed', writable: false });
      expect(store.health().detail).toContain('EIO');

      // Even once the device "recovers", the store stays failed and syncs nothing more.
      fs.datasyncFault = undefined;
      await expect(store.append([entry(11, 1)])).rejects.toThrow(StoreFailedError);
      await expect(store.sync()).rejects.toThrow(StoreFailedError);
      expect(fs.datasyncs).toBe(syncsBefore + 1);
      // What was acknowledged before the failure still reads back.
      expect(store.lastIndex()).toBe(10);
    });

    it('rejects the writes buffered behind the failed batch too', async () => {
      let openGate!: () => void;
      fs.datasyncGate = new Promise<void>((resolve) => (openGate = resolve));
      fs.datasyncFault = systemError('EIO');
      const inFlight = store.append(entries(1, 1, 1));
      while (fs.datasyncs === 0) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      const buffered = store.setHardState(hardState(1, 1, 1));
      openGate();
      await expect(inFlight).rejects.toThrow(FsyncFailedError);
      await expect(buffered).rejects.toThrow(FsyncFailedError);
      expect(fs.datasyncs).toBe(1);
    });
  });

  describe('a full disk (ENOSPC)', () => {
    it('rolls back a partial write, refuses writes until a probe finds space, and loses nothing acknowledged', async () => {
      await store.save({ entries: entries(1, 20, 1), hardState: hardState(1, 1, 20) });
      const bytesBefore = await walBytes();
      fs.writeFault = { error: systemError('ENOSPC', 'no space left on device'), partialBytes: 50 };
      const failed = [21, 22].map((index) => store.append([entry(index, 1, new Uint8Array(100))]));
      for (const write of failed) {
        await expect(write).rejects.toThrow(DiskFullError);
      }
      expect(await walBytes()).toBe(bytesBefore);
      expect(store.health()).toMatchObject({ state: 'disk-full', writable: false });
      await expect(store.append(entries(21, 21, 1))).rejects.toThrow(DiskFullError);
      expect(store.lastIndex()).toBe(20);

      fs.writeFileFault = systemError('ENOSPC');
      expect(await store.probe()).toBe(false);
      expect(store.health().state).toBe('disk-full');

      fs.writeFault = undefined;
      fs.writeFileFault = undefined;
      expect(await store.probe()).toBe(true);
      expect(store.health()).toEqual({ state: 'ok', writable: true });
      await store.append(entries(21, 25, 2));
      await store.close();
      store = await WalLogStore.open(dir, { probeIntervalMs: 0 });
      expect(plain(store.entries(logIndex(1), logIndex(26), Number.MAX_SAFE_INTEGER))).toEqual(plain([...entries(1, 20, 1), ...entries(21, 25, 2)]));
      expect(store.hardState()).toEqual(hardState(1, 1, 20));
      const report = await verifyDataDir(dir);
      expect(report).toMatchObject({ ok: true, lastIndex: 25 });
      expect(report.tornTail).toBeUndefined();
    });

    it('handles ENOSPC while creating a new segment: nothing half-made is left behind', async () => {
      await store.append(entries(1, 100, 1));
      fs.writeFault = { error: systemError('ENOSPC'), partialBytes: 10 };
      fs.writeFaultPath = '.wal.tmp';
      await expect(store.append([entry(101, 1, new Uint8Array(8000))])).rejects.toThrow(DiskFullError);
      expect((await fsp.readdir(path.join(dir, 'wal'))).filter((name) => name.endsWith('.tmp'))).toEqual([]);
      fs.writeFault = undefined;
      expect(await store.probe()).toBe(true);
      await store.append([entry(101, 1, new Uint8Array(8000))]);
      await store.close();
      store = await WalLogStore.open(dir, { probeIntervalMs: 0 });
      expect(store.lastIndex()).toBe(101);
    });

    it('probes by itself every probeIntervalMs', async () => {
      await store.close();
      store = await WalLogStore.open(dir, { fileSystem: fs, probeIntervalMs: 5 });
      fs.writeFault = { error: systemError('ENOSPC') };
      await expect(store.append(entries(1, 1, 1))).rejects.toThrow(DiskFullError);
      fs.writeFault = undefined;
      for (let attempt = 0; attempt < 2000 && store.health().state !== 'ok'; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      expect(store.health().state).toBe('ok');
      await store.append(entries(1, 1, 1));
    });
  });

  it('treats any other write error (EIO) as fatal', async () => {
    fs.writeFault = { error: systemError('EIO') };
    await expect(store.append(entries(1, 1, 1))).rejects.toThrow(LogWriteFailedError);
    expect(store.health().state).toBe('failed');
    fs.writeFault = undefined;
    await expect(store.append(entries(1, 1, 1))).rejects.toThrow(StoreFailedError);
  });
});
