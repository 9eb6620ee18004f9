/**
 * The RocksDB history on disk: physical compaction deletes exactly what no read at or above
 * the compacted revision can see, in bounded steps that interleave with applies and reads and
 * resume after a restart; a format-1 database (no history) is migrated on open.
 */
import { CompactedError } from '../errors';
import type { KeyValue } from '../kv-types';
import { kvText } from '../testing/conformance-harness.test';
import { LogBuilder, b, removeDir, tempDir } from '../testing/log-builder.test';
import { databasePath, openDataDir } from './data-dir';
import {
  APPLIED_KEY,
  FORMAT_1_VALUE,
  FORMAT_KEY,
  PREFIX_KV,
  PREFIX_REVISION,
  PREFIX_VERSION,
  decodeAppliedState,
  encodeKvValue,
  kvKey,
  prefixBounds,
} from './key-layout';
import { RocksDatabase } from './rocks-database';
import { RocksStateMachine } from './rocks-state-machine';

const ALL = { key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) };

/** Entries under each history prefix, read from the closed machine's database. */
async function countEntries(dataDir: string): Promise<{ latest: number; revisions: number; versions: number }> {
  const db = await RocksDatabase.open(databasePath(dataDir, await openDataDir(dataDir)));
  try {
    const count = async (prefix: number): Promise<number> => {
      let n = 0;
      for await (const _ of db.iterator({ ...prefixBounds(prefix), values: false }).entries()) {
        n++;
      }
      return n;
    };
    return { latest: await count(PREFIX_KV), revisions: await count(PREFIX_REVISION), versions: await count(PREFIX_VERSION) };
  } finally {
    await db.close();
  }
}

