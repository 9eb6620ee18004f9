/**
 * A growable little-endian byte writer for the binary codecs. Integers that count things are
 * LEB128 varints (compact for the small values that dominate); ids are fixed u64.
 */

const MAX_VARINT = Number.MAX_SAFE_INTEGER;

export class ByteWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(initialBytes = 256) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  /** Bytes written so far. */
  get size(): number {
    return this.length;
  }

  u8(value: number): this {
    this.reserve(1);
    this.buffer[this.length++] = value & 0xff;
    return this;
  }

  u16(value: number): this {
    this.reserve(2);
    this.buffer.writeUInt16LE(value, this.length);
    this.length += 2;
    return this;
  }

  u32(value: number): this {
    this.reserve(4);
    this.buffer.writeUInt32LE(value >>> 0, this.length);
    this.length += 4;
    return this;
  }

  u64(value: bigint): this {
    this.reserve(8);
    this.buffer.writeBigUInt64LE(value, this.length);
    this.length += 8;
    return this;
  }

  /** Unsigned LEB128 of a safe non-negative integer. Throws RangeError otherwise. */
  varint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0 || value > MAX_VARINT) {
      throw new RangeError(`varint out of range: ${value}`);
    }
    this.reserve(8);
    let rest = value;
    while (rest >= 0x80) {
      this.buffer[this.length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buffer[this.length++] = rest;
    return this;
  }

  /** Zig-zag varint of a safe integer with |value| < 2^52. */
  signedVarint(value: number): this {
    if (!Number.isSafeInteger(value) || Math.abs(value) >= 2 ** 52) {
      throw new RangeError(`signed varint out of range: ${value}`);
    }
    return this.varint(value >= 0 ? value * 2 : -value * 2 - 1);
  }

  bool(value: boolean): this {
    return this.u8(value ? 1 : 0);
  }

  /** Raw bytes, no length prefix. */
  raw(bytes: Uint8Array): this {
    this.reserve(bytes.byteLength);
    this.buffer.set(bytes, this.length);
    this.length += bytes.byteLength;
    return this;
  }

  /** Length-prefixed (varint) bytes. */
  bytes(bytes: Uint8Array): this {
    return this.varint(bytes.byteLength).raw(bytes);
  }

  /** Length-prefixed UTF-8 string. */
  string(text: string): this {
    return this.bytes(Buffer.from(text, 'utf8'));
  }

  /** The bytes written: a view of this writer's own buffer (do not write afterwards). */
  finish(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) {
      return;
    }
    let capacity = this.buffer.length * 2;
    while (capacity < this.length + bytes) {
      capacity *= 2;
    }
    const next = Buffer.allocUnsafe(capacity);
    this.buffer.copy(next, 0, 0, this.length);
    this.buffer = next;
  }
}
