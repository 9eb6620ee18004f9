/**
 * Offline verification of a member's data dir (`keyval --verify-data --data-dir D`): reads every
 * WAL segment, verifies every checksum and replays the log, without changing anything. A torn
 * tail is reported (the store cuts it on the next open); corruption is reported with its file
 * and offset.
 */
import * as path from 'node:path';
import type { HardState, SnapshotMeta } from '@keyval/raft';
import { CorruptLogError, errorCode } from './errors';
import { LogReplay } from './wal/log-replay';
import { scanSegment } from './wal/segment-scan';
import type { FoundSnapshotMarker, SegmentScan } from './wal/segment-scan';
import { nodeWalFileSystem } from './wal/wal-file-system';
import type { WalFileSystem } from './wal/wal-file-system';
import { WAL_DIR_NAME } from './wal/wal-open';
import { listWal } from './wal/wal-recovery';
import type { WalListing } from './wal/wal-recovery';

/** Snapshot markers listed in a report at most (the newest ones); all are counted. */
const REPORTED_MARKERS_MAX = 100;

/** One segment file as the verifier found it. */
export interface SegmentReport {
  readonly file: string;
  readonly seq: number;
  readonly firstIndex: number;
  readonly bytes: number;
  readonly records: number;
  readonly entries: number;
}

/** What `verifyDataDir` found in a data dir. */
export interface DataDirReport {
  readonly dataDir: string;
  readonly walDir: string;
  /** True when the WAL is readable and whole (a torn tail does not count against it). */
  readonly ok: boolean;
  /** Segments read, oldest first (up to the corrupt one, if any). */
  readonly segments: readonly SegmentReport[];
  readonly records: number;
  readonly entries: number;
  /** The log after replay (absent when replay did not complete). */
  readonly firstIndex?: number;
  readonly lastIndex?: number;
  readonly hardState?: HardState;
  readonly snapshot?: SnapshotMeta;
  readonly snapshotMarkerCount: number;
  /** The newest snapshot markers (installed snapshots and compactions). */
  readonly snapshotMarkers: readonly FoundSnapshotMarker[];
  readonly tornTail?: { readonly file: string; readonly offset: number; readonly bytes: number; readonly reason: string };
  readonly corruption?: { readonly file: string; readonly offset: number; readonly reason: string };
  /** Segment files older than a gap (ignored by recovery) and incomplete creations. */
  readonly leftoverFiles: readonly string[];
  /** Other problems (no WAL directory, unreadable files). */
  readonly problems: readonly string[];
}

/** Verifies `<dataDir>/wal` offline. Never throws for damage: it is reported. */
export async function verifyDataDir(dataDir: string, fileSystem: WalFileSystem = nodeWalFileSystem): Promise<DataDirReport> {
  const walDir = path.join(dataDir, WAL_DIR_NAME);
  const base = { dataDir, walDir, segments: [], records: 0, entries: 0, snapshotMarkerCount: 0, snapshotMarkers: [], leftoverFiles: [] };
  let listing: WalListing;
  try {
    listing = await listWal(fileSystem, walDir);
  } catch (err) {
    if (err instanceof CorruptLogError) {
      return { ...base, ok: false, corruption: { file: err.file, offset: err.offset, reason: err.reason }, problems: [] };
    }
    const problem = errorCode(err) === 'ENOENT' ? `no WAL directory at ${walDir}` : `cannot read ${walDir}: ${String(err)}`;
    return { ...base, ok: false, problems: [problem] };
  }
  const leftoverFiles = [...listing.stale.map((segment) => segment.path), ...listing.temporary];
  const replay = new LogReplay(listing.run[0]?.firstIndex ?? 1);
  const scans: SegmentScan[] = [];
  const problems: string[] = [];
  let corruption: DataDirReport['corruption'];
  for (let k = 0; k < listing.run.length && corruption === undefined; k++) {
    const segment = listing.run[k] as WalListing['run'][number];
    try {
      const bytes = await fileSystem.readFile(segment.path);
      scans.push(scanSegment(segment.path, segment, bytes, k === listing.run.length - 1, replay));
    } catch (err) {
      if (!(err instanceof CorruptLogError)) {
        problems.push(`cannot read ${segment.path}: ${String(err)}`);
        break;
      }
      corruption = { file: err.file, offset: err.offset, reason: err.reason };
    }
  }
  const complete = corruption === undefined && problems.length === 0;
  const unfinished = complete ? replay.finish() : undefined;
  if (unfinished !== undefined) {
    corruption = { file: listing.run[0]?.path ?? walDir, offset: 0, reason: unfinished };
  }
  return summarize({ ...base, leftoverFiles, problems }, scans, replay, complete && unfinished === undefined, corruption);
}

