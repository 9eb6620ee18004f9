/**
 * HPACK header compression (RFC 7541) for our HTTP/2 transport: a decoder for the header blocks
 * a peer sends and an encoder for ours. Each side keeps a dynamic table that must stay in step
 * with the other end's, so every block has to be decoded in order, and a malformed one ends the
 * connection (RFC 9113 §4.3). The tables themselves, and their eviction, are in
 * `./hpack-dynamic-table`.
 *
 *     block ─► [size updates]* ─► field representations ─► [name0, value0, name1, ...]
 *                                   │ indexed ─────────────── static / dynamic table
 *                                   │ literal, incremental ── inserts into dynamic table
 *                                   └ literal, not indexed ── table untouched
 *
 * Names and values are latin1 strings, one char per byte, so a string's length is its size in
 * bytes and the table arithmetic needs no encoding step.
 */
import { DynamicTable, ENTRY_OVERHEAD_BYTES, EncoderTable } from './hpack-dynamic-table';
import { huffmanDecode, latin1Slice } from './hpack-huffman';
import { STATIC_BY_NAME, STATIC_NAMES, STATIC_TABLE_LENGTH, STATIC_VALUES, StaticName } from './hpack-static-table';

/** A malformed header block: a connection error of type COMPRESSION_ERROR (RFC 9113 §4.3). */
export class HpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HpackError';
  }
}

/** The initial SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2), and so each table's first size. */
export const HPACK_DEFAULT_TABLE_BYTES = 4096;
/** The decoder's header list limit when none is given; callers pass what they advertise. */
export const HPACK_DEFAULT_HEADER_LIST_BYTES = 64 * 1024;
/** Largest integer the decoder accepts: lengths and indices beyond it can only be attacks. */
const INTEGER_MAX = 2 ** 31 - 1;
/** Continuation bytes step 7 bits; a shift past 28 cannot carry a value ≤ INTEGER_MAX. */
const INTEGER_SHIFT_MAX = 28;
/** The encoder never uses a larger table than this, whatever the peer allows. */
const ENCODER_TABLE_BYTES_MAX = 4096;
/** The encoder indexes only fields this small (size as in RFC 7541 §4.1), e.g. content-type. */
const ENCODER_INDEXED_ENTRY_BYTES_MAX = 256;
/** Bound on the bytes of one encoded integer: 1 prefix byte and 5 continuation bytes. */
const INTEGER_BYTES_MAX = 6;
/** The encoder drops its output buffer after a block larger than this rather than hold it. */
const ENCODER_SCRATCH_KEEP_BYTES = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * Decodes header blocks (RFC 7541 §3, §6). One decoder per connection; blocks must be given in
 * the order they arrived. After an HpackError the decoder's table may be out of step with the
 * peer's, so every later call throws HpackError too.
 */
export class HpackDecoder {
  /** True when the last decoded block's header list exceeded maxHeaderListBytes (see decode). */
  lastBlockTooLarge = false;
  private readonly table: DynamicTable;
  /** The block being decoded, and the read position in it; EMPTY between calls. */
  private buf: Buffer = EMPTY;
  private pos = 0;
  private failed = false;

  /**
   * maxTableBytes: our SETTINGS_HEADER_TABLE_SIZE (default 4096): size updates above it are
   * HpackError. maxHeaderListBytes: header list size limit (sum of name.length + value.length +
   * 32 per field, as RFC 9113 §6.5.2).
   */
  constructor(
    private readonly maxTableBytes = HPACK_DEFAULT_TABLE_BYTES,
    private readonly maxHeaderListBytes = HPACK_DEFAULT_HEADER_LIST_BYTES,
  ) {
    if (!Number.isSafeInteger(maxTableBytes) || maxTableBytes < 0) {
      throw new RangeError(`maxTableBytes must be a non-negative integer, not ${maxTableBytes}`);
    }
    this.table = new DynamicTable(maxTableBytes);
  }

