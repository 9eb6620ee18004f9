/**
 * What an HTTP/2 connection is configured with (windows, header and frame limits, send
 * buffers, the GOAWAY grace period) and what it tells its owner about the limits and protocol
 * violations it answers. Servers take these from their `H2ServerLimits`; clients pass them.
 */

export interface H2ConnectionOptions {
  /** Receive window we give each stream, and the connection as a whole. */
  readonly streamWindowBytes: number;
  readonly connectionWindowBytes: number;
  readonly maxHeaderListBytes: number;
  /** CONTINUATION frames allowed after one HEADERS frame. Default: enough for maxHeaderListBytes, at least 8. */
  readonly maxContinuationFrames?: number;
  /** Our control-frame replies queued while the peer does not read, before it is cut off. Default 1000. */
  readonly maxQueuedControlFrames?: number;
  /** Unsent bytes a stream queues before `write` asks its writer to wait. Default 64 KiB. */
  readonly streamSendBufferBytes?: number;
  /** Unsent bytes the socket may hold before we stop reading from the peer. Default 16 MiB. */
  readonly connectionSendBufferBytes?: number;
  /**
   * After our GOAWAY and end of stream, how long the peer has to close before the socket is
   * destroyed (by `tick`). Undefined: a connection that fails is destroyed at once (clients).
   */
  readonly goawayGraceMs?: number;
  /** Told of each limit or protocol violation this connection answers (metrics). Default: none. */
  readonly events?: H2ConnectionEvents;
}

/** What a connection tells its owner about the violations it answers. Must not throw. */
export interface H2ConnectionEvents {
  /** A connection error: our GOAWAY with `code` (an H2Error) and `reason`, then the connection closes. */
  connectionError?(code: number, reason: string): void;
  /** A new stream refused (RST_STREAM REFUSED_STREAM): over the concurrency or send-buffer limit. */
  streamRefused?(): void;
}

/** Our control-frame replies queued while the peer does not read, by default. */
export const DEFAULT_QUEUED_CONTROL_FRAMES_MAX = 1000;
/** Unsent bytes the socket may hold before we stop reading from the peer, by default. */
export const DEFAULT_CONNECTION_SEND_BUFFER_BYTES = 16 << 20;
