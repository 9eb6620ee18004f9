/**
 * gRPC message framing (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md):
 * every message on a stream is a 5-byte prefix (1 byte compressed flag, 4 bytes big-endian
 * length) followed by the message bytes. HTTP/2 DATA frames do not respect message bounds: a
 * message may span several frames and a frame may hold several messages, so the decoder is a
 * small state machine fed one chunk at a time.
 *
 *     chunk ──► [ header: 0..5 bytes ] ──len known──► [ payload: 0..len bytes ] ──► message
 *                      ▲                                                          │
 *                      └──────────────────────────────────────────────────────────┘
 */
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { GrpcStatusError } from './grpc-status.error';
import { GrpcStatus } from './status';

/** Bytes of the prefix before each message. */
export const FRAME_HEADER_BYTES = 5;
/** Largest length the 4-byte prefix can state. */
export const FRAME_LENGTH_MAX = 0xffff_ffff;

/** What the framing needs of a message type: the `encode`/`decode` pair ts-proto generates. */
export interface MessageCodec<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
  decode(input: Uint8Array): T;
}

const HEADER_PLACEHOLDER = new Uint8Array(FRAME_HEADER_BYTES);
/** Messages above this size do not leave their (large) buffer behind in the shared writer. */
const SHARED_WRITER_KEEP_BYTES = 1 << 20;

/**
 * One writer for every encode: encoding is synchronous, and the writer keeps its grown buffer
 * between messages, so a typical message costs one allocation (the copy `finish` returns).
 */
let sharedWriter = new BinaryWriter();

/**
 * Encodes `message` with its 5-byte prefix, in one buffer: the placeholder prefix goes into
 * the writer first and is patched once the length is known.
 *
 * Throws GrpcStatusError(RESOURCE_EXHAUSTED) when the message exceeds `maxMessageBytes`, and
 * whatever `codec.encode` throws (e.g. a uint64 field out of range).
 */
export function encodeFrame<T>(codec: MessageCodec<T>, message: T, maxMessageBytes: number): Buffer {
  let bytes: Uint8Array;
  try {
    sharedWriter.raw(HEADER_PLACEHOLDER);
    bytes = codec.encode(message, sharedWriter).finish();
  } catch (error) {
    sharedWriter = new BinaryWriter(); // it holds a half-written message
    throw error;
  }
  if (bytes.byteLength > SHARED_WRITER_KEEP_BYTES) {
    sharedWriter = new BinaryWriter();
  }
  const length = bytes.byteLength - FRAME_HEADER_BYTES;
  if (length > maxMessageBytes) {
    throw new GrpcStatusError(
      GrpcStatus.RESOURCE_EXHAUSTED,
      `message of ${length} bytes is over the send limit of ${maxMessageBytes} bytes`,
    );
  }
  const frame = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  frame[0] = 0;
  frame.writeUInt32BE(length, 1);
  return frame;
}

/** Frames raw message bytes (already encoded). */
export function frameBytes(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength);
  frame[0] = 0;
  frame.writeUInt32BE(payload.byteLength, 1);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** Receives the messages a FrameDecoder completes. */
export interface FrameSink {
  onFrame(payload: Buffer): void;
}

/** The buffer of a message split across chunks starts at most this large and doubles as bytes arrive. */
const PAYLOAD_INITIAL_BYTES = 64 * 1024;

/**
 * Splits a byte stream into message payloads. Holds at most one partial message, whose size
 * is bounded by `maxMessageBytes` (checked from the prefix, before anything is buffered). The
 * buffer of a partial message grows with what has arrived (never more than twice that, or
 * 64 KiB), so a prefix that announces a large message costs nothing until its bytes come.
 */
export class FrameDecoder {
  /** Allocated on the first prefix split across chunks (rare: most calls never need it). */
  private header: Buffer | undefined = undefined;
  /** Bytes of `header` filled; 0 <= headerFilled <= FRAME_HEADER_BYTES. */
  private headerFilled = 0;
  /** The message being assembled, once its length is known; undefined while reading a prefix. */
  private payload: Buffer | undefined = undefined;
  /** The length of the message being assembled; payload.length <= payloadLength. */
  private payloadLength = 0;
  /** Bytes of `payload` filled; 0 <= payloadFilled < payloadLength. */
  private payloadFilled = 0;

