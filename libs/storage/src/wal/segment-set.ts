/**
 * The open segment files and the I/O on them: appending a batch to the active segment (rolled
 * back on a full disk), fdatasync, creating the next segment, deleting old ones.
 *
 * Segment creation is atomic: the header and segment-start records are written to
 * `<name>.wal.tmp`, fdatasynced, renamed to `<name>.wal`, and the directory is fsynced. A crash
 * part way leaves only a `.tmp` file, removed on the next open.
 */
import * as path from 'node:path';
import { invariant } from '@keyval/raft';
import { DiskFullError, FsyncFailedError, LogWriteFailedError, StoreClosedError, errorCode, isNoSpaceError } from '../errors';
import type { StorageLogger } from '../log-store';
import type { SegmentHandle, SegmentLookup } from './durable-log';
import { SEGMENT_TEMP_SUFFIX, encodeSegmentHeader, segmentFileName } from './segment-format';
import type { WalFile, WalFileSystem } from './wal-file-system';

/** Segment offsets are stored as u32 in the entry index. */
const SEGMENT_OFFSET_LIMIT = 2 ** 32;

/** The open segment files; the newest is the active one, where batches are appended. */
export class SegmentSet implements SegmentLookup {
  /** Open segments by seq, oldest first (Map keeps insertion order). */
  private readonly handles = new Map<number, SegmentHandle>();
  private activeHandle: SegmentHandle | undefined;
  /** True when the active segment holds bytes written since its last fdatasync. */
  private unsynced = false;
  private closed = false;

  constructor(
    private readonly fs: WalFileSystem,
    readonly walDir: string,
    private readonly segmentBytes: number,
    private readonly logger: StorageLogger,
  ) {}

  get active(): SegmentHandle {
    invariant(this.activeHandle !== undefined, 'no active segment');
    return this.activeHandle;
  }

  get hasUnsyncedWrites(): boolean {
    return this.unsynced;
  }

  get count(): number {
    return this.handles.size;
  }

  get(seq: number): SegmentHandle {
    if (this.closed) {
      throw new StoreClosedError();
    }
    const handle = this.handles.get(seq);
    invariant(handle !== undefined, () => `segment ${seq} is not open`);
    return handle;
  }

  /** Registers an existing segment (at open); the last one added becomes the active segment. */
  adopt(handle: SegmentHandle): void {
    invariant(this.activeHandle === undefined || handle.seq === this.activeHandle.seq + 1, () => `segment ${handle.seq} out of order`);
    this.handles.set(handle.seq, handle);
    this.activeHandle = handle;
  }

  /** True when a batch of `bytes` should go to a new segment. */
  needsRoll(bytes: number): boolean {
    const active = this.active;
    return active.bytes > active.startBytes && active.bytes + bytes > this.segmentBytes;
  }

  /**
   * Creates segment `seq` starting at `firstIndex` with `startRecords` after its header, and
   * makes it the active segment (after syncing the previous one if it has unsynced writes).
   */
  async roll(firstIndex: number, startRecords: Buffer): Promise<void> {
    if (this.unsynced) {
      await this.datasync();
    }
    const seq = this.activeHandle === undefined ? 1 : this.activeHandle.seq + 1;
    const handle = await this.create(seq, firstIndex, startRecords);
    this.handles.set(seq, handle);
    this.activeHandle = handle;
  }

  /**
   * Appends `data` at the end of the active segment; returns where it starts. On ENOSPC the
   * partial write is truncated away and DiskFullError is thrown; other failures throw
   * LogWriteFailedError (fatal).
   */
  async write(data: Buffer): Promise<number> {
    const active = this.active;
    const position = active.bytes;
    invariant(position + data.byteLength < SEGMENT_OFFSET_LIMIT, () => `segment ${active.seq} would pass 4 GiB`);
    let written = 0;
    try {
      while (written < data.byteLength) {
        const n = await active.file.write(data, written, data.byteLength - written, position + written);
        invariant(n > 0, 'a write made no progress');
        written += n;
      }
    } catch (err) {
      if (!isNoSpaceError(err)) {
        throw new LogWriteFailedError(active.path, 'write', err);
      }
      await this.rollBack(active, position);
      throw new DiskFullError(active.path, err);
    }
    active.bytes += data.byteLength;
    this.unsynced = true;
    return position;
  }

  /** fdatasync of the active segment. Any failure is fatal (FsyncFailedError): never retried. */
  async datasync(): Promise<void> {
    const active = this.active;
    try {
      await active.file.datasync();
    } catch (err) {
      throw new FsyncFailedError(active.path, err);
    }
    this.unsynced = false;
  }

  /**
   * Closes and deletes the segments before `seq` (never the active one), oldest first. A
   * failure is logged and stops the deletion; the rest is retried after the next compaction.
   */
  async removeBefore(seq: number): Promise<void> {
    for (const handle of [...this.handles.values()]) {
      if (handle.seq >= seq || handle === this.activeHandle) {
        break;
      }
      try {
        await handle.file.close();
        this.handles.delete(handle.seq);
        await this.fs.unlink(handle.path);
      } catch (err) {
        this.logger.error('could not delete an obsolete WAL segment; will retry after the next compaction', {
          file: handle.path,
          error: String(err),
        });
        return;
      }
      this.logger.info('deleted obsolete WAL segment', { file: handle.path });
    }
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    const handles = [...this.handles.values()];
    this.handles.clear();
    this.activeHandle = undefined;
    for (const handle of handles) {
      await handle.file.close();
    }
  }

  private async create(seq: number, firstIndex: number, startRecords: Buffer): Promise<SegmentHandle> {
    const finalPath = path.join(this.walDir, segmentFileName({ seq, firstIndex }));
    const tempPath = finalPath.replace(/\.wal$/, SEGMENT_TEMP_SUFFIX);
    await this.unlinkIfPresent(tempPath);
    const content = Buffer.concat([encodeSegmentHeader({ seq, firstIndex }), startRecords]);
    let file: WalFile | undefined;
    try {
      file = await this.fs.createExclusive(tempPath);
      let written = 0;
      while (written < content.byteLength) {
        const n = await file.write(content, written, content.byteLength - written, written);
        invariant(n > 0, 'a write made no progress');
        written += n;
      }
    } catch (err) {
      await file?.close().catch(() => undefined);
      await this.unlinkIfPresent(tempPath);
      throw isNoSpaceError(err) ? new DiskFullError(tempPath, err) : new LogWriteFailedError(tempPath, 'segment creation', err);
    }
    try {
      await file.datasync();
    } catch (err) {
      throw new FsyncFailedError(tempPath, err);
    }
    try {
      await this.fs.rename(tempPath, finalPath);
      await this.fs.syncDir(this.walDir);
    } catch (err) {
      throw new LogWriteFailedError(finalPath, 'segment rename and directory sync', err);
    }
    this.logger.info('created WAL segment', { file: finalPath, firstIndex });
    return { seq, firstIndex, path: finalPath, file, bytes: content.byteLength, startBytes: content.byteLength };
  }

  /** Truncates a failed write away so the segment ends with whole records again. */
  private async rollBack(active: SegmentHandle, position: number): Promise<void> {
    try {
      await active.file.truncate(position);
    } catch (err) {
      throw new LogWriteFailedError(active.path, 'truncate after a failed write', err);
    }
  }

  private async unlinkIfPresent(file: string): Promise<void> {
    try {
      await this.fs.unlink(file);
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') {
        throw new LogWriteFailedError(file, 'unlink', err);
      }
    }
  }
}

