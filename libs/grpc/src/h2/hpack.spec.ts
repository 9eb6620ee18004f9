import fc from 'fast-check';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack';
import { huffmanDecode, huffmanEncode } from './hpack-huffman';
import { STATIC_NAMES, STATIC_TABLE_LENGTH, STATIC_VALUES } from './hpack-static-table';

type Field = readonly [string, string];

/** Bytes from the RFC's hex dumps, which group digits in fours. */
function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

function pairs(flat: readonly string[]): Field[] {
  const out: Field[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    out.push([flat[i]!, flat[i + 1]!]);
  }
  return out;
}

function flat(fields: readonly Field[]): string[] {
  return fields.flatMap(([name, value]) => [name, value]);
}

/**
 * Checks a decoder's dynamic table after `history` by replaying it into fresh decoders: one
 * decodes an indexed reference to every expected entry (newest first), another one index past
 * the last, which must fail. The table itself is private, and a failed decode poisons a decoder.
 */
function expectTable(history: readonly string[], expected: readonly Field[], maxTableBytes = 4096): void {
  const replay = (): HpackDecoder => {
    const decoder = new HpackDecoder(maxTableBytes);
    history.forEach((block) => decoder.decode(hex(block)));
    return decoder;
  };
  const probe = Buffer.from(expected.map((_, i) => 0x80 | (STATIC_TABLE_LENGTH + 1 + i)));
  expect(pairs(replay().decode(probe))).toEqual(expected);
  const past = Buffer.from([0x80 | (STATIC_TABLE_LENGTH + 1 + expected.length)]);
  expect(() => replay().decode(past)).toThrow(HpackError);
}

