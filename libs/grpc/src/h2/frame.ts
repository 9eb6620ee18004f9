/**
 * HTTP/2 frames (RFC 9113 §4, §6): the constants, the 9-byte frame header, and a writer that
 * gathers the frames of one event-loop turn into as few socket writes as possible.
 *
 *     frame = length (24 bits) | type (8) | flags (8) | R (1) + stream id (31) | payload
 *
 * Small frames (headers, short DATA, control frames) are copied into one growing buffer;
 * large DATA payloads are passed to the socket as they are, between slices of that buffer,
 * so a 1 MiB response is never copied.
 */

export const FRAME_HEADER_BYTES = 9;
export const CONNECTION_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export enum FrameType {
  DATA = 0x0,
  HEADERS = 0x1,
  PRIORITY = 0x2,
  RST_STREAM = 0x3,
  SETTINGS = 0x4,
  PUSH_PROMISE = 0x5,
  PING = 0x6,
  GOAWAY = 0x7,
  WINDOW_UPDATE = 0x8,
  CONTINUATION = 0x9,
}

/** Frame flags. ACK (SETTINGS, PING) shares END_STREAM's bit: `Flag.END_STREAM` serves for both. */
export enum Flag {
  END_STREAM = 0x1,
  END_HEADERS = 0x4,
  PADDED = 0x8,
  PRIORITY = 0x20,
}

/** Error codes of RST_STREAM and GOAWAY (RFC 9113 §7). */
export enum H2Error {
  NO_ERROR = 0x0,
  PROTOCOL_ERROR = 0x1,
  INTERNAL_ERROR = 0x2,
  FLOW_CONTROL_ERROR = 0x3,
  SETTINGS_TIMEOUT = 0x4,
  STREAM_CLOSED = 0x5,
  FRAME_SIZE_ERROR = 0x6,
  REFUSED_STREAM = 0x7,
  CANCEL = 0x8,
  COMPRESSION_ERROR = 0x9,
  CONNECT_ERROR = 0xa,
  ENHANCE_YOUR_CALM = 0xb,
  INADEQUATE_SECURITY = 0xc,
  HTTP_1_1_REQUIRED = 0xd,
}

export enum Setting {
  HEADER_TABLE_SIZE = 0x1,
  ENABLE_PUSH = 0x2,
  MAX_CONCURRENT_STREAMS = 0x3,
  INITIAL_WINDOW_SIZE = 0x4,
  MAX_FRAME_SIZE = 0x5,
  MAX_HEADER_LIST_SIZE = 0x6,
}

/** Flow-control windows never exceed 2^31 - 1 (RFC 9113 §6.9.1). */
export const WINDOW_MAX = 0x7fff_ffff;
/** The window every stream and the connection start with until SETTINGS say otherwise. */
export const DEFAULT_WINDOW = 65_535;
/** The frame size every endpoint must accept; larger only when the peer allows it. */
export const DEFAULT_FRAME_BYTES = 16_384;
export const FRAME_BYTES_MAX = 0xff_ffff;

/**
 * A violation of the protocol. `streamId` 0 makes it a connection error (GOAWAY, then the
 * connection closes); otherwise it is a stream error (RST_STREAM on that stream only).
 */
export class H2ProtocolError extends Error {
  constructor(
    readonly code: H2Error,
    message: string,
    readonly streamId = 0,
  ) {
    super(message);
    this.name = 'H2ProtocolError';
  }
}

/** Where gathered frames go: a socket in production, an array in tests. */
export interface ByteSink {
  write(chunk: Buffer): unknown;
  /** Gathers the writes until `uncork` into one (sockets: one writev); optional. */
  cork?(): void;
  uncork?(): void;
}

/** Above this many bytes, a flush hands its chunks over one by one (corked) rather than copying them into one. */
const CONCAT_BYTES_MAX = 64 * 1024;

/** Payloads at least this long are written as they are rather than copied. */
const COPY_BYTES_MAX = 4096;
const SCRATCH_BYTES = 64 * 1024;

/**
 * Gathers outgoing frames until `flush`. Not thread-safe, not reentrant: one per connection,
 * flushed once per event-loop turn by its owner.
 */
export class FrameWriter {
  private scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  /** scratch[start, pos) holds frames not yet handed to `chunks`. */
  private start = 0;
  private pos = 0;
  private readonly chunks: Buffer[] = [];
  /** Bytes gathered and not yet flushed. */
  pendingBytes = 0;

