/**
 * Everything one client may make the HTTP/2 server hold, and for how long: the numbers a
 * member or gateway operator sets with flags (docs/security.md lists them with their flags).
 * Each is enforced in one place and answered with the code RFC 9113 gives for it:
 *
 *     what a client does                         bound                              answer
 *     ─────────────────────────────────────────  ─────────────────────────────────  ───────────────────────────────
 *     opens streams (handlers still running      maxConcurrentStreams               RST_STREAM REFUSED_STREAM
 *       after its reset count too)
 *     resets streams / opens refused ones        resetBurst, resetRatePerSecond     GOAWAY ENHANCE_YOUR_CALM
 *     sends a header block                       maxHeaderListBytes,                431 / RESOURCE_EXHAUSTED;
 *                                                maxContinuationFrames,             GOAWAY ENHANCE_YOUR_CALM
 *                                                requestHeadersTimeoutMs
 *     sends request bodies                       streamWindowBytes, connection-     flow control (FLOW_CONTROL_ERROR
 *                                                WindowBytes (credited back as      past the window);
 *                                                handlers consume), requestBody-    RST_STREAM CANCEL when late
 *                                                TimeoutMs
 *     does not read what it asked for            connectionSendBufferBytes (reads   RST_STREAM REFUSED_STREAM for
 *                                                pause; new streams refused),       new streams; GOAWAY
 *                                                streamSendBufferBytes,             ENHANCE_YOUR_CALM; socket
 *                                                maxQueuedControlFrames             destroyed when stalled
 *     pings too often                            keepaliveMinTimeMs (3 strikes)     GOAWAY ENHANCE_YOUR_CALM
 *     connects and says nothing                  handshakeTimeoutMs                 GOAWAY SETTINGS_TIMEOUT
 *     holds a connection without progress        idleTimeoutMs, keepaliveInterval-  GOAWAY NO_ERROR / destroyed
 *                                                Ms, keepaliveTimeoutMs
 *     does not close after our GOAWAY            goawayGraceMs                      socket destroyed
 *
 * Timeouts are measured by the server's sweep (one timer for all connections), so they hold
 * to within one sweep period (a quarter of the shortest timeout, at most one second).
 */

export interface H2ServerLimits {
  /**
   * SETTINGS_MAX_CONCURRENT_STREAMS. Streams the client reset whose handler still runs count
   * too. It also bounds the responses one read of a client that does not read can start before
   * the send buffer check stops it (Go's x/net/http2 runs at most 250 handlers per connection).
   */
  readonly maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: a larger request header list is answered 431 (RESOURCE_EXHAUSTED). */
  readonly maxHeaderListBytes: number;
  /** CONTINUATION frames after one HEADERS frame; more is a connection error (ENHANCE_YOUR_CALM). */
  readonly maxContinuationFrames: number;
  /** Receive window of each stream (request bytes in flight per call). */
  readonly streamWindowBytes: number;
  /**
   * Receive window of the connection: request bytes the server holds for one connection (in
   * partial messages, or waiting for a paused handler) are at most this, since the window is
   * credited back only once a handler has taken them.
   */
  readonly connectionWindowBytes: number;
  /** Streams a connection may reset (or have refused) at once... */
  readonly resetBurst: number;
  /** ...and per second after that (a token bucket); beyond it: GOAWAY ENHANCE_YOUR_CALM. */
  readonly resetRatePerSecond: number;
  /** Our replies (PING and SETTINGS acknowledgements, RST_STREAM) queued while the peer does not read. */
  readonly maxQueuedControlFrames: number;
  /** Response bytes queued on one stream before a streaming handler is asked to wait (one message may exceed it). */
  readonly streamSendBufferBytes: number;
  /**
   * Response bytes queued on one connection: above it, new streams are refused (REFUSED_STREAM)
   * and, when the socket itself is that far behind, the server stops reading from the peer.
   */
  readonly connectionSendBufferBytes: number;
  /** Preface and first SETTINGS (and a TLS handshake before them) must arrive within this; our SETTINGS must be acknowledged within it. */
  readonly handshakeTimeoutMs: number;
  /** A header block, once started, must be complete (END_HEADERS) within this. */
  readonly requestHeadersTimeoutMs: number;
  /** A unary request must have arrived whole (END_STREAM) within this of its headers; 0 never. */
  readonly requestBodyTimeoutMs: number;
  /** A connection with no stream, or whose open streams make no progress either way, for this long is closed; 0 never. */
  readonly idleTimeoutMs: number;
  /** After this long without a frame from the peer, the server sends a PING; 0 never. */
  readonly keepaliveIntervalMs: number;
  /** A PING unanswered, or bytes the peer has not taken from the socket, for this long: the connection is closed. */
  readonly keepaliveTimeoutMs: number;
  /** PINGs closer together than this, with no response data sent between them, are strikes; the third ends the connection. */
  readonly keepaliveMinTimeMs: number;
  /** After our GOAWAY and end of stream, the socket is destroyed if the peer has not closed it within this. */
  readonly goawayGraceMs: number;
}

