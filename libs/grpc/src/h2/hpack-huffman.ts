/**
 * The HPACK Huffman code (RFC 7541 §5.2, Appendix B). The code is canonical, so the 257 code
 * lengths below determine every code: symbols sorted by (length, symbol) take consecutive
 * codes, and the code steps left by one bit each time the length grows. The tables are built
 * once at module load.
 *
 * Decoding is a 4-bit state machine: a state is an internal node of the code tree (the root is
 * state 0, and a full tree with 257 leaves has exactly 256 internal nodes), and one table
 * lookup consumes a nibble. No code is shorter than 5 bits, so a nibble completes at most one
 * symbol, and each byte costs two lookups whatever its codes.
 *
 *     state ──nibble──► TRANSITIONS[state * 16 + nibble] = next state | emitted symbol | flags
 */

/** Code length in bits of each symbol 0..255 and EOS (256), transcribed from RFC 7541 Appendix B. */
// prettier-ignore
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

/** The end-of-string symbol: it must never appear inside a string (RFC 7541 §5.2). */
const EOS = 256;
/** Padding may be at most this many bits, all ones (the top bits of EOS) (RFC 7541 §5.2). */
const PADDING_BITS_MAX = 7;
/** A transition emits the symbol held in bits 8..15. */
const EMIT = 1 << 16;
/** A transition decodes EOS: the string is malformed. */
const FAIL = 1 << 17;

/** Code of each symbol, right-aligned in CODE_LENGTHS[symbol] bits. */
const CODES: Uint32Array = buildCanonicalCodes();
/** Number of internal nodes of the code tree, and so of decoder states. */
const STATE_COUNT = 256;
const tree = buildTree();
/** TRANSITIONS[state * 16 + nibble]: next state in bits 0..7, symbol in 8..15, EMIT, FAIL. */
const TRANSITIONS: Uint32Array = buildTransitions();
/** ACCEPTS[state] is 1 where a string may end: the bits since the last symbol are ≤ 7 ones. */
const ACCEPTS: Uint8Array = buildAccepts();

/** Node's native latin1 decoder, which `buf.toString('latin1', ...)` reaches after argument checks. */
interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}
/** It is undocumented (though present in every Node release), so its absence falls back to toString. */
const HAS_LATIN1_SLICE = typeof (Buffer.prototype as unknown as Partial<Latin1Slicer>).latin1Slice === 'function';

/**
 * The bytes `buf[start, end)` as a latin1 string (one char per byte). Calls the native slice
 * directly, which saves about 20 ns a string over toString on Node 20; the caller has checked
 * the bounds.
 */
export function latin1Slice(buf: Buffer, start: number, end: number): string {
  return HAS_LATIN1_SLICE ? (buf as unknown as Latin1Slicer).latin1Slice(start, end) : buf.toString('latin1', start, end);
}

/** Output scratch space for decoding, grown on demand; decoding is synchronous, so one suffices. */
let scratch: Buffer = Buffer.allocUnsafe(1024);
/** Scratch space beyond this size is dropped after use rather than kept. */
const SCRATCH_KEEP_BYTES = 64 * 1024;

/**
 * Decodes the Huffman-coded bytes `src[start, end)` into a latin1 string (one char per byte).
 * Returns undefined when the input is malformed: it contains EOS, or its padding is longer than
 * 7 bits or not all ones (RFC 7541 §5.2). The caller turns that into its own error.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string | undefined {
  // Every symbol takes at least 5 bits, which bounds the output length.
  const outMax = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < outMax) {
    scratch = Buffer.allocUnsafe(Math.max(outMax, scratch.length * 2));
  }
  const out = scratch;
  let length = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i] as number;
    let step = TRANSITIONS[(state << 4) | (byte >> 4)] as number;
    if ((step & (EMIT | FAIL)) !== 0) {
      if ((step & FAIL) !== 0) return undefined;
      out[length++] = (step >> 8) & 0xff;
    }
    step = TRANSITIONS[((step & 0xff) << 4) | (byte & 0x0f)] as number;
    if ((step & (EMIT | FAIL)) !== 0) {
      if ((step & FAIL) !== 0) return undefined;
      out[length++] = (step >> 8) & 0xff;
    }
    state = step & 0xff;
  }
  if (scratch.length > SCRATCH_KEEP_BYTES) {
    // One huge string should not pin its buffer for the life of the process.
    scratch = Buffer.allocUnsafe(1024);
  }
  if (ACCEPTS[state] !== 1) return undefined;
  return latin1Slice(out, 0, length);
}

/** Number of bytes huffmanEncode(text) produces. */
export function huffmanEncodedLength(text: string): number {
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    bits += CODE_LENGTHS[text.charCodeAt(i) & 0xff] as number;
  }
  return Math.ceil(bits / 8);
}