  /** Appends one frame; a payload may be given as a buffer slice or built by the caller. */
  frame(type: FrameType, flags: number, streamId: number, payload?: Uint8Array): void {
    const length = payload === undefined ? 0 : payload.byteLength;
    if (length > COPY_BYTES_MAX) {
      this.header(type, flags, streamId, length);
      this.cut();
      this.chunks.push(Buffer.isBuffer(payload) ? payload : Buffer.from((payload as Uint8Array).buffer, (payload as Uint8Array).byteOffset, length));
    } else {
      this.reserve(FRAME_HEADER_BYTES + length);
      this.header(type, flags, streamId, length);
      if (payload !== undefined && length > 0) {
        this.scratch.set(payload, this.pos);
        this.pos += length;
      }
    }
    this.pendingBytes += FRAME_HEADER_BYTES + length;
  }

  /** Bytes that are not a frame (the client's connection preface). */
  raw(bytes: Buffer): void {
    this.reserve(bytes.length);
    bytes.copy(this.scratch, this.pos);
    this.pos += bytes.length;
    this.pendingBytes += bytes.length;
  }

  /** A frame whose payload is written by `fill` into `length` bytes at `offset` of `buffer`. */
  frameWith(type: FrameType, flags: number, streamId: number, length: number, fill: (buffer: Buffer, offset: number) => void): void {
    this.reserve(FRAME_HEADER_BYTES + length);
    this.header(type, flags, streamId, length);
    fill(this.scratch, this.pos);
    this.pos += length;
    this.pendingBytes += FRAME_HEADER_BYTES + length;
  }

  /**
   * Hands everything gathered to `sink`: one write, copying small chunks into one buffer; large
   * ones (big DATA payloads) are written as they are, corked into one system call, so a flush
   * never doubles the memory of what it sends.
   */
  flush(sink: ByteSink): void {
    this.cut();
    const chunks = this.chunks;
    if (chunks.length === 1) {
      sink.write(chunks[0] as Buffer);
    } else if (chunks.length > 1 && (this.pendingBytes <= CONCAT_BYTES_MAX || sink.cork === undefined)) {
      sink.write(Buffer.concat(chunks, this.pendingBytes));
    } else if (chunks.length > 1) {
      sink.cork?.();
      for (const chunk of chunks) {
        sink.write(chunk);
      }
      sink.uncork?.();
    }
    chunks.length = 0;
    this.pendingBytes = 0;
  }

  private header(type: FrameType, flags: number, streamId: number, length: number): void {
    this.reserve(FRAME_HEADER_BYTES);
    const b = this.scratch;
    const p = this.pos;
    b[p] = length >>> 16;
    b[p + 1] = (length >>> 8) & 0xff;
    b[p + 2] = length & 0xff;
    b[p + 3] = type;
    b[p + 4] = flags;
    b.writeUInt32BE(streamId & WINDOW_MAX, p + 5);
    this.pos = p + FRAME_HEADER_BYTES;
  }

  /** Moves scratch[start, pos) into `chunks`: the bytes stay where they are, owned by the chunk. */
  private cut(): void {
    if (this.pos > this.start) {
      this.chunks.push(this.scratch.subarray(this.start, this.pos));
      this.start = this.pos;
    }
  }

  /** Makes room for `bytes` more in scratch, starting a fresh scratch buffer when needed. */
  private reserve(bytes: number): void {
    if (this.pos + bytes <= this.scratch.length) {
      return;
    }
    this.cut();
    this.scratch = Buffer.allocUnsafe(Math.max(SCRATCH_BYTES, bytes));
    this.start = 0;
    this.pos = 0;
  }
}

/** Settings as a connection keeps them: ours (advertised) or the peer's (received). */
export interface H2Settings {
  headerTableBytes: number;
  maxConcurrentStreams: number;
  initialWindowBytes: number;
  maxFrameBytes: number;
  maxHeaderListBytes: number;
}

export function defaultSettings(): H2Settings {
  return {
    headerTableBytes: 4096,
    maxConcurrentStreams: WINDOW_MAX,
    initialWindowBytes: DEFAULT_WINDOW,
    maxFrameBytes: DEFAULT_FRAME_BYTES,
    maxHeaderListBytes: WINDOW_MAX,
  };
}

/**
 * Applies a SETTINGS payload to `settings`; returns the change of INITIAL_WINDOW_SIZE (which
 * moves every open stream's send window) and throws H2ProtocolError for invalid values.
 */
