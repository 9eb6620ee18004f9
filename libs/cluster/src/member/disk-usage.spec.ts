import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DiskUsageProbe } from './disk-usage';

describe('DiskUsageProbe', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'keyval-disk-usage-'));
    await fs.mkdir(path.join(dir, 'sm', 'db-1'), { recursive: true });
    await fs.mkdir(path.join(dir, 'wal'));
    await fs.writeFile(path.join(dir, 'sm', 'db-1', '000001.sst'), Buffer.alloc(10_000));
    await fs.writeFile(path.join(dir, 'wal', '1.wal'), Buffer.alloc(300));
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('measures the WAL and the database, and serves the same figure within its time to live', async () => {
    const probe = new DiskUsageProbe(dir, 60_000);
    expect(await probe.measure()).toMatchObject({ walBytes: 300, dbBytes: 10_000, partial: false });
    await fs.writeFile(path.join(dir, 'sm', 'db-1', '000001.sst'), Buffer.alloc(100));
    expect((await probe.measure()).dbBytes).toBe(10_000); // cached
  });

  it('walks again after invalidate(), so a database shrunk by a defragmentation is seen at once', async () => {
    const probe = new DiskUsageProbe(dir, 60_000);
    await probe.measure();
    const before = probe.measuredAt;
    await fs.writeFile(path.join(dir, 'sm', 'db-1', '000001.sst'), Buffer.alloc(100));
    probe.invalidate();
    expect(probe.measuredAt).toBeNaN();
    expect((await probe.measure()).dbBytes).toBe(100);
    expect(probe.measuredAt).toBeGreaterThanOrEqual(before);
  });

  it('does not keep a walk that began before invalidate() as the cached figure', async () => {
    const probe = new DiskUsageProbe(dir, 60_000);
    const stale = probe.measure(); // walks the 10,000-byte database
    probe.invalidate();
    await stale;
    await fs.writeFile(path.join(dir, 'sm', 'db-1', '000001.sst'), Buffer.alloc(100));
    expect((await probe.measure()).dbBytes).toBe(100);
  });
});
