/**
 * Assembles the header blocks a peer sends (RFC 9113 §4.3, §6.2, §6.10) and decodes them with
 * the connection's one HPACK decoder. It lives apart from H2Connection so that the connection
 * only routes frames, while the rules for gluing HEADERS and CONTINUATION fragments together
 * (and for refusing blocks that grow without bound) sit in one place.
 *
 *     HEADERS ─┬─ END_HEADERS ──────────────────────────────────────────┬─► HPACK ─► HeaderBlock
 *              └─ fragment kept ─► CONTINUATION* ─► END_HEADERS ─► join ─┘
 *
 * While a block is pending, the peer may send nothing but CONTINUATION frames on its stream;
 * the connection enforces that with `pendingStreamId`, since it sees every frame. A block is
 * bounded both in bytes and in frames: empty CONTINUATION frames cost nothing in bytes, so
 * only their count stops a peer that sends them without end.
 */
import { DEFAULT_FRAME_BYTES, Flag, H2Error, H2ProtocolError, unpad } from './frame';
import { HpackDecoder, HpackError } from './hpack';

/** A header block, across CONTINUATION frames, may be at most this many times the header list limit. */
const HEADER_BLOCK_FACTOR = 2;

/** A complete, decoded header block. */
export interface HeaderBlock {
  readonly streamId: number;
  /** The HEADERS frame that opened the block carried END_STREAM. */
  readonly endStream: boolean;
  /** Flat [name0, value0, name1, ...] as HPACK decoded them; empty when `tooLarge`. */
  readonly fields: string[];
  /** The header list was over the limit; the block was still decoded to keep HPACK in step. */
  readonly tooLarge: boolean;
  /** The HEADERS frame's priority made the stream depend on itself (RFC 9113 §5.3.1: a stream error). */
  readonly selfDependent: boolean;
}

/** A block whose HEADERS frame came without END_HEADERS, waiting for its CONTINUATION frames. */
interface PendingBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly selfDependent: boolean;
  readonly fragments: Buffer[];
  bytes: number;
  continuations: number;
}

/**
 * Turns HEADERS and CONTINUATION frames into decoded header blocks, for one connection. Frames
 * must be given in the order they arrived, since HPACK state carries from block to block.
 * Errors are thrown as H2ProtocolError, all of them connection errors.
 */
export class HeaderBlockReader {
  private readonly decoder: HpackDecoder;
  private pending: PendingBlock | undefined;

  private readonly maxContinuationFrames: number;

  /**
   * `maxHeaderListBytes` is the SETTINGS_MAX_HEADER_LIST_SIZE we advertise; a block may take
   * `maxContinuationFrames` CONTINUATION frames (default: enough to carry such a header list
   * in 16 KiB frames, and at least 8, as nghttp2 allows).
   */
  constructor(
    private readonly maxHeaderListBytes: number,
    maxContinuationFrames?: number,
  ) {
    this.decoder = new HpackDecoder(4096, maxHeaderListBytes);
    this.maxContinuationFrames = maxContinuationFrames ?? Math.max(8, Math.ceil((HEADER_BLOCK_FACTOR * maxHeaderListBytes) / DEFAULT_FRAME_BYTES));
  }

  /** The stream whose header block still expects CONTINUATION frames, or undefined. */
  get pendingStreamId(): number | undefined {
    return this.pending?.streamId;
  }

  /** A HEADERS frame: the decoded block when it carries END_HEADERS, else undefined until the last CONTINUATION. */
  headers(flags: number, streamId: number, payload: Buffer): HeaderBlock | undefined {
    if (streamId === 0) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'HEADERS on stream 0');
    }
    let fragment = unpad(flags, payload, streamId);
    let selfDependent = false;
    if ((flags & Flag.PRIORITY) !== 0) {
      if (fragment.length < 5) {
        throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, 'HEADERS with PRIORITY is too short');
      }
      selfDependent = (fragment.readUInt32BE(0) & 0x7fff_ffff) === streamId;
      fragment = fragment.subarray(5);
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if ((flags & Flag.END_HEADERS) !== 0) {
      return this.decode(streamId, endStream, selfDependent, fragment);
    }
    // Copied, since a view would pin the whole socket chunk while the block waits for CONTINUATION.
    this.pending = { streamId, endStream, selfDependent, fragments: [Buffer.from(fragment)], bytes: fragment.length, continuations: 0 };
    return undefined;
  }

  /** A CONTINUATION frame: the decoded block when it carries END_HEADERS, else undefined. */
  continuation(flags: number, streamId: number, payload: Buffer): HeaderBlock | undefined {
    const block = this.pending;
    if (block === undefined) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `CONTINUATION on stream ${streamId} without HEADERS before it`);
    }
    block.bytes += payload.length;
    block.continuations += 1;
    // HPACK can only judge the header list once the block is whole, so the raw bytes are capped here.
    if (block.bytes > HEADER_BLOCK_FACTOR * this.maxHeaderListBytes + DEFAULT_FRAME_BYTES) {
      throw new H2ProtocolError(H2Error.ENHANCE_YOUR_CALM, `header block on stream ${streamId} is over ${block.bytes} bytes`);
    }
    if (block.continuations > this.maxContinuationFrames) {
      throw new H2ProtocolError(H2Error.ENHANCE_YOUR_CALM, `header block on stream ${streamId} has over ${this.maxContinuationFrames} CONTINUATION frames`);
    }
    if (payload.length > 0) {
      block.fragments.push(Buffer.from(payload));
    }
    if ((flags & Flag.END_HEADERS) === 0) {
      return undefined;
    }
    this.pending = undefined;
    return this.decode(block.streamId, block.endStream, block.selfDependent, Buffer.concat(block.fragments, block.bytes));
  }

  private decode(streamId: number, endStream: boolean, selfDependent: boolean, block: Buffer): HeaderBlock {
    let fields: string[];
    try {
      fields = this.decoder.decode(block);
    } catch (error) {
      if (error instanceof HpackError) {
        throw new H2ProtocolError(H2Error.COMPRESSION_ERROR, `header block on stream ${streamId}: ${error.message}`);
      }
      throw error;
    }
    return { streamId, endStream, fields, tooLarge: this.decoder.lastBlockTooLarge, selfDependent };
  }
}