export function applySettings(settings: H2Settings, payload: Buffer): number {
  if (payload.length % 6 !== 0) {
    throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, `SETTINGS payload of ${payload.length} bytes is not a multiple of 6`);
  }
  let windowDelta = 0;
  for (let at = 0; at < payload.length; at += 6) {
    const id = payload.readUInt16BE(at);
    const value = payload.readUInt32BE(at + 2);
    switch (id) {
      case Setting.HEADER_TABLE_SIZE:
        settings.headerTableBytes = value;
        break;
      case Setting.ENABLE_PUSH:
        if (value > 1) {
          throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${value} is not 0 or 1`);
        }
        break;
      case Setting.MAX_CONCURRENT_STREAMS:
        settings.maxConcurrentStreams = value;
        break;
      case Setting.INITIAL_WINDOW_SIZE:
        if (value > WINDOW_MAX) {
          throw new H2ProtocolError(H2Error.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value} is over 2^31-1`);
        }
        windowDelta += value - settings.initialWindowBytes;
        settings.initialWindowBytes = value;
        break;
      case Setting.MAX_FRAME_SIZE:
        if (value < DEFAULT_FRAME_BYTES || value > FRAME_BYTES_MAX) {
          throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value} is outside 16384..16777215`);
        }
        settings.maxFrameBytes = value;
        break;
      case Setting.MAX_HEADER_LIST_SIZE:
        settings.maxHeaderListBytes = value;
        break;
      default:
        break; // Unknown settings are ignored (RFC 9113 §6.5.2).
    }
  }
  return windowDelta;
}

/** Writes a SETTINGS frame stating `entries` as [id, value] pairs. */
export function writeSettings(out: FrameWriter, entries: readonly (readonly [Setting, number])[]): void {
  out.frameWith(FrameType.SETTINGS, 0, 0, entries.length * 6, (b, at) => {
    for (const [id, value] of entries) {
      b.writeUInt16BE(id, at);
      b.writeUInt32BE(value, at + 2);
      at += 6;
    }
  });
}

/**
 * Writes an encoded header block as one HEADERS frame, or a HEADERS frame followed by
 * CONTINUATION frames when it is larger than the peer's `frameMax` (RFC 9113 §6.2, §6.10):
 * END_HEADERS on the last, END_STREAM (when `endStream`) on the HEADERS frame.
 */
export function writeHeaderBlock(out: FrameWriter, streamId: number, block: Buffer, endStream: boolean, frameMax: number): void {
  const flags = endStream ? Flag.END_STREAM : 0;
  if (block.length <= frameMax) {
    out.frame(FrameType.HEADERS, flags | Flag.END_HEADERS, streamId, block);
    return;
  }
  out.frame(FrameType.HEADERS, flags, streamId, block.subarray(0, frameMax));
  for (let at = frameMax; at < block.length; at += frameMax) {
    const last = at + frameMax >= block.length;
    out.frame(FrameType.CONTINUATION, last ? Flag.END_HEADERS : 0, streamId, block.subarray(at, at + frameMax));
  }
}

export function writeWindowUpdate(out: FrameWriter, streamId: number, increment: number): void {
  out.frameWith(FrameType.WINDOW_UPDATE, 0, streamId, 4, (b, at) => b.writeUInt32BE(increment, at));
}

export function writeRstStream(out: FrameWriter, streamId: number, code: H2Error): void {
  out.frameWith(FrameType.RST_STREAM, 0, streamId, 4, (b, at) => b.writeUInt32BE(code, at));
}

export function writeGoaway(out: FrameWriter, lastStreamId: number, code: H2Error, debug: string): void {
  const text = Buffer.from(debug.slice(0, 256), 'utf8');
  out.frameWith(FrameType.GOAWAY, 0, 0, 8 + text.length, (b, at) => {
    b.writeUInt32BE(lastStreamId, at);
    b.writeUInt32BE(code, at + 4);
    text.copy(b, at + 8);
  });
}

/**
 * The payload of a HEADERS, DATA or PUSH_PROMISE frame without its padding (RFC 9113 §6.1):
 * returns [start, end) within `frame`. Throws when the pad length is larger than the frame.
 */
export function unpad(flags: number, payload: Buffer, streamId: number): Buffer {
  if ((flags & Flag.PADDED) === 0) {
    return payload;
  }
  if (payload.length < 1) {
    throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, 'a PADDED frame has no pad length', 0);
  }
  const padding = payload[0] as number;
  if (padding >= payload.length) {
    throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `padding of ${padding} bytes fills the whole frame on stream ${streamId}`, 0);
  }
  return payload.subarray(1, payload.length - padding);
}
