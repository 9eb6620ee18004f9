/**
 * What a member holds on disk, for its status: bytes of write-ahead log and of the RocksDB
 * state machine, measured by walking the data dir (cached briefly, since status is polled).
 *
 *     <data-dir>/wal/        ─▶ walBytes
 *     <data-dir>/sm/db-N/    ─▶ dbBytes
 *     <data-dir>/sm/snapshots/ ─▶ snapshotBytes
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** Most directory entries one measurement visits (a limit on everything); beyond it the sum is partial. */
export const DISK_USAGE_ENTRIES_MAX = 200_000;

export interface DiskUsage {
  /** Bytes of WAL segment files. */
  readonly walBytes: number;
  /** Bytes of the live RocksDB database directories. */
  readonly dbBytes: number;
  /** Bytes of snapshot files kept for followers and backups. */
  readonly snapshotBytes: number;
  /** True when a limit stopped the walk early (the figures are then lower bounds). */
  readonly partial: boolean;
}

interface Walk {
  bytes: number;
  entries: number;
  partial: boolean;
}

/** Sums the sizes of the regular files under `dir` (0 when it does not exist). */
async function walk(dir: string, acc: Walk, maxEntries: number): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw error;
  }
  for (const name of names) {
    if (acc.entries >= maxEntries) {
      acc.partial = true;
      return;
    }
    acc.entries++;
    const file = path.join(dir, name);
    let stat;
    try {
      stat = await fs.lstat(file);
    } catch (error) {
      // Deleted between readdir and lstat (a compacted segment, a RocksDB compaction): skip it.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if (stat.isDirectory()) {
      await walk(file, acc, maxEntries);
    } else if (stat.isFile()) {
      acc.bytes += stat.size;
    }
  }
}

/** Bytes of the regular files under `dir`, recursively; `partial` when the entry limit stopped it. */
export async function directoryBytes(dir: string, maxEntries = DISK_USAGE_ENTRIES_MAX): Promise<{ bytes: number; partial: boolean }> {
  const acc: Walk = { bytes: 0, entries: 0, partial: false };
  await walk(dir, acc, maxEntries);
  return { bytes: acc.bytes, partial: acc.partial };
}

/** Measures a member data dir's WAL, database and snapshot bytes. */
export async function measureDataDir(dataDir: string): Promise<DiskUsage> {
  const wal = await directoryBytes(path.join(dataDir, 'wal'));
  const sm = path.join(dataDir, 'sm');
  let db = { bytes: 0, partial: false };
  let names: string[] = [];
  try {
    names = await fs.readdir(sm);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  for (const name of names.filter((n) => /^db-\d+$/.test(n))) {
    const part = await directoryBytes(path.join(sm, name));
    db = { bytes: db.bytes + part.bytes, partial: db.partial || part.partial };
  }
  const snapshots = await directoryBytes(path.join(sm, 'snapshots'));
  return { walBytes: wal.bytes, dbBytes: db.bytes, snapshotBytes: snapshots.bytes, partial: wal.partial || db.partial || snapshots.partial };
}

/**
 * A cached measurement of one data dir: status calls within `ttlMs` of the last walk share its
 * result, and concurrent calls share one walk.
 */
export class DiskUsageProbe {
  private last: { at: number; usage: DiskUsage } | undefined;
  private running: Promise<DiskUsage> | undefined;
  /** Bumped by invalidate(): a walk that began before it does not become the cached figure. */
  private generation = 0;

  constructor(
    private readonly dataDir: string,
    private readonly ttlMs = 1_000,
  ) {}

  /** When the cached measurement was taken (performance.now() ms); NaN before the first. */
  get measuredAt(): number {
    return this.last?.at ?? Number.NaN;
  }

  async measure(): Promise<DiskUsage> {
    const now = performance.now();
    if (this.last !== undefined && now - this.last.at < this.ttlMs) {
      return this.last.usage;
    }
    const generation = this.generation;
    this.running ??= measureDataDir(this.dataDir).finally(() => {
      this.running = undefined;
    });
    const usage = await this.running;
    if (generation === this.generation) {
      this.last = { at: performance.now(), usage };
    }
    return usage;
  }

  /**
   * Forgets the cached measurement (and one in progress): the next call walks the data dir.
   * For changes the next reader must see at once — a defragmentation that shrank the database,
   * a NOSPACE alarm disarmed so writes are judged again by the space quota.
   */
  invalidate(): void {
    this.generation++;
    this.last = undefined;
    this.running = undefined;
  }
}
