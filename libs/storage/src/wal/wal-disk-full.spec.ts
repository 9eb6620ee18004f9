/**
 * Disk full for real: the WAL on a 2 MiB tmpfs. Needs root (to mount); skipped otherwise,
 * with the reason printed.
 */
import { execFileSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { logIndex } from '@keyval/raft';
import type { Entry } from '@keyval/raft';
import { DiskFullError } from '../errors';
import { entry, entryDifferences, makeTempDir, payload, removeDir } from '../testing/log-fixtures';
import { verifyDataDir } from '../verify-data-dir';
import { WalLogStore } from './wal-log-store';

const isRoot = process.getuid?.() === 0;
const describeAsRoot = isRoot ? describe : describe.skip;
if (!isRoot) {
  console.warn('skipping the tmpfs disk-full test: mounting a tmpfs needs root');
}

describeAsRoot('WalLogStore on a full disk (2 MiB tmpfs)', () => {
  let mountPoint: string;
  let mounted = false;
  /** The store a test has open, closed in afterAll should the test fail. */
  let open: WalLogStore | undefined;

  beforeAll(async () => {
    mountPoint = await makeTempDir('wal-tmpfs');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint]);
    mounted = true;
  });

  afterAll(async () => {
    await open?.close().catch(() => undefined);
    if (mounted) {
      try {
        execFileSync('umount', [mountPoint]);
      } catch {
        // Something still holds a file (a failed test): detach it anyway so nothing leaks.
        execFileSync('umount', ['-l', mountPoint]);
      }
    }
    await removeDir(mountPoint);
  });

  /** Appends 1 KiB entries, 16 concurrent writes at a time, until the disk is full. */
  async function fillUp(store: WalLogStore, acked: Entry[], term: number): Promise<DiskFullError> {
    for (;;) {
      const next = store.lastIndex() + 1;
      const batch = Array.from({ length: 16 }, (_, k) => entry(next + k, term, payload(next + k, term, 1024)));
      const results = await Promise.allSettled(batch.map((e) => store.append([e])));
      results.forEach((result, k) => {
        if (result.status === 'fulfilled') {
          acked.push(batch[k] as Entry);
        }
      });
      const failure = results.find((result) => result.status === 'rejected');
      if (failure !== undefined) {
        return (failure as PromiseRejectedResult).reason as DiskFullError;
      }
    }
  }

  it('fails writes with DiskFullError, reports unhealthy, resumes when space returns, and keeps every acknowledged entry', async () => {
    const filler = path.join(mountPoint, 'filler');
    await fsp.writeFile(filler, Buffer.alloc(256 * 1024, 1));
    const dataDir = path.join(mountPoint, 'data');
    const acked: Entry[] = [];
    let store = await WalLogStore.open(dataDir, { segmentBytes: 256 * 1024, probeIntervalMs: 0 });
    open = store;

    const error = await fillUp(store, acked, 1);
    expect(error).toBeInstanceOf(DiskFullError);
    expect(acked.length).toBeGreaterThan(500);
    expect(store.health()).toMatchObject({ state: 'disk-full', writable: false });
    await expect(store.append([entry(store.lastIndex() + 1, 1)])).rejects.toThrow(DiskFullError);
    expect(await store.probe()).toBe(false);
    expect(store.lastIndex()).toBe(acked.length);

    await fsp.unlink(filler);
    expect(await store.probe()).toBe(true);
    expect(store.health()).toEqual({ state: 'ok', writable: true });
    const before = acked.length;
    await fillUp(store, acked, 2);
    expect(acked.length).toBeGreaterThan(before + 100);

    await store.close();
    store = await WalLogStore.open(dataDir, { probeIntervalMs: 0 });
    open = store;
    expect(store.lastIndex()).toBe(acked.length);
    expect(entryDifferences(store.entries(logIndex(1), logIndex(acked.length + 1), Number.MAX_SAFE_INTEGER), acked)).toEqual([]);
    await store.close();
    const report = await verifyDataDir(dataDir);
    expect(report.ok).toBe(true);
    expect(report.corruption).toBeUndefined();
  }, 30_000);
});