/** Connections the server accepts (counted from TCP accept until the socket has closed). */
export interface ConnectionLimits {
  /** In total; at the limit a new connection replaces the oldest one that has not finished its handshake, or is refused. */
  readonly maxConnections: number;
  /** From one IP address. */
  readonly maxConnectionsPerAddress: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** The defaults (docs/security.md): nghttp2's and Go's x/net/http2 limits were the reference. */
export const DEFAULT_H2_SERVER_LIMITS: H2ServerLimits = Object.freeze({
  maxConcurrentStreams: 256,
  maxHeaderListBytes: 16 * KiB,
  maxContinuationFrames: 8,
  streamWindowBytes: MiB,
  connectionWindowBytes: 16 * MiB,
  resetBurst: 1000,
  resetRatePerSecond: 500,
  maxQueuedControlFrames: 1000,
  streamSendBufferBytes: 64 * KiB,
  connectionSendBufferBytes: 16 * MiB,
  handshakeTimeoutMs: 10_000,
  requestHeadersTimeoutMs: 10_000,
  requestBodyTimeoutMs: 30_000,
  idleTimeoutMs: 300_000,
  keepaliveIntervalMs: 7_200_000,
  keepaliveTimeoutMs: 20_000,
  keepaliveMinTimeMs: 5_000,
  goawayGraceMs: 1_000,
});

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = Object.freeze({
  maxConnections: 1000,
  maxConnectionsPerAddress: 100,
});

/** Largest window RFC 9113 allows (2^31-1). */
const WINDOW_LIMIT = 0x7fff_ffff;
/** Longest delay a Node timer takes; no timeout may exceed it. */
export const TIMEOUT_MS_MAX = 0x7fff_ffff;

/** Where each limit must lie; a value outside is a RangeError naming it. */
const RANGES: Readonly<Record<keyof H2ServerLimits | keyof ConnectionLimits, readonly [number, number]>> = {
  maxConcurrentStreams: [1, WINDOW_LIMIT],
  maxHeaderListBytes: [1 * KiB, 16 * MiB],
  maxContinuationFrames: [0, 1_000_000],
  streamWindowBytes: [65_535, WINDOW_LIMIT],
  connectionWindowBytes: [65_535, WINDOW_LIMIT],
  resetBurst: [1, 1_000_000_000],
  resetRatePerSecond: [0, 1_000_000_000],
  maxQueuedControlFrames: [16, 1_000_000_000],
  streamSendBufferBytes: [1 * KiB, WINDOW_LIMIT],
  connectionSendBufferBytes: [64 * KiB, 2 ** 40],
  handshakeTimeoutMs: [1, TIMEOUT_MS_MAX],
  requestHeadersTimeoutMs: [1, TIMEOUT_MS_MAX],
  requestBodyTimeoutMs: [0, TIMEOUT_MS_MAX],
  idleTimeoutMs: [0, TIMEOUT_MS_MAX],
  keepaliveIntervalMs: [0, TIMEOUT_MS_MAX],
  keepaliveTimeoutMs: [1, TIMEOUT_MS_MAX],
  keepaliveMinTimeMs: [0, TIMEOUT_MS_MAX],
  goawayGraceMs: [0, TIMEOUT_MS_MAX],
  maxConnections: [1, 1_000_000],
  maxConnectionsPerAddress: [1, 1_000_000],
};

/** A limit that is not a whole number within its range. */
export class LimitOutOfRangeError extends RangeError {
  constructor(
    readonly limit: string,
    readonly min: number,
    readonly max: number,
    readonly value: unknown,
  ) {
    super(`limit ${limit} must be a whole number from ${min} to ${max}, not ${String(value)}`);
    this.name = 'LimitOutOfRangeError';
  }
}

/** Throws LimitOutOfRangeError for the first limit that is not a whole number within its range. */
export function checkLimits(limits: Partial<Record<keyof typeof RANGES, number>>): void {
  for (const [name, value] of Object.entries(limits)) {
    const range = RANGES[name as keyof typeof RANGES];
    if (range === undefined || value === undefined) {
      continue;
    }
    if (!Number.isInteger(value) || value < range[0] || value > range[1]) {
      throw new LimitOutOfRangeError(name, range[0], range[1], value);
    }
  }
}

/** The server's sweep period for these limits: a quarter of the shortest timeout, within 5 ms..1 s. */
export function sweepPeriodMs(limits: H2ServerLimits): number {
  const timeouts = [
    limits.handshakeTimeoutMs,
    limits.requestHeadersTimeoutMs,
    limits.requestBodyTimeoutMs,
    limits.idleTimeoutMs,
    limits.keepaliveIntervalMs,
    limits.keepaliveTimeoutMs,
    limits.goawayGraceMs,
  ].filter((ms) => ms > 0);
  return Math.min(1000, Math.max(5, Math.floor(Math.min(...timeouts, 4000) / 4)));
}