  constructor(private readonly maxMessageBytes: number) {
    if (!(maxMessageBytes >= 0 && maxMessageBytes <= FRAME_LENGTH_MAX)) {
      throw new RangeError(`maxMessageBytes ${maxMessageBytes} is not within 0..${FRAME_LENGTH_MAX}`);
    }
  }

  /** True when bytes of an unfinished message are held: a stream ending now was cut short. */
  get midMessage(): boolean {
    return this.headerFilled > 0 || this.payload !== undefined;
  }

  /** Input bytes held in an unfinished message (its prefix and payload so far). */
  get bufferedBytes(): number {
    return this.payload === undefined ? this.headerFilled : FRAME_HEADER_BYTES + this.payloadFilled;
  }

  /**
   * Consumes `chunk` and calls `sink.onFrame` for every message it completes, in order. A
   * message wholly inside `chunk` is passed as a view of it (no copy): decode it before the
   * chunk is reused.
   *
   * Throws GrpcStatusError: UNIMPLEMENTED for a compressed message (we only speak identity),
   * INTERNAL for an unknown flag, RESOURCE_EXHAUSTED for a message over the limit. After a
   * throw the decoder is unusable.
   */
  push(chunk: Buffer, sink: FrameSink): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.payload === undefined) {
        if (this.headerFilled === 0 && chunk.length - at >= FRAME_HEADER_BYTES) {
          const length = this.checkHeader(chunk[at] as number, chunk.readUInt32BE(at + 1));
          at += FRAME_HEADER_BYTES;
          if (chunk.length - at >= length) {
            sink.onFrame(chunk.subarray(at, at + length));
            at += length;
          } else {
            this.startPayload(length);
          }
          continue;
        }
        const header = (this.header ??= Buffer.alloc(FRAME_HEADER_BYTES));
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFilled, chunk.length - at);
        chunk.copy(header, this.headerFilled, at, at + take);
        this.headerFilled += take;
        at += take;
        if (this.headerFilled < FRAME_HEADER_BYTES) {
          return;
        }
        this.headerFilled = 0;
        const length = this.checkHeader(header[0] as number, header.readUInt32BE(1));
        if (length === 0) {
          sink.onFrame(Buffer.alloc(0));
        } else {
          this.startPayload(length);
        }
        continue;
      }
      const take = Math.min(this.payloadLength - this.payloadFilled, chunk.length - at);
      if (this.payloadFilled + take > this.payload.length) {
        this.growPayload(this.payloadFilled + take);
      }
      chunk.copy(this.payload, this.payloadFilled, at, at + take);
      this.payloadFilled += take;
      at += take;
      if (this.payloadFilled === this.payloadLength) {
        const done = this.payload;
        this.payload = undefined;
        this.payloadFilled = 0;
        sink.onFrame(done);
      }
    }
  }

  private startPayload(length: number): void {
    this.payload = Buffer.allocUnsafe(Math.min(length, PAYLOAD_INITIAL_BYTES));
    this.payloadLength = length;
    this.payloadFilled = 0;
  }

  /** Replaces the payload buffer with one of at least `bytes` (doubling, at most the message's length). */
  private growPayload(bytes: number): void {
    const old = this.payload as Buffer;
    const grown = Buffer.allocUnsafe(Math.min(this.payloadLength, Math.max(bytes, 2 * old.length)));
    old.copy(grown, 0, 0, this.payloadFilled);
    this.payload = grown;
  }

  private checkHeader(flag: number, length: number): number {
    if (flag === 1) {
      throw new GrpcStatusError(GrpcStatus.UNIMPLEMENTED, 'compressed messages are not supported; send with identity encoding');
    }
    if (flag !== 0) {
      throw new GrpcStatusError(GrpcStatus.INTERNAL, `malformed message prefix: compressed flag is ${flag}`);
    }
    if (length > this.maxMessageBytes) {
      throw new GrpcStatusError(
        GrpcStatus.RESOURCE_EXHAUSTED,
        `message of ${length} bytes is over the receive limit of ${this.maxMessageBytes} bytes`,
      );
    }
    return length;
  }
}
