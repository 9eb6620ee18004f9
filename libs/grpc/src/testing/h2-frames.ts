/**
 * For the HTTP/2 tests: the frames a raw peer reads, cut out of the bytes it receives
 * (RFC 9113 §4.1), independently of the connection code under test.
 */

/** One frame as it came off the wire. */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** Collects frames from chunks of bytes; a frame split across chunks waits for its rest. */
export class FrameCollector {
  readonly frames: Frame[] = [];
  private buffer = Buffer.alloc(0);

  /** Adds received bytes; returns how many frames are complete now. */
  push(chunk: Buffer): number {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 9 && this.buffer.length >= 9 + this.buffer.readUIntBE(0, 3)) {
      const length = this.buffer.readUIntBE(0, 3);
      this.frames.push({
        type: this.buffer[3] as number,
        flags: this.buffer[4] as number,
        streamId: this.buffer.readUInt32BE(5) & 0x7fff_ffff,
        payload: this.buffer.subarray(9, 9 + length),
      });
      this.buffer = this.buffer.subarray(9 + length);
    }
    return this.frames.length;
  }
}