/** An HPACK integer (RFC 7541 §5.1): `flags` in the bits above a prefix of `prefixBits`. */
function int(flags: number, prefixBits: number, value: number): number[] {
  const max = 2 ** prefixBits - 1;
  if (value < max) return [flags | value];
  const out = [flags | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** A string literal (§5.2), Huffman-coded or raw. */
function str(text: string, huffman: boolean): number[] {
  const bytes = huffman ? huffmanEncode(text) : Buffer.from(text, 'latin1');
  return [...int(huffman ? 0x80 : 0, 7, bytes.length), ...bytes];
}

const REQUEST_1 = '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d';
const REQUEST_2 = '8286 84be 5808 6e6f 2d63 6163 6865';
const REQUEST_3 = '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65';
const HUFFMAN_REQUEST_1 = '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff';
const HUFFMAN_REQUEST_2 = '8286 84be 5886 a8eb 1064 9cbf';
const HUFFMAN_REQUEST_3 = '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf';
const RESPONSE_1 = `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
  2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`;
const RESPONSE_2 = '4803 3330 37c1 c0bf';
const RESPONSE_3 = `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
  54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851
  5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`;
const HUFFMAN_RESPONSE_1 = `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
  2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`;
const HUFFMAN_RESPONSE_2 = '4883 640e ffc1 c0bf';
const HUFFMAN_RESPONSE_3 = `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
  77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160
  65c0 03ed 4ee5 b106 3d50 07`;

const REQUESTS: readonly (readonly Field[])[] = [
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
  [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
];
const REQUEST_TABLES: readonly (readonly Field[])[] = [
  [[':authority', 'www.example.com']],
  [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
  [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
];
const DATE_1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE_2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOCATION = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSES: readonly (readonly Field[])[] = [
  [[':status', '302'], ['cache-control', 'private'], ['date', DATE_1], ['location', LOCATION]],
  [[':status', '307'], ['cache-control', 'private'], ['date', DATE_1], ['location', LOCATION]],
  [[':status', '200'], ['cache-control', 'private'], ['date', DATE_2], ['location', LOCATION], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]],
];
const RESPONSE_TABLES: readonly (readonly Field[])[] = [
  [['location', LOCATION], ['date', DATE_1], ['cache-control', 'private'], [':status', '302']],
  [[':status', '307'], ['location', LOCATION], ['date', DATE_1], ['cache-control', 'private']],
  [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE_2]],
];

describe('HpackDecoder: RFC 7541 Appendix C examples', () => {
  it('C.2.1 literal with indexing adds the field to the dynamic table', () => {
    const block = '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572';
    expect(new HpackDecoder().decode(hex(block))).toEqual(['custom-key', 'custom-header']);
    expectTable([block], [['custom-key', 'custom-header']]);
  });

  it('C.2.2 literal without indexing leaves the table empty', () => {
    const block = '040c 2f73 616d 706c 652f 7061 7468';
    expect(new HpackDecoder().decode(hex(block))).toEqual([':path', '/sample/path']);
    expectTable([block], []);
  });

  it('C.2.3 literal never indexed leaves the table empty', () => {
    const block = '1008 7061 7373 776f 7264 0673 6563 7265 74';
    expect(new HpackDecoder().decode(hex(block))).toEqual(['password', 'secret']);
    expectTable([block], []);
  });

  it('C.2.4 indexed field from the static table', () => {
    expect(new HpackDecoder().decode(hex('82'))).toEqual([':method', 'GET']);
    expectTable(['82'], []);
  });

  it.each([
    ['C.3 (raw literals)', [REQUEST_1, REQUEST_2, REQUEST_3]],
    ['C.4 (Huffman literals)', [HUFFMAN_REQUEST_1, HUFFMAN_REQUEST_2, HUFFMAN_REQUEST_3]],
  ])('%s: three requests on one connection', (_, blocks) => {
    const decoder = new HpackDecoder();
    blocks.forEach((block, i) => {
      expect(pairs(decoder.decode(hex(block)))).toEqual(REQUESTS[i]);
      expect(decoder.lastBlockTooLarge).toBe(false);
      expectTable(blocks.slice(0, i + 1), REQUEST_TABLES[i]!);
    });
  });

  it.each([
    ['C.5 (raw literals)', [RESPONSE_1, RESPONSE_2, RESPONSE_3]],
    ['C.6 (Huffman literals)', [HUFFMAN_RESPONSE_1, HUFFMAN_RESPONSE_2, HUFFMAN_RESPONSE_3]],
  ])('%s: three responses with eviction from a 256-byte table', (_, blocks) => {
    // The examples assume a 256-byte table from the start, with no size update on the wire.
    const decoder = new HpackDecoder(256);
    blocks.forEach((block, i) => {
      expect(pairs(decoder.decode(hex(block)))).toEqual(RESPONSES[i]);
      expectTable(blocks.slice(0, i + 1), RESPONSE_TABLES[i]!, 256);
    });
  });

  it('returns the same string objects for repeated indexed fields', () => {
    const decoder = new HpackDecoder();
    const first = decoder.decode(hex(REQUEST_1));
    const second = decoder.decode(hex(REQUEST_2));
    expect(Object.is(first[7], second[7])).toBe(true);
    expect(Object.is(first[1], STATIC_VALUES[2])).toBe(true);
  });

  it('accepts a plain Uint8Array that is a view into a larger buffer', () => {
    const bytes = hex('ffff' + REQUEST_1 + 'ffff');
    const view = new Uint8Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length), 2, bytes.length - 4);
    expect(pairs(new HpackDecoder().decode(view))).toEqual(REQUESTS[0]);
  });
});

describe('HpackEncoder: RFC 7541 Appendix C examples', () => {
  it('C.3: produces the RFC bytes for the three requests (its strategy matches the example)', () => {
    const encoder = new HpackEncoder();
    [REQUEST_1, REQUEST_2, REQUEST_3].forEach((block, i) => {
      expect(encoder.encode(flat(REQUESTS[i]!)).toString('hex')).toBe(hex(block).toString('hex'));
    });
  });

  it('C.5: produces the RFC bytes for the responses, after one size update to 256 bytes', () => {
    const encoder = new HpackEncoder(256);
    const sizeUpdate256 = '3fe101';
    [RESPONSE_1, RESPONSE_2, RESPONSE_3].forEach((block, i) => {
      const expected = (i === 0 ? sizeUpdate256 : '') + hex(block).toString('hex');
      expect(encoder.encode(flat(RESPONSES[i]!)).toString('hex')).toBe(expected);
    });
  });
});

describe('HpackDecoder: malformed blocks throw HpackError', () => {
  const cases: [string, number[]][] = [
    ['indexed field with index 0', [0x80]],
    ['indexed field past the empty dynamic table', [0x80 | 62]],
    ['indexed field far past the tables', int(0x80, 7, 5000)],
    ['literal name index past the tables', [0x40 | 62, 0x01, 0x61]],
    ['never-indexed name index past the tables', [...int(0x10, 4, 62), 0x01, 0x61]],
    ['integer above 2^31-1', int(0x80, 7, 2 ** 31)],
    ['integer with a sixth continuation byte', [0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]],
    ['integer cut after its prefix', [0xff]],
    ['integer cut in its continuation bytes', [0xff, 0x80]],
    ['literal with a new name and no name string', [0x40]],
    ['literal with no value string', [0x04]],
    ['string longer than the block', [0x04, 0x05, 0x61, 0x62]],
    ['string length of 2^31-1 (accepted integer, truncated string)', [0x04, ...int(0, 7, 2 ** 31 - 1)]],
    ['Huffman string cut short', [0x04, 0x83, 0x1f]],
    ['Huffman padding of 8 one bits', [0x04, 0x81, 0xff]],
    ['Huffman padding of 11 one bits', [0x04, 0x82, 0x1f, 0xff]],
    ['Huffman padding that is not all ones', [0x04, 0x81, 0x18]],
    ['Huffman padding ending in a zero', [0x04, 0x81, 0x1e]],
    ['Huffman EOS symbol (30 ones) inside a string', [0x04, 0x84, 0xff, 0xff, 0xff, 0xff]],
    ['Huffman EOS symbol followed by a valid symbol', [0x04, 0x85, 0xff, 0xff, 0xff, 0xfc, 0x7f]],
    ['table size update above our limit', int(0x20, 5, 4097)],
    ['table size update after a field', [0x82, 0x20]],
    ['table size update between fields', [0x82, ...int(0x20, 5, 100), 0x82]],
  ];

  it.each(cases)('%s', (_, bytes) => {
    expect(() => new HpackDecoder().decode(Buffer.from(bytes))).toThrow(HpackError);
  });

  it('rejects a size update above a smaller configured limit, and accepts one at it', () => {
    expect(() => new HpackDecoder(100).decode(Buffer.from(int(0x20, 5, 101)))).toThrow(HpackError);
    expect(new HpackDecoder(100).decode(Buffer.from([...int(0x20, 5, 100), 0x82]))).toEqual([':method', 'GET']);
  });

  it('accepts two size updates at the start of a block (RFC 7541 §4.2)', () => {
    const decoder = new HpackDecoder();
    decoder.decode(hex(REQUEST_1));
    // Shrinking to 0 empties the table; growing back leaves it empty.
    const block = Buffer.from([0x20, ...int(0x20, 5, 4096)]);
    expect(decoder.decode(block)).toEqual([]);
    expect(() => decoder.decode(Buffer.from([0x80 | 62]))).toThrow(HpackError);
  });

  it('stays failed after an error: its table may be out of step with the peer', () => {
    const decoder = new HpackDecoder();
    expect(() => decoder.decode(Buffer.from([0x80]))).toThrow(HpackError);
    expect(() => decoder.decode(Buffer.from([0x82]))).toThrow(HpackError);
  });

  it('decodes an integer of exactly 2^31-1 (then fails on the index, not the integer)', () => {
    expect(() => new HpackDecoder().decode(Buffer.from(int(0x80, 7, 2 ** 31 - 1)))).toThrow(/beyond the dynamic table/);
  });
});

describe('HpackDecoder: table and list limits', () => {
  it('evicts the whole table for an entry larger than the table (RFC 7541 §4.4)', () => {
    const small = [...int(0x20, 5, 60), 0x40, ...str('a', false), ...str('b', false)];
    const large = [0x40, ...str('c', false), ...str('x'.repeat(40), false)];
    const decoder = new HpackDecoder();
    expect(decoder.decode(Buffer.from(small))).toEqual(['a', 'b']);
    expect(decoder.decode(Buffer.from([0x80 | 62]))).toEqual(['a', 'b']);
    expect(decoder.decode(Buffer.from(large))).toEqual(['c', 'x'.repeat(40)]);
    expect(() => decoder.decode(Buffer.from([0x80 | 62]))).toThrow(HpackError);
  });

  it('decodes a too-large header list whole, flags it, and keeps the table in step', () => {
    const decoder = new HpackDecoder(4096, 100);
    const block = [0x40, ...str('a', false), ...str('1'.repeat(40), false), 0x40, ...str('b', false), ...str('2'.repeat(40), false)];
    expect(decoder.decode(Buffer.from(block))).toEqual([]);
    expect(decoder.lastBlockTooLarge).toBe(true);
    // Both literals were indexed even though the list was over the limit.
    expect(decoder.decode(Buffer.from([0x80 | 62]))).toEqual(['b', '2'.repeat(40)]);
    expect(decoder.lastBlockTooLarge).toBe(false);
    expect(decoder.decode(Buffer.from([0x80 | 63]))).toEqual(['a', '1'.repeat(40)]);
  });

  it('counts 32 bytes per field against the header list limit (RFC 9113 §6.5.2)', () => {
    // ':method' + 'GET' + 32 = 42 bytes.
    expect(new HpackDecoder(4096, 42).decode(Buffer.from([0x82]))).toEqual([':method', 'GET']);
    const decoder = new HpackDecoder(4096, 41);
    expect(decoder.decode(Buffer.from([0x82]))).toEqual([]);
    expect(decoder.lastBlockTooLarge).toBe(true);
  });
});

describe('HpackEncoder', () => {
  const decodeWith = (decoder: HpackDecoder, block: Buffer): Field[] => pairs(decoder.decode(block));

  it('indexes static matches, then repeated small fields, in one byte each', () => {
    const encoder = new HpackEncoder();
    const fields = [':method', 'POST', 'content-type', 'application/grpc', 'te', 'trailers'];
    expect(encoder.encode(fields)[0]).toBe(0x83);
    expect(encoder.encode(fields).toString('hex')).toBe('83bfbe');
  });

  it('sends large fields as literals without indexing, naming them by static index', () => {
    const encoder = new HpackEncoder();
    const value = 'v'.repeat(300);
    const block = encoder.encode(['user-agent', value]);
    expect(block.subarray(0, 2).toString('hex')).toBe('0f2b'); // 4-bit prefix: 15 + 43 = 58
    expect(encoder.encode(['user-agent', value])).toEqual(block);
  });

  it('sends sensitive fields as literals never indexed, every time', () => {
    const encoder = new HpackEncoder();
    const sensitive = new Set(['authorization', 'x-token']);
    const fields = ['authorization', 'Bearer abc', 'x-token', 'secret', ':method', 'GET'];
    const first = encoder.encode(fields, sensitive);
    expect(first[0]).toBe(0x10 | 0x0f);
    expect(encoder.encode(fields, sensitive)).toEqual(first);
    expect(decodeWith(new HpackDecoder(), first)).toEqual(pairs(fields));
  });

  it('keeps fields apart that a name + NUL + value key would confuse', () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    const blocks = [['a\0b', 'c'], ['a', 'b\0c'], ['a\0b', 'c', 'a', 'b\0c']];
    for (const fields of blocks) {
      expect(decoder.decode(encoder.encode(fields))).toEqual(fields);
    }
  });

  it('signals the peer table size: none at the default or above, one to shrink, two for 0 and back', () => {
    expect(new HpackEncoder(65536).encode([':method', 'GET']).toString('hex')).toBe('82');
    expect(new HpackEncoder(100).encode([':method', 'GET']).toString('hex')).toBe('3f4582');
    const encoder = new HpackEncoder();
    encoder.setMaxTableBytes(4096);
    expect(encoder.encode([':method', 'GET']).toString('hex')).toBe('82');
    encoder.setMaxTableBytes(0);
    encoder.setMaxTableBytes(4096);
    expect(encoder.encode([':method', 'GET']).toString('hex')).toBe('203fe11f82');
    encoder.setMaxTableBytes(0);
    expect(encoder.encode(['x', 'y']).toString('hex')).toBe('20' + '0001780179');
    expect(encoder.encode(['x', 'y']).toString('hex')).toBe('0001780179');
  });

  it('round-trips fields far larger than its buffers, raw and Huffman-coded', () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder(4096, Number.MAX_SAFE_INTEGER);
    const big = Array.from({ length: 100_000 }, (_, i) => String.fromCharCode((i * 7) % 256)).join('');
    const fields = ['x-big', big, 'content-type', 'application/grpc', 'x-big-2', big.slice(1)];
    for (let i = 0; i < 3; i++) {
      expect(decoder.decode(encoder.encode(fields))).toEqual(fields);
    }
    const huffman = Buffer.from([0x00, ...str('x-huff', true), ...str(big, true)]);
    expect(decoder.decode(huffman)).toEqual(['x-huff', big]);
  });

  it('grows its table past its first ring capacity and keeps the order (both ends)', () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    const fields = Array.from({ length: 100 }, (_, i) => [`k${i}`, `v${i}`]).flat();
    expect(decoder.decode(encoder.encode(fields))).toEqual(fields);
    const again = encoder.encode(fields);
    // All 100 fields are now indexed: 62..126 in one byte, 127 and up in two.
    expect(again.length).toBe(65 + 2 * 35);
    // The oldest field, k0, is index 61 + 100 = 161: the 7-bit prefix full, then 161 - 127.
    expect([...again.subarray(0, 2)]).toEqual([0xff, 161 - 127]);
    expect(decoder.decode(again)).toEqual(fields);
    expect(encoderIndexSize(encoder)).toBe(100);
  });

  it('rejects an odd-length field list and bad table sizes', () => {
    expect(() => new HpackEncoder().encode(['a'])).toThrow(RangeError);
    expect(() => new HpackEncoder(-1)).toThrow(RangeError);
    expect(() => new HpackEncoder().setMaxTableBytes(1.5)).toThrow(RangeError);
  });
});

