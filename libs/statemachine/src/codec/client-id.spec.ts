import fc from 'fast-check';
import { MAX_CLIENT_ID_BYTES, clientKey, decodeClientId, encodeClientId } from './client-id';

describe('client ids', () => {
  it('clientKey is the latin1 of the canonical byte form, for ASCII, non-ASCII and uint64 ids', () => {
    const ids = ['a', 'loadgen-123-0', 'x'.repeat(MAX_CLIENT_ID_BYTES), 'é', 'ключ', '\u0000', 0n, 7n, 0xffff_ffff_ffff_ffffn];
    for (const id of ids) {
      expect(clientKey(id)).toBe(encodeClientId(id).toString('latin1'));
    }
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 80, unit: 'binary' }), (id) => {
        expect(clientKey(id)).toBe(encodeClientId(id).toString('latin1'));
      }),
      { seed: 7, numRuns: 500 },
    );
  });

  it('refuses the same ids in clientKey as in encodeClientId', () => {
    for (const bad of ['', 'x'.repeat(MAX_CLIENT_ID_BYTES + 1), -1n, 2n ** 64n]) {
      expect(() => clientKey(bad)).toThrow(RangeError);
    }
  });

  it('decodes what it encodes', () => {
    for (const id of ['a', 'ключ', 42n]) {
      expect(decodeClientId(encodeClientId(id))).toBe(id);
    }
  });
});