describe('RocksDB history', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir('history');
  });
  afterEach(() => removeDir(dir));

  it('physical compaction deletes the unreachable versions and the revision records below the compacted revision', async () => {
    const sm = await RocksStateMachine.open({ dataDir: dir });
    const log = new LogBuilder();
    // 10 keys × 5 puts (revisions 2..51), then 3 keys deleted (52..54) and 1 recreated (55).
    const entries = [];
    for (let round = 0; round < 5; round++) {
      for (let k = 0; k < 10; k++) {
        entries.push(log.put(`k${k}`, `r${round}`));
      }
    }
    entries.push(log.del('k0'), log.del('k1'), log.del('k2'), log.put('k0', 'again'));
    // One apply call per entry: each revision's record in a chunk of its own.
    for (const entry of entries) {
      await sm.apply([entry]);
    }
    await sm.close();
    expect(await countEntries(dir)).toEqual({ latest: 8, revisions: 54, versions: 54 });

    const reopened = await RocksStateMachine.open({ dataDir: dir });
    // At 53: k0 (deleted at 52) and k1 (at 53) are gone; k2 is deleted only at 54.
    await reopened.apply([new LogBuilder(log.lastIndex + 1).compact(53)]);
    await reopened.compacted(53);
    const at53 = await reopened.range({ ...ALL, revision: 53 });
    expect(at53.kvs.map((kv: KeyValue) => Buffer.from(kv.key).toString())).toEqual(['k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9']);
    await reopened.close();
    // Versions kept: k2..k9 at their last put (8), k1's tombstone at the compacted revision
    // itself (53), k2's tombstone (54), k0 recreated (55); k0's tombstone (52) and every older
    // version are gone. Revision chunks kept: 53, 54, 55.
    expect(await countEntries(dir)).toEqual({ latest: 8, revisions: 3, versions: 11 });
  });

  it('compacts in bounded steps while applies and reads go on, and resumes after a restart', async () => {
    let steps = 0;
    let release: (() => void) | undefined;
    const pause = (): Promise<void> =>
      new Promise((resolve) => {
        steps++;
        release = resolve;
      });
    // Chunks of 5 revisions (apply batches of 5 entries); steps of 2 chunks.
    const sm = await RocksStateMachine.open({ dataDir: dir, limits: { compactionStepWrites: 10, maxApplyBatchEntries: 5 }, compactionPause: pause });
    const log = new LogBuilder();
    await sm.apply(Array.from({ length: 100 }, (_, i) => log.put(`k${i % 7}`, `v${i}`)));
    await sm.apply([log.compact(90)]);
    const done = sm.compacted(90);
    let settled = false;
    done.then(
      () => {
        settled = true;
      },
      () => undefined, // rejected by the close below
    );
    // The first step ran and waits to be released: reads and applies are not held.
    while (release === undefined) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(steps).toBe(1);
    await sm.apply([log.put('during', 'compaction')]);
    expect((await sm.range({ key: b('during') })).count).toBe(1);
    expect((await sm.range({ ...ALL, revision: 90 })).count).toBe(7);
    await expect(sm.range({ ...ALL, revision: 89 })).rejects.toBeInstanceOf(CompactedError);
    expect(settled).toBe(false);
    // Stop half-way: the reopened machine finishes the work from the saved progress.
    await sm.close();
    await expect(done).rejects.toThrow(/closed/);
    const reopened = await RocksStateMachine.open({ dataDir: dir });
    await reopened.compacted(90);
    const expected = (await reopened.range({ ...ALL, revision: 90 })).kvs.map(kvText);
    expect(expected).toHaveLength(7);
    await reopened.close();
    const counts = await countEntries(dir);
    // 7 versions reachable at 90, the 11 written after it (91..101), and 'during' (102);
    // the chunks holding 90 and later: 87..91, 92..96, 97..101 and 102.
    expect(counts).toEqual({ latest: 8, revisions: 4, versions: 7 + 11 + 1 });
    expect(steps).toBeGreaterThanOrEqual(1);
  });

  it('migrates a format-1 database (latest records only) to a store compacted at its revision', async () => {
    const generation = await openDataDir(dir);
    const db = await RocksDatabase.open(databasePath(dir, generation));
    const kvs: KeyValue[] = [
      { key: b('a'), createRevision: 2, modRevision: 4, version: 2, value: b('va') },
      { key: Uint8Array.of(0x62, 0x00, 0x01), createRevision: 3, modRevision: 3, version: 1, value: b('vb') },
      { key: b('c'), createRevision: 5, modRevision: 5, version: 1, value: b('vc') },
    ];
    // The applied state of format 1: u8 1 | index | term | revision | log time.
    await db.write(
      [
        { type: 'put', key: FORMAT_KEY, value: FORMAT_1_VALUE },
        { type: 'put', key: APPLIED_KEY, value: Buffer.from([1, 9, 1, 5, 100]) },
        { type: 'put', key: Buffer.from([0x01, 0x4d]), value: Buffer.from([1, 0, 0, 0]) },
        ...kvs.map((kv) => ({ type: 'put' as const, key: kvKey(kv.key), value: encodeKvValue(kv) })),
      ],
      true,
    );
    expect(decodeAppliedState(Buffer.from([1, 9, 1, 5, 100])).compactRevision).toBe(5);
    await db.close();
    const sm = await RocksStateMachine.open({ dataDir: dir });
    expect(sm.revision()).toBe(5);
    expect(sm.compactRevision()).toBe(5);
    expect(sm.appliedIndex()).toBe(9);
    expect((await sm.range(ALL)).kvs.map(kvText)).toEqual((await sm.range({ ...ALL, revision: 5 })).kvs.map(kvText));
    expect((await sm.range({ ...ALL, revision: 5 })).count).toBe(3);
    await expect(sm.range({ ...ALL, revision: 4 })).rejects.toBeInstanceOf(CompactedError);
    // It goes on as any store: a put to an existing key continues its version.
    const [put] = await sm.apply([new LogBuilder(10).put('a', 'next', { prevKv: true })]);
    expect(put?.kind === 'response' && put.response.type === 'put' ? kvText(put.response.response.prevKv) : undefined).toBe('a=va@c2/m4/v2');
    expect((await sm.range({ key: b('a'), revision: 5 })).kvs.map(kvText)).toEqual(['a=va@c2/m4/v2']);
    await sm.close();
  });
});
