import fc from 'fast-check';
import { ConfChangeDecodeError, decodeConfChangeEntry, encodeConfChangeEntry } from './conf-change-codec';
import { ConfChangeType, nodeId } from './types';
import type { ConfChangeEntry } from './types';

const arbId = fc.bigInt({ min: 1n, max: 0xffff_ffff_ffff_ffffn }).map(nodeId);
const arbEntry: fc.Arbitrary<ConfChangeEntry> = fc.record({
  change: fc.record({
    type: fc.constantFrom(ConfChangeType.AddVoter, ConfChangeType.AddLearner, ConfChangeType.PromoteLearner, ConfChangeType.RemoveMember),
    nodeId: arbId,
    context: fc.uint8Array({ maxLength: 64 }),
  }),
  config: fc.record({ voters: fc.array(arbId, { maxLength: 7 }), learners: fc.array(arbId, { maxLength: 3 }) }),
});

describe('conf change entry codec', () => {
  it('round-trips every entry exactly', () => {
    fc.assert(
      fc.property(arbEntry, (entry) => {
        expect(decodeConfChangeEntry(encodeConfChangeEntry(entry))).toEqual(entry);
      }),
    );
  });

  it('rejects every truncation with a named error', () => {
    fc.assert(
      fc.property(arbEntry, fc.nat(), (entry, cut) => {
        const bytes = encodeConfChangeEntry(entry);
        const short = bytes.slice(0, cut % bytes.byteLength);
        expect(() => decodeConfChangeEntry(short)).toThrow(ConfChangeDecodeError);
      }),
    );
  });

  it('rejects trailing bytes and unknown versions', () => {
    const entry: ConfChangeEntry = {
      change: { type: ConfChangeType.AddVoter, nodeId: nodeId(1), context: new Uint8Array() },
      config: { voters: [nodeId(1)], learners: [] },
    };
    const bytes = encodeConfChangeEntry(entry);
    expect(() => decodeConfChangeEntry(new Uint8Array([...bytes, 0]))).toThrow(/trailing/);
    const badVersion = bytes.slice();
    badVersion[0] = 9;
    expect(() => decodeConfChangeEntry(badVersion)).toThrow(/version 9/);
    const badType = bytes.slice();
    badType[1] = 7;
    expect(() => decodeConfChangeEntry(badType)).toThrow(/change type 7/);
  });
});
