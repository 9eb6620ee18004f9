import fc from 'fast-check';
import { EntryType, logIndex, nodeId, term } from '@keyval/raft';
import { entry, hardState, snapshotMeta } from '../testing/log-fixtures';
import {
  FrameWriter,
  RecordType,
  SnapshotMarkerKind,
  checkFrame,
  decodeEntry,
  decodeHardState,
  decodeSnapshotMarker,
  entryRecordBytes,
} from './record-codec';
import { findValidFrame } from './segment-scan';
import { decodeSegmentHeader, encodeSegmentHeader, parseSegmentFileName, segmentFileName } from './segment-format';

describe('WAL record codec', () => {
  it('round-trips entries, hard states and snapshot markers through one batch buffer', () => {
    const writer = new FrameWriter(16);
    const big = entry(2 ** 40, 2 ** 33, new Uint8Array([1, 2, 3]));
    const conf = { ...entry(7, 3), type: EntryType.ConfChange };
    const hs = hardState(9, 0, 1234);
    const vote = { ...hs, vote: nodeId(0xffff_ffff_ffff_ffffn) };
    const meta = snapshotMeta(50, 4, { voters: [nodeId(1), nodeId(2)], learners: [nodeId(3)] });
    const offsets = [
      writer.writeEntry(big),
      writer.writeEntry(conf),
      writer.writeHardState(vote),
      writer.writeSnapshot({ kind: SnapshotMarkerKind.Compacted, keepSuffix: true, meta }),
    ];
    const bytes = Buffer.from(writer.view());
    const frames = offsets.map((offset) => checkFrame(bytes, offset, bytes.byteLength));
    expect(frames.map((frame) => frame.ok && frame.type)).toEqual([RecordType.Entry, RecordType.Entry, RecordType.HardState, RecordType.Snapshot]);
    expect(offsets[1]).toBe(entryRecordBytes(big));
    const payload = (k: number) => {
      const frame = frames[k];
      return frame?.ok === true ? frame.payloadBytes : -1;
    };
    expect(decodeEntry(bytes, offsets[0] as number, payload(0))).toEqual({ index: logIndex(2 ** 40), term: term(2 ** 33), type: EntryType.Normal, data: new Uint8Array([1, 2, 3]) });
    expect(decodeEntry(bytes, offsets[1] as number, payload(1)).type).toBe(EntryType.ConfChange);
    expect(decodeHardState(bytes, offsets[2] as number)).toEqual(vote);
    expect(decodeSnapshotMarker(bytes, offsets[3] as number, payload(3))).toEqual({ kind: SnapshotMarkerKind.Compacted, keepSuffix: true, meta });
  });

  it('detects every single-byte change of a record (crc32c over header and payload)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (data, at, mask) => {
        const writer = new FrameWriter(64);
        writer.writeEntry(entry(5, 2, data));
        const bytes = Buffer.from(writer.view());
        expect(checkFrame(bytes, 0, bytes.byteLength).ok).toBe(true);
        const position = at % bytes.byteLength;
        bytes[position] = (bytes[position] as number) ^ mask;
        expect(checkFrame(bytes, 0, bytes.byteLength).ok).toBe(false);
      }),
    );
  });

  it('rejects a zeroed region, and a record cut short, and finds the next valid frame', () => {
    const zeros = Buffer.alloc(100);
    expect(checkFrame(zeros, 0, 100)).toMatchObject({ ok: false });
    const writer = new FrameWriter(64);
    writer.writeEntry(entry(1, 1));
    const second = writer.writeEntry(entry(2, 1));
    const bytes = Buffer.concat([Buffer.alloc(7), Buffer.from(writer.view())]);
    expect(checkFrame(bytes, 7 + second, bytes.byteLength - 1)).toMatchObject({ ok: false, reason: expect.stringContaining('cut short') });
    expect(findValidFrame(bytes, 0, bytes.byteLength)).toBe(7);
    expect(findValidFrame(bytes, 8, bytes.byteLength)).toBe(7 + second);
    expect(findValidFrame(zeros, 0, 100)).toBe(-1);
  });

  it('encodes segment headers and names, and refuses damaged headers', () => {
    const id = { seq: 3, firstIndex: 0x1_0000_0001 };
    expect(segmentFileName(id)).toBe('0000000000000003-0000000100000001.wal');
    expect(parseSegmentFileName(segmentFileName(id))).toEqual(id);
    expect(parseSegmentFileName('0000000000000003-0000000100000001.wal.tmp')).toBeUndefined();
    const header = encodeSegmentHeader(id);
    expect(decodeSegmentHeader(header)).toEqual(id);
    for (let k = 0; k < header.byteLength; k++) {
      const damaged = Buffer.from(header);
      damaged[k] = (damaged[k] as number) ^ 1;
      expect(typeof decodeSegmentHeader(damaged)).toBe('string');
    }
  });
});