/**
 * Entries in the encoder's private name → value → insertion maps, which must shrink as the
 * table evicts (else they leak), with no empty inner map left behind. Read through a cast
 * because only this invariant check needs it.
 */
function encoderIndexSize(encoder: HpackEncoder): number {
  const index = (encoder as unknown as { table: { index: Map<string, Map<string, number>> } }).table.index;
  let entries = 0;
  for (const values of index.values()) {
    expect(values.size).toBeGreaterThan(0);
    entries += values.size;
  }
  return entries;
}

/** Entries in the encoder's dynamic table, read the same way. */
function encoderTableCount(encoder: HpackEncoder): number {
  return (encoder as unknown as { table: { count: number } }).table.count;
}

/** Latin1 strings over all 256 byte values. */
const latin1Char = fc.integer({ min: 0, max: 255 }).map((code) => String.fromCharCode(code));
const latin1 = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: latin1Char, maxLength });
const lowerName = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_.'), minLength: 1, maxLength: 20 });
const fieldName = fc.oneof(
  fc.constantFrom(...STATIC_NAMES.slice(1), 'grpc-status', 'grpc-message', 'grpc-timeout', 'te', 'x-request-id'),
  lowerName,
);
const fieldValue = fc.oneof(
  { weight: 3, arbitrary: latin1(40) },
  { weight: 1, arbitrary: fc.constantFrom(...STATIC_VALUES) },
  { weight: 1, arbitrary: latin1(600) },
);
const field: fc.Arbitrary<Field> = fc.tuple(fieldName, fieldValue);
/** A connection's worth of work: header lists, with peer settings changes in between. */
const step = fc.oneof(
  { weight: 6, arbitrary: fc.array(field, { maxLength: 12 }).map((fields) => ({ fields })) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 31, 32, 64, 256, 1000, 4096, 65536).map((tableBytes) => ({ tableBytes })) },
);

