/**
 * Opening a WAL directory for writing: recovery, repair of a torn tail, and the in-memory log.
 */
import * as path from 'node:path';
import { EMPTY_HARD_STATE, EMPTY_SNAPSHOT } from '@keyval/raft';
import { LogWriteFailedError } from '../errors';
import { DurableLog } from './durable-log';
import { encodeSegmentStart } from './record-codec';
import { SEGMENT_HEADER_BYTES } from './segment-format';
import type { SegmentScan } from './segment-scan';
import { SegmentSet } from './segment-set';
import type { ResolvedWalOptions } from './wal-options';
import { recoverWal } from './wal-recovery';

/** The directory under a member's data dir that holds the WAL segments. */
export const WAL_DIR_NAME = 'wal';

/** The parts of a recovered WAL the store runs on. */
export interface OpenedWal {
  readonly walDir: string;
  readonly segments: SegmentSet;
  readonly durable: DurableLog;
  /** Stale segment files (older than a gap), to delete once the store runs. */
  readonly stale: readonly string[];
}

/**
 * Recovers `<dataDir>/wal` (creating it when missing): replays every segment, verifying every
 * checksum; cuts a torn tail off the last segment (logged); removes incomplete segment
 * creations. Throws CorruptLogError for any other damage.
 */
export async function openWal(dataDir: string, options: ResolvedWalOptions): Promise<OpenedWal> {
  const { fileSystem: fs, logger } = options;
  const walDir = path.join(dataDir, WAL_DIR_NAME);
  try {
    await fs.mkdirp(walDir);
    await fs.syncDir(dataDir);
  } catch (err) {
    throw new LogWriteFailedError(walDir, 'create the WAL directory', err);
  }
  const recovery = await recoverWal(fs, walDir);
  for (const temporary of recovery.temporary) {
    logger.warn('removing an incomplete WAL segment left by a crash', { file: temporary });
    await fs.unlink(temporary);
  }
  const segments = new SegmentSet(fs, walDir, options.segmentBytes, logger);
  try {
    for (const scan of recovery.segments) {
      await adoptSegment(segments, scan, options);
    }
    if (recovery.segments.length === 0) {
      await segments.roll(1, encodeSegmentStart(EMPTY_SNAPSHOT, EMPTY_HARD_STATE));
    }
  } catch (err) {
    await segments.closeAll();
    throw err;
  }
  const { replay } = recovery;
  const durable = new DurableLog(replay.snapshot, replay.hardState, replay.table, segments, options.cacheBytesMax);
  durable.warmCache(options.cacheBytesMax);
  logger.info('opened WAL', {
    dir: walDir,
    segments: segments.count,
    firstIndex: durable.firstIndex(),
    lastIndex: durable.lastIndex(),
    term: durable.hardState().term,
  });
  return { walDir, segments, durable, stale: recovery.stale };
}

async function adoptSegment(segments: SegmentSet, scan: SegmentScan, options: ResolvedWalOptions): Promise<void> {
  const file = await options.fileSystem.openForUpdate(scan.path);
  if (scan.tornTail !== undefined) {
    options.logger.warn('truncating a torn write at the end of the WAL', {
      file: scan.path,
      offset: scan.tornTail.offset,
      bytesDropped: scan.fileBytes - scan.tornTail.offset,
      reason: scan.tornTail.reason,
    });
    try {
      await file.truncate(scan.validBytes);
      await file.datasync();
    } catch (err) {
      await file.close();
      throw new LogWriteFailedError(scan.path, 'truncate a torn tail', err);
    }
  }
  segments.adopt({
    seq: scan.id.seq,
    firstIndex: scan.id.firstIndex,
    path: scan.path,
    file,
    bytes: scan.validBytes,
    startBytes: SEGMENT_HEADER_BYTES,
  });
}
