/**
 * A bounds-checked reader for what {@link ByteWriter} writes. Every failure goes through the
 * error factory given at construction, so each codec throws its own named error (a malformed
 * command, a corrupt stored record, a corrupt snapshot) with the offset.
 */

/** Makes the named error a codec throws for malformed input at `offset`. */
export type DecodeErrorFactory = (message: string, offset: number) => Error;

export class ByteReader {
  private at = 0;
  private readonly view: Buffer;

  constructor(
    bytes: Uint8Array,
    private readonly fail: DecodeErrorFactory,
  ) {
    this.view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get offset(): number {
    return this.at;
  }

  get remaining(): number {
    return this.view.length - this.at;
  }

  u8(): number {
    this.need(1, 'u8');
    return this.view[this.at++] as number;
  }

  u16(): number {
    this.need(2, 'u16');
    const value = this.view.readUInt16LE(this.at);
    this.at += 2;
    return value;
  }

  u32(): number {
    this.need(4, 'u32');
    const value = this.view.readUInt32LE(this.at);
    this.at += 4;
    return value;
  }

  u64(): bigint {
    this.need(8, 'u64');
    const value = this.view.readBigUInt64LE(this.at);
    this.at += 8;
    return value;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      this.need(1, 'varint');
      const byte = this.view[this.at++] as number;
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) {
          throw this.fail(`varint ${value} is not a safe integer`, this.at);
        }
        return value;
      }
      scale *= 0x80;
    }
    throw this.fail('varint longer than 8 bytes', this.at);
  }

  signedVarint(): number {
    const zigzag = this.varint();
    return zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
  }

  bool(): boolean {
    const value = this.u8();
    if (value > 1) {
      throw this.fail(`boolean byte ${value}`, this.at - 1);
    }
    return value === 1;
  }

  /** `length` raw bytes, copied (the result does not alias the input). */
  raw(length: number): Uint8Array {
    this.need(length, 'bytes');
    const out = Uint8Array.prototype.slice.call(this.view, this.at, this.at + length);
    this.at += length;
    return out;
  }

  /** Length-prefixed bytes; the length must not exceed `maxBytes`. */
  bytes(maxBytes: number, what = 'bytes'): Uint8Array {
    const length = this.varint();
    if (length > maxBytes) {
      throw this.fail(`${what} length ${length} exceeds ${maxBytes}`, this.at);
    }
    return this.raw(length);
  }

  string(maxBytes: number, what = 'string'): string {
    const bytes = this.bytes(maxBytes, what);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  }

  /** Throws unless every byte was consumed. */
  end(): void {
    if (this.at !== this.view.length) {
      throw this.fail(`${this.view.length - this.at} trailing bytes`, this.at);
    }
  }

  private need(bytes: number, what: string): void {
    if (this.at + bytes > this.view.length) {
      throw this.fail(`truncated ${what}: need ${bytes} bytes, ${this.view.length - this.at} left`, this.at);
    }
  }
}