describe('HPACK properties', () => {
  it('encoder → decoder round-trips every header list across many blocks and size changes', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 30 }), fc.array(field, { maxLength: 8 }), (steps, pool) => {
        const encoder = new HpackEncoder();
        const decoder = new HpackDecoder(4096, Number.MAX_SAFE_INTEGER);
        for (const s of steps) {
          if ('tableBytes' in s) {
            encoder.setMaxTableBytes(s.tableBytes);
            continue;
          }
          // Mix in fields from a small pool so that blocks repeat fields, as real traffic does.
          const fields = [...s.fields, ...pool.slice(0, s.fields.length % 5), ...pool.slice(0, 2)];
          const sensitive = new Set(pool.slice(0, 1).map(([name]) => name));
          expect(pairs(decoder.decode(encoder.encode(flat(fields), sensitive)))).toEqual(fields);
          expect(decoder.lastBlockTooLarge).toBe(false);
          expect(encoderIndexSize(encoder)).toBe(encoderTableCount(encoder));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('Huffman: decode(encode(x)) is x for any latin1 string', () => {
    fc.assert(
      fc.property(latin1(300), (text) => {
        const bytes = huffmanEncode(text);
        expect(huffmanDecode(bytes, 0, bytes.length)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('Huffman: any byte string either fails or is the one encoding of what it decodes to', () => {
    // Padding must be ≤ 7 one bits, so a valid input is exactly the encoder's output. Inputs are
    // random bytes, and valid encodings with one byte changed or cut off.
    const damaged = fc
      .tuple(latin1(30), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean())
      .map(([text, at, byte, cut]) => {
        const bytes = huffmanEncode(text);
        if (bytes.length === 0) return bytes;
        return cut ? bytes.subarray(0, at % bytes.length) : Buffer.from(bytes).fill(byte, at % bytes.length, (at % bytes.length) + 1);
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 40 }), damaged), (bytes) => {
        const text = huffmanDecode(bytes, 0, bytes.length);
        if (text !== undefined) {
          expect(huffmanEncode(text).equals(Buffer.from(bytes))).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('decoder matches a simple table model on blocks of every representation, Huffman or raw', () => {
    fc.assert(fc.property(fc.array(fc.array(representation, { maxLength: 16 }), { maxLength: 16 }), checkAgainstModel), { numRuns: 300 });
  });
});

/** One field representation to put on the wire, as the test's own encoder chooses it. */
type Representation =
  | { kind: 'indexed'; pick: number }
  | { kind: 'incremental' | 'without' | 'never'; name: string; value: string; nameHuffman: boolean; valueHuffman: boolean; nameByIndex: number | undefined }
  | { kind: 'size'; tableBytes: number };

const representation: fc.Arbitrary<Representation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('indexed' as const), pick: fc.nat() }) },
  {
    weight: 6,
    arbitrary: fc.record({
    kind: fc.constantFrom('incremental' as const, 'without' as const, 'never' as const),
    name: fieldName,
    value: fieldValue,
    nameHuffman: fc.boolean(),
    valueHuffman: fc.boolean(),
      nameByIndex: fc.option(fc.nat(), { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('size' as const), tableBytes: fc.constantFrom(0, 40, 100, 300, 4096) }) },
);

/**
 * Writes blocks with a slow, obvious encoder and model table (an array, newest first, evicted
 * from the end), and checks that the decoder returns the fields the model says were sent.
 */
function checkAgainstModel(blocks: Representation[][]): void {
  const decoder = new HpackDecoder();
  let model: Field[] = [];
  let maxBytes = 4096;
  const size = ([name, value]: Field): number => name.length + value.length + 32;
  const evict = (limit: number): void => {
    while (model.reduce((sum, entry) => sum + size(entry), 0) > limit) model.pop();
  };
  const entry = (index: number): Field =>
    index <= STATIC_TABLE_LENGTH ? [STATIC_NAMES[index]!, STATIC_VALUES[index]!] : model[index - STATIC_TABLE_LENGTH - 1]!;
  for (const reps of blocks) {
    const bytes: number[] = [];
    const expected: Field[] = [];
    // Size updates are only legal first, so they are moved to the front of the block.
    const ordered = [...reps.filter((r) => r.kind === 'size'), ...reps.filter((r) => r.kind !== 'size')];
    for (const rep of ordered) {
      if (rep.kind === 'size') {
        bytes.push(...int(0x20, 5, rep.tableBytes));
        maxBytes = rep.tableBytes;
        evict(maxBytes);
      } else if (rep.kind === 'indexed') {
        const index = 1 + (rep.pick % (STATIC_TABLE_LENGTH + model.length));
        bytes.push(...int(0x80, 7, index));
        expected.push(entry(index));
      } else {
        const [flags, prefixBits] = rep.kind === 'incremental' ? [0x40, 6] : rep.kind === 'without' ? [0x00, 4] : [0x10, 4];
        const nameIndex = rep.nameByIndex === undefined ? 0 : 1 + (rep.nameByIndex % (STATIC_TABLE_LENGTH + model.length));
        const name = nameIndex === 0 ? rep.name : entry(nameIndex)[0];
        bytes.push(...int(flags, prefixBits, nameIndex));
        if (nameIndex === 0) bytes.push(...str(name, rep.nameHuffman));
        bytes.push(...str(rep.value, rep.valueHuffman));
        expected.push([name, rep.value]);
        if (rep.kind === 'incremental') {
          evict(Math.max(0, maxBytes - size([name, rep.value])));
          if (size([name, rep.value]) <= maxBytes) model = [[name, rep.value], ...model];
        }
      }
    }
    expect(pairs(decoder.decode(Buffer.from(bytes)))).toEqual(expected);
  }
}
