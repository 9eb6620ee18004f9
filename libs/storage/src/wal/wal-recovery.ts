/**
 * Reading a WAL directory back: which segment files form the log, and what they hold. Pure
 * reading: the caller decides whether to repair (cut a torn tail, remove leftovers).
 *
 * Segments form a run of consecutive seqs. Segment files are deleted oldest first after a
 * compaction, so an older file separated from the newest run by a gap is a leftover of an
 * interrupted deletion: it is ignored (and removed by the store). Ignoring it is safe because
 * replay proves that every live entry is in the run (LogReplay.finish).
 */
import * as path from 'node:path';
import { CorruptLogError } from '../errors';
import { LogReplay } from './log-replay';
import { SEGMENT_TEMP_SUFFIX, parseSegmentFileName } from './segment-format';
import type { SegmentId } from './segment-format';
import { scanSegment } from './segment-scan';
import type { SegmentScan } from './segment-scan';
import type { WalFileSystem } from './wal-file-system';

/** A WAL directory read back and replayed. */
export interface WalRecovery {
  readonly walDir: string;
  /** The log rebuilt from the run (empty when there are no segments). */
  readonly replay: LogReplay;
  /** The run of segments, oldest first. Only the last can have a torn tail. */
  readonly segments: readonly SegmentScan[];
  /** Segment files older than a gap in the seqs: leftovers of an interrupted deletion. */
  readonly stale: readonly string[];
  /** Incomplete segment creations (`*.wal.tmp`). */
  readonly temporary: readonly string[];
}

/** The segment files of a WAL directory, sorted into the run and the leftovers. */
export interface WalListing {
  /** The newest run of consecutive seqs, oldest first. */
  readonly run: readonly ListedSegment[];
  readonly stale: readonly ListedSegment[];
  readonly temporary: readonly string[];
}

/** A segment file found in the directory. */
export interface ListedSegment extends SegmentId {
  readonly path: string;
}

/** Lists `walDir`. Throws CorruptLogError when two segment files claim the same seq. */
export async function listWal(fs: WalFileSystem, walDir: string): Promise<WalListing> {
  const names = (await fs.readdir(walDir)).sort();
  const temporary = names.filter((name) => name.endsWith(SEGMENT_TEMP_SUFFIX)).map((name) => path.join(walDir, name));
  const listed: ListedSegment[] = [];
  for (const name of names) {
    const id = parseSegmentFileName(name);
    if (id !== undefined) {
      listed.push({ ...id, path: path.join(walDir, name) });
    }
  }
  listed.sort((a, b) => a.seq - b.seq);
  return { ...splitRun(listed), temporary };
}

/** Reads and replays every segment in `walDir`. Throws CorruptLogError on damage. */
export async function recoverWal(fs: WalFileSystem, walDir: string): Promise<WalRecovery> {
  const { run, stale, temporary } = await listWal(fs, walDir);
  const first = run[0];
  const replay = new LogReplay(first === undefined ? 1 : first.firstIndex);
  const segments: SegmentScan[] = [];
  for (let k = 0; k < run.length; k++) {
    const segment = run[k] as ListedSegment;
    const bytes = await fs.readFile(segment.path);
    segments.push(scanSegment(segment.path, segment, bytes, k === run.length - 1, replay));
  }
  const problem = replay.finish();
  if (problem !== undefined && first !== undefined) {
    throw new CorruptLogError(first.path, 0, problem);
  }
  return { walDir, replay, segments, stale: stale.map((segment) => segment.path), temporary };
}

/** Splits seq-sorted segments into the newest run of consecutive seqs and what precedes it. */
function splitRun(listed: readonly ListedSegment[]): { run: ListedSegment[]; stale: ListedSegment[] } {
  for (let k = 1; k < listed.length; k++) {
    const previous = listed[k - 1] as ListedSegment;
    const segment = listed[k] as ListedSegment;
    if (segment.seq === previous.seq) {
      throw new CorruptLogError(segment.path, 0, `two segment files have seq ${segment.seq}`);
    }
  }
  let start = listed.length - 1;
  while (start > 0 && (listed[start - 1] as ListedSegment).seq === (listed[start] as ListedSegment).seq - 1) {
    start--;
  }
  start = Math.max(start, 0);
  return { run: listed.slice(start), stale: listed.slice(0, start) };
}