  /**
   * Decodes one complete header block (the concatenated HEADERS+CONTINUATION fragments).
   * Returns a flat array [name0, value0, name1, value1, ...] in wire order; names and values are
   * latin1 strings (one char per byte). Indexed fields return the table's own strings.
   *
   * If the header list exceeds maxHeaderListBytes, the whole block is still decoded (the
   * dynamic table must stay in step), `lastBlockTooLarge` becomes true and the result is empty;
   * otherwise `lastBlockTooLarge` is false.
   *
   * Throws HpackError on malformed input: an index of 0 or beyond the tables, an integer above
   * 2^31-1, a truncated integer or string, Huffman padding longer than 7 bits or not all ones,
   * EOS inside a Huffman string, a table size update above maxTableBytes or after the first
   * field (RFC 7541 §4.2); and on every call after such an error.
   */
  decode(block: Uint8Array): string[] {
    if (this.failed) {
      throw new HpackError('the decoder failed on an earlier block; its table is out of step');
    }
    this.lastBlockTooLarge = false;
    this.buf = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    this.pos = 0;
    try {
      const fields = this.decodeFields();
      this.buf = EMPTY;
      return fields;
    } catch (error) {
      this.failed = true;
      this.buf = EMPTY;
      throw error;
    }
  }

  private decodeFields(): string[] {
    const buf = this.buf;
    const end = buf.length;
    this.decodeSizeUpdates();
    const fields: string[] = [];
    let listBytes = 0;
    while (this.pos < end) {
      const first = buf[this.pos] as number;
      let name: string;
      let value: string;
      if (first >= 0x80) {
        // Indexed field (§6.1).
        const index = this.readInteger(0x7f);
        if (index === 0) throw new HpackError('indexed field with index 0');
        name = this.nameAt(index);
        value = index <= STATIC_TABLE_LENGTH ? (STATIC_VALUES[index] as string) : this.table.valueAt(index - STATIC_TABLE_LENGTH);
      } else if (first >= 0x40) {
        // Literal with incremental indexing (§6.2.1).
        name = this.readLiteralName(0x3f);
        value = this.readString();
        this.table.add(name, value);
      } else if (first >= 0x20) {
        throw new HpackError('dynamic table size update after the first field (RFC 7541 §4.2)');
      } else {
        // Literal without indexing (0000) or never indexed (0001) (§6.2.2, §6.2.3).
        name = this.readLiteralName(0x0f);
        value = this.readString();
      }
      listBytes += name.length + value.length + ENTRY_OVERHEAD_BYTES;
      if (listBytes <= this.maxHeaderListBytes) {
        fields.push(name, value);
      }
    }
    if (listBytes > this.maxHeaderListBytes) {
      this.lastBlockTooLarge = true;
      return [];
    }
    return fields;
  }

  /** Applies the table size updates a block may start with (RFC 7541 §4.2, §6.3). */
  private decodeSizeUpdates(): void {
    while (this.pos < this.buf.length && ((this.buf[this.pos] as number) & 0xe0) === 0x20) {
      const maxBytes = this.readInteger(0x1f);
      if (maxBytes > this.maxTableBytes) {
        throw new HpackError(`table size update to ${maxBytes} bytes, above our limit of ${this.maxTableBytes}`);
      }
      this.table.setMaxBytes(maxBytes);
    }
  }

  /** Name of a static or dynamic entry, 1 ≤ index; throws past the end of the tables. */
  private nameAt(index: number): string {
    if (index <= STATIC_TABLE_LENGTH) {
      return STATIC_NAMES[index] as string;
    }
    const relative = index - STATIC_TABLE_LENGTH;
    if (relative > this.table.count) {
      throw new HpackError(`index ${index} is beyond the dynamic table (${this.table.count} entries)`);
    }
    return this.table.nameAt(relative);
  }

  /** A literal's name: an index under `prefixMask`, or 0 and a string literal (§6.2). */
  private readLiteralName(prefixMask: number): string {
    const index = this.readInteger(prefixMask);
    return index === 0 ? this.readString() : this.nameAt(index);
  }

  /**
   * Reads an integer whose prefix is the low bits `prefixMask` of the current byte (§5.1); the
   * caller has checked that the byte exists. Multiplication rather than shifts keeps the sum
   * exact past 32 bits until the range check.
   */
  private readInteger(prefixMask: number): number {
    const buf = this.buf;
    let pos = this.pos;
    let value = (buf[pos++] as number) & prefixMask;
    if (value === prefixMask) {
      let shift = 0;
      let byte: number;
      do {
        if (pos >= buf.length) throw new HpackError('truncated integer');
        if (shift > INTEGER_SHIFT_MAX) throw new HpackError('integer too long');
        byte = buf[pos++] as number;
        value += (byte & 0x7f) * 2 ** shift;
        shift += 7;
      } while (byte >= 0x80);
      if (value > INTEGER_MAX) throw new HpackError(`integer ${value} is above 2^31-1`);
    }
    this.pos = pos;
    return value;
  }

