/**
 * Snapshot files of format 1 (written before the history existed: each key's latest record,
 * no compacted revision) still restore, in both implementations, as a store compacted at the
 * file's revision; files out of their format's record order are refused.
 */
import { crc32c } from '@node-rs/crc32';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ByteWriter } from '../codec/byte-writer';
import { writeMembership } from '../engine/membership';
import { CompactedError, SnapshotCorruptError } from '../errors';
import type { KeyValue } from '../kv-types';
import { MemoryStateMachine } from '../memory/memory-state-machine';
import { RocksStateMachine } from '../rocks/rocks-state-machine';
import type { StateMachine } from '../state-machine';
import { kvText } from '../testing/conformance-harness.test';
import { LogBuilder, b, removeDir, tempDir } from '../testing/log-builder.test';
import type { SnapshotRecord } from './snapshot-format';
import { SNAPSHOT_MAGIC, encodeChunkFrame, encodeEndFrame, writeRecord } from './snapshot-format';

const MEMBERSHIP = { config: { voters: [1n as never], learners: [] }, members: [] };

/** A format-1 file: header without a compacted revision, then kv records. */
function formatOneFile(records: readonly SnapshotRecord[]): Buffer {
  const body = new ByteWriter(64);
  body.varint(20).varint(2).varint(6).varint(5_000);
  writeMembership(body, MEMBERSHIP);
  const bodyBytes = body.finish();
  const head = new ByteWriter(64);
  head.raw(SNAPSHOT_MAGIC).u16(1).u32(bodyBytes.byteLength).raw(bodyBytes);
  const headBytes = head.finish();
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32c(headBytes) >>> 0);
  const payload = new ByteWriter(256);
  records.forEach((record) => writeRecord(payload, record));
  const frames = Buffer.concat([headBytes, crc, encodeChunkFrame(0, records.length, payload.finish())]);
  return Buffer.concat([frames, encodeEndFrame(1, records.length, crc32c(frames))]);
}

const KVS: KeyValue[] = [
  { key: b('a'), createRevision: 2, modRevision: 6, version: 3, value: b('A') },
  { key: b('b'), createRevision: 4, modRevision: 4, version: 1, value: b('B') },
  { key: b('c'), createRevision: 5, modRevision: 6, version: 2, value: b('C') },
];

describe('snapshot format 1', () => {
  let dir: string;
  const machines: StateMachine[] = [];
  beforeEach(async () => {
    dir = await tempDir('format1');
  });
  afterEach(async () => {
    for (const machine of machines.splice(0)) {
      await machine.close();
    }
    await removeDir(dir);
  });

  it.each(['memory', 'rocks'])('restores into the %s machine as a store compacted at its revision', async (kind) => {
    const file = path.join(dir, 'old.snap');
    await fs.writeFile(file, formatOneFile(KVS.map((kv) => ({ type: 'kv', kv }))));
    const sm = kind === 'memory' ? await MemoryStateMachine.create({ snapshotDir: path.join(dir, 'snaps') }) : await RocksStateMachine.open({ dataDir: path.join(dir, 'rocks') });
    machines.push(sm);
    const info = await sm.restore(file);
    expect(info.meta.index).toBe(20);
    expect(sm.revision()).toBe(6);
    expect(sm.compactRevision()).toBe(6);
    const all = { key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) };
    expect((await sm.range(all)).kvs.map(kvText)).toEqual(['a=A@c2/m6/v3', 'b=B@c4/m4/v1', 'c=C@c5/m6/v2']);
    expect((await sm.range({ ...all, revision: 6 })).count).toBe(3);
    await expect(sm.range({ ...all, revision: 5 })).rejects.toBeInstanceOf(CompactedError);
    const log = new LogBuilder(21);
    log.term = 2;
    const [put] = await sm.apply([log.put('b', 'B2', { prevKv: true })]);
    expect(put?.kind === 'response' && put.response.type === 'put' ? kvText(put.response.response.prevKv) : undefined).toBe('b=B@c4/m4/v1');
    expect((await sm.range({ key: b('b'), revision: 6 })).kvs.map(kvText)).toEqual(['b=B@c4/m4/v1']);
  });

  it('refuses history records in a format-1 file and kv records out of order', async () => {
    const sm = await MemoryStateMachine.create({ snapshotDir: path.join(dir, 'snaps') });
    machines.push(sm);
    const mixed = path.join(dir, 'mixed.snap');
    await fs.writeFile(mixed, formatOneFile([{ type: 'version', version: { key: b('a'), revision: 6, kv: null } }]));
    await expect(sm.restore(mixed)).rejects.toThrow(/a version record in a format 1 file/);
    const unordered = path.join(dir, 'unordered.snap');
    await fs.writeFile(unordered, formatOneFile([{ type: 'kv', kv: KVS[1] as KeyValue }, { type: 'kv', kv: KVS[0] as KeyValue }]));
    await expect(sm.restore(unordered)).rejects.toBeInstanceOf(SnapshotCorruptError);
    expect(sm.appliedIndex()).toBe(0);
  });
});