/**
 * Huffman-codes a latin1 string (chars above 0xff keep their low byte), padding the last byte
 * with the top bits of EOS (ones). The encoder does not use it on the hot path (plain literals
 * encode faster); it exists for tests and for callers that trade CPU for bytes.
 */
export function huffmanEncode(text: string): Buffer {
  const out = Buffer.allocUnsafe(huffmanEncodedLength(text));
  // Pending bits live in a double, not a 32-bit int: up to 7 pending bits plus a 30-bit code
  // need 37 bits, well within the 53 exact bits of a double. Invariant: acc < 2 ** bits.
  let acc = 0;
  let bits = 0;
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    const symbol = text.charCodeAt(i) & 0xff;
    const length = CODE_LENGTHS[symbol] as number;
    acc = acc * 2 ** length + (CODES[symbol] as number);
    bits += length;
    while (bits >= 8) {
      bits -= 8;
      const low = 2 ** bits;
      out[at++] = Math.floor(acc / low);
      acc %= low;
    }
  }
  if (bits > 0) {
    const pad = 8 - bits;
    out[at++] = acc * 2 ** pad + (2 ** pad - 1);
  }
  return out;
}

function buildCanonicalCodes(): Uint32Array {
  const symbols = CODE_LENGTHS.map((_, symbol) => symbol);
  symbols.sort((a, b) => (CODE_LENGTHS[a] as number) - (CODE_LENGTHS[b] as number) || a - b);
  const codes = new Uint32Array(CODE_LENGTHS.length);
  let code = 0;
  let previousLength = CODE_LENGTHS[symbols[0] as number] as number;
  for (const symbol of symbols) {
    const length = CODE_LENGTHS[symbol] as number;
    code *= 2 ** (length - previousLength);
    previousLength = length;
    codes[symbol] = code;
    code++;
  }
  // A complete prefix code ends exactly on the all-ones code of the longest length (EOS).
  if (code !== 2 ** previousLength || codes[EOS] !== 2 ** 30 - 1) {
    throw new Error('HPACK Huffman code lengths do not form a complete code');
  }
  return codes;
}

/**
 * The code tree as two child arrays indexed by internal node: a child ≥ 0 is another internal
 * node, a child < 0 is the leaf of symbol `-child - 1`.
 */
function buildTree(): { zero: Int32Array; one: Int32Array } {
  const zero = new Int32Array(STATE_COUNT).fill(0);
  const one = new Int32Array(STATE_COUNT).fill(0);
  let nodes = 1;
  for (let symbol = 0; symbol <= EOS; symbol++) {
    const length = CODE_LENGTHS[symbol] as number;
    const code = CODES[symbol] as number;
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const children = Math.floor(code / 2 ** bit) % 2 === 1 ? one : zero;
      if (bit === 0) {
        children[node] = -symbol - 1;
      } else {
        if (children[node] === 0) {
          // Node 0 is the root, never a child, so 0 marks an edge not yet built.
          if (nodes >= STATE_COUNT) throw new Error('HPACK Huffman tree has too many nodes');
          children[node] = nodes++;
        }
        node = children[node] as number;
      }
    }
  }
  if (nodes !== STATE_COUNT) throw new Error('HPACK Huffman tree is not full');
  return { zero, one };
}

function buildTransitions(): Uint32Array {
  const transitions = new Uint32Array(STATE_COUNT * 16);
  for (let state = 0; state < STATE_COUNT; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let step = 0;
      for (let bit = 3; bit >= 0; bit--) {
        const child = ((nibble >> bit) & 1) === 1 ? tree.one[node] : tree.zero[node];
        if ((child as number) >= 0) {
          node = child as number;
          continue;
        }
        const symbol = -(child as number) - 1;
        // EOS is 30 bits and any other code ≥ 5, so one nibble never holds two symbols.
        step |= symbol === EOS ? FAIL : EMIT | (symbol << 8);
        node = 0;
      }
      transitions[state * 16 + nibble] = step | node;
    }
  }
  return transitions;
}

function buildAccepts(): Uint8Array {
  const accepts = new Uint8Array(STATE_COUNT);
  // Padding is a prefix of EOS (all ones), so a string may end at the root or at any of the
  // first 7 nodes down the all-ones path.
  let node = 0;
  for (let depth = 0; depth <= PADDING_BITS_MAX; depth++) {
    accepts[node] = 1;
    node = tree.one[node] as number;
  }
  return accepts;
}