  /** Reads a string literal, raw or Huffman-coded (§5.2). */
  private readString(): string {
    const buf = this.buf;
    if (this.pos >= buf.length) throw new HpackError('truncated string: no length');
    const huffman = (buf[this.pos] as number) >= 0x80;
    const length = this.readInteger(0x7f);
    const start = this.pos;
    const end = start + length;
    if (end > buf.length) throw new HpackError(`truncated string: ${length} bytes announced, ${buf.length - start} left`);
    this.pos = end;
    if (!huffman) {
      return latin1Slice(buf, start, end);
    }
    const text = huffmanDecode(buf, start, end);
    if (text === undefined) throw new HpackError('malformed Huffman string: EOS, or padding not ≤ 7 one bits');
    return text;
  }
}

/**
 * Encodes header blocks (RFC 7541 §6) for one connection, for speed over size: no Huffman
 * coding, and a dynamic table used only for small fields that repeat (content-type,
 * grpc-status, user-agent, ...). Blocks must be sent in the order they were encoded.
 */
export class HpackEncoder {
  /** Mirrors the peer decoder's table; its maxBytes is the size last signaled to the peer. */
  private readonly table = new EncoderTable(HPACK_DEFAULT_TABLE_BYTES);
  /** The peer's SETTINGS_HEADER_TABLE_SIZE now, and its lowest value since the last block. */
  private peerMaxBytes: number;
  private peerLowestBytes: number;
  private sizeUpdatePending: boolean;
  /** Output scratch, reused between blocks; each block is copied out of it. */
  private out: Buffer = Buffer.allocUnsafe(1024);
  private pos = 0;

  /** The peer's SETTINGS_HEADER_TABLE_SIZE; default 4096. The encoder may use a smaller table than the peer allows. */
  constructor(maxTableBytes = HPACK_DEFAULT_TABLE_BYTES) {
    checkTableBytes(maxTableBytes);
    this.peerMaxBytes = maxTableBytes;
    this.peerLowestBytes = maxTableBytes;
    // The peer's decoder starts at the protocol default (RFC 9113 §6.5.2) whatever it allows.
    this.sizeUpdatePending = Math.min(maxTableBytes, ENCODER_TABLE_BYTES_MAX) !== HPACK_DEFAULT_TABLE_BYTES;
  }

  /**
   * The peer changed SETTINGS_HEADER_TABLE_SIZE: the next block starts with a dynamic table
   * size update if our table must shrink (or may grow back after shrinking). Calls with an
   * unchanged value cost nothing on the wire.
   */
  setMaxTableBytes(bytes: number): void {
    checkTableBytes(bytes);
    this.peerMaxBytes = bytes;
    this.peerLowestBytes = Math.min(this.peerLowestBytes, bytes);
    this.sizeUpdatePending = true;
  }