function summarize(
  base: Pick<DataDirReport, 'dataDir' | 'walDir' | 'leftoverFiles' | 'problems'>,
  scans: readonly SegmentScan[],
  replay: LogReplay,
  replayed: boolean,
  corruption: DataDirReport['corruption'],
): DataDirReport {
  const markers = scans.flatMap((scan) => scan.markers);
  const torn = scans.find((scan) => scan.tornTail !== undefined);
  return {
    ...base,
    ok: corruption === undefined && base.problems.length === 0,
    segments: scans.map((scan) => ({
      file: scan.path,
      seq: scan.id.seq,
      firstIndex: scan.id.firstIndex,
      bytes: scan.fileBytes,
      records: scan.records,
      entries: scan.entries,
    })),
    records: scans.reduce((sum, scan) => sum + scan.records, 0),
    entries: scans.reduce((sum, scan) => sum + scan.entries, 0),
    ...(replayed
      ? { firstIndex: replay.snapshot.index + 1, lastIndex: replay.lastIndex, hardState: replay.hardState, snapshot: replay.snapshot }
      : {}),
    snapshotMarkerCount: markers.length,
    snapshotMarkers: markers.slice(-REPORTED_MARKERS_MAX),
    ...(torn?.tornTail === undefined
      ? {}
      : { tornTail: { file: torn.path, offset: torn.tornTail.offset, bytes: torn.fileBytes - torn.tornTail.offset, reason: torn.tornTail.reason } }),
    ...(corruption === undefined ? {} : { corruption }),
  };
}

/** The report as text for people (one fact per line). */
export function formatDataDirReport(report: DataDirReport): string {
  const lines = [`data dir ${report.dataDir}: ${report.ok ? 'OK' : 'PROBLEMS FOUND'}`, `wal dir ${report.walDir}`];
  for (const segment of report.segments) {
    lines.push(`  segment ${path.basename(segment.file)}: ${segment.bytes} bytes, ${segment.records} records, ${segment.entries} entries`);
  }
  lines.push(`records ${report.records}, entries ${report.entries}`);
  if (report.lastIndex !== undefined && report.firstIndex !== undefined) {
    lines.push(`log: first index ${report.firstIndex}, last index ${report.lastIndex}`);
  }
  if (report.hardState !== undefined) {
    const { term, vote, commit } = report.hardState;
    lines.push(`hard state: term ${term}, vote ${vote}, commit ${commit}`);
  }
  if (report.snapshot !== undefined) {
    lines.push(`snapshot: index ${report.snapshot.index}, term ${report.snapshot.term}`);
  }
  lines.push(`snapshot markers: ${report.snapshotMarkerCount}`);
  for (const marker of report.snapshotMarkers.slice(-5)) {
    lines.push(`  ${marker.kind} at index ${marker.index} term ${marker.term} (${path.basename(marker.file)}@${marker.offset})`);
  }
  if (report.tornTail !== undefined) {
    const { file, offset, bytes, reason } = report.tornTail;
    lines.push(`torn tail: ${file} at offset ${offset} (${bytes} bytes, ${reason}); it is cut on the next start`);
  }
  if (report.corruption !== undefined) {
    const { file, offset, reason } = report.corruption;
    lines.push(`CORRUPTION: ${file} at offset ${offset}: ${reason}`);
  }
  for (const file of report.leftoverFiles) {
    lines.push(`leftover file (removed on the next start): ${file}`);
  }
  for (const problem of report.problems) {
    lines.push(`PROBLEM: ${problem}`);
  }
  return lines.join('\n');
}
