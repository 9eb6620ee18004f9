import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { nodeId } from '@keyval/raft';
import { entries, hardState, makeTempDir, removeDir, snapshotMeta } from './testing/log-fixtures';
import { formatDataDirReport, verifyDataDir } from './verify-data-dir';
import { WalLogStore } from './wal/wal-log-store';
import { flipByte, recordOffsets, segmentFiles } from './testing/wal-files';

// Real fsyncs on a disk shared with other work can take tens of milliseconds each.
jest.setTimeout(60_000);

describe('verifyDataDir', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await makeTempDir('verify');
    const store = await WalLogStore.open(dir, { segmentBytes: 4096 });
    for (let from = 1; from <= 200; from += 20) {
      await store.save({ entries: entries(from, from + 19, 2), hardState: hardState(2, 3, from) });
    }
    await store.compact(snapshotMeta(120, 2, { voters: [nodeId(1)], learners: [] }));
    await store.save({ entries: entries(201, 210, 3), hardState: hardState(3, 1, 200) });
    await store.close();
  });

  afterEach(async () => {
    await removeDir(dir);
  });

  it('reports a healthy WAL: segments, records, entries, log bounds, hard state and snapshot markers', async () => {
    const report = await verifyDataDir(dir);
    expect(report).toMatchObject({
      ok: true,
      firstIndex: 121,
      lastIndex: 210,
      hardState: hardState(3, 1, 200),
      snapshot: snapshotMeta(120, 2, { voters: [nodeId(1)], learners: [] }),
      snapshotMarkerCount: 1,
      snapshotMarkers: [expect.objectContaining({ kind: 'compacted', index: 120, term: 2 })],
      problems: [],
    });
    expect(report.segments.length).toBeGreaterThan(1);
    expect(report.entries).toBe(report.segments.reduce((sum, segment) => sum + segment.entries, 0));
    expect(report.tornTail).toBeUndefined();
    expect(report.corruption).toBeUndefined();
    expect(formatDataDirReport(report)).toContain('OK');
  });

  it('reports a torn tail without repairing it', async () => {
    const last = (await segmentFiles(dir)).at(-1) as string;
    const lastRecord = (await recordOffsets(last)).at(-1) as number;
    await fsp.truncate(last, lastRecord + 5);
    const report = await verifyDataDir(dir);
    expect(report.ok).toBe(true);
    expect(report.tornTail).toMatchObject({ file: last, offset: lastRecord, bytes: 5 });
    expect((await fsp.stat(last)).size).toBe(lastRecord + 5);
    expect(formatDataDirReport(report)).toContain(`torn tail: ${last} at offset ${lastRecord}`);
  });

  it('reports corruption with its file and offset', async () => {
    const files = await segmentFiles(dir);
    const victimFile = files[0] as string;
    const victim = (await recordOffsets(victimFile))[3] as number;
    await flipByte(victimFile, victim + 13);
    const report = await verifyDataDir(dir);
    expect(report.ok).toBe(false);
    expect(report.corruption).toMatchObject({ file: victimFile, offset: victim, reason: expect.stringContaining('checksum') });
    expect(report.lastIndex).toBeUndefined();
    expect(formatDataDirReport(report)).toContain(`CORRUPTION: ${victimFile} at offset ${victim}`);
  });

  it('reports a data dir without a WAL', async () => {
    await fsp.rm(path.join(dir, 'wal'), { recursive: true });
    const report = await verifyDataDir(dir);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([`no WAL directory at ${path.join(dir, 'wal')}`]);
  });
});