  /**
   * Encodes a header list given flat as [name0, value0, ...] (names lower-case latin1 strings;
   * values latin1 strings) into one header block. A field equal to a static entry, or already in
   * our dynamic table, is indexed; otherwise a literal names its field by static index where it
   * can, and is inserted in the dynamic table (evicting per RFC 7541 §4.4) when its size is at
   * most 256 bytes. Fields whose name is in `sensitive` are literals never indexed (§6.2.3).
   * Throws RangeError when `fields` has an odd length.
   */
  encode(fields: readonly string[], sensitive?: ReadonlySet<string>): Buffer {
    if (fields.length % 2 !== 0) {
      throw new RangeError(`header list has an odd number of strings (${fields.length})`);
    }
    this.pos = 0;
    if (this.sizeUpdatePending) {
      this.writeSizeUpdates();
    }
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i] as string;
      const value = fields[i + 1] as string;
      this.reserve(name.length + value.length + 3 * INTEGER_BYTES_MAX);
      if (sensitive !== undefined && sensitive.has(name)) {
        this.writeLiteral(0x10, 0x0f, STATIC_BY_NAME.get(name), name, value);
      } else {
        this.encodeField(name, value);
      }
    }
    const block = Buffer.allocUnsafe(this.pos);
    this.out.copy(block, 0, 0, this.pos);
    if (this.out.length > ENCODER_SCRATCH_KEEP_BYTES) {
      this.out = Buffer.allocUnsafe(1024);
    }
    return block;
  }

  private encodeField(name: string, value: string): void {
    const staticName = STATIC_BY_NAME.get(name);
    const index = staticName?.values.get(value) ?? this.table.indexOf(name, value);
    if (index !== 0) {
      this.writeInteger(0x80, 0x7f, index);
      return;
    }
    const size = name.length + value.length + ENTRY_OVERHEAD_BYTES;
    if (size <= ENCODER_INDEXED_ENTRY_BYTES_MAX && size <= this.table.maxBytes) {
      this.writeLiteral(0x40, 0x3f, staticName, name, value);
      this.table.insert(name, value);
    } else {
      this.writeLiteral(0x00, 0x0f, staticName, name, value);
    }
  }

  /**
   * Signals the table sizes the peer's settings changes call for (RFC 7541 §4.2): first the
   * lowest limit since the last block if our table must shrink to it, then the final size.
   */
  private writeSizeUpdates(): void {
    this.reserve(2 * INTEGER_BYTES_MAX);
    const lowest = Math.min(this.peerLowestBytes, ENCODER_TABLE_BYTES_MAX);
    const target = Math.min(this.peerMaxBytes, ENCODER_TABLE_BYTES_MAX);
    if (lowest < this.table.maxBytes) {
      this.writeInteger(0x20, 0x1f, lowest);
      this.table.setMaxBytes(lowest);
    }
    if (target !== this.table.maxBytes) {
      this.writeInteger(0x20, 0x1f, target);
      this.table.setMaxBytes(target);
    }
    this.peerLowestBytes = this.peerMaxBytes;
    this.sizeUpdatePending = false;
  }

  /** A literal field (§6.2): name by static index when the static table has it, else as a string. */
  private writeLiteral(flags: number, prefixMask: number, staticName: StaticName | undefined, name: string, value: string): void {
    if (staticName !== undefined) {
      this.writeInteger(flags, prefixMask, staticName.nameIndex);
    } else {
      this.out[this.pos++] = flags;
      this.writeString(name);
    }
    this.writeString(value);
  }

  /** A plain (not Huffman-coded) string literal (§5.2); room was reserved by the caller. */
  private writeString(text: string): void {
    this.writeInteger(0x00, 0x7f, text.length);
    const out = this.out;
    let pos = this.pos;
    if (text.length < 32) {
      // A short string is copied faster by hand than through the native write call.
      for (let i = 0; i < text.length; i++) {
        out[pos++] = text.charCodeAt(i);
      }
    } else {
      pos += out.write(text, pos, 'latin1');
    }
    this.pos = pos;
  }

  /** An integer in `prefixMask` low bits of a byte whose other bits are `flags` (§5.1). */
  private writeInteger(flags: number, prefixMask: number, value: number): void {
    const out = this.out;
    let pos = this.pos;
    if (value < prefixMask) {
      out[pos++] = flags | value;
    } else {
      out[pos++] = flags | prefixMask;
      let rest = value - prefixMask;
      while (rest >= 0x80) {
        out[pos++] = (rest & 0x7f) | 0x80;
        rest >>>= 7;
      }
      out[pos++] = rest;
    }
    this.pos = pos;
  }

  /** Makes room for `bytes` more bytes of output, keeping what was written. */
  private reserve(bytes: number): void {
    if (this.pos + bytes <= this.out.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.pos + bytes));
    this.out.copy(grown, 0, 0, this.pos);
    this.out = grown;
  }
}

/** SETTINGS_HEADER_TABLE_SIZE is a 32-bit unsigned value (RFC 9113 §6.5.2). */
function checkTableBytes(bytes: number): void {
  if (!Number.isInteger(bytes) || bytes < 0 || bytes > 0xffff_ffff) {
    throw new RangeError(`table size must be an integer in [0, 2^32-1], not ${bytes}`);
  }
}
