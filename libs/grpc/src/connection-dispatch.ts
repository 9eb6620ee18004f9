/**
 * One port, two protocols: an accepted connection is handed to HTTP/2 (gRPC) or to HTTP/1.1
 * (Prometheus scraping /metrics, `curl /health`), as etcd serves both on its client URL.
 *
 *     accepted socket ─┬─ ALPN said "h2" ───────────────────────────────────► http2(socket)
 *     (TCP, or TLS)    ├─ ALPN said "http/1.1" ─────────────────────────────► http1(socket)
 *                      └─ no ALPN: read the first bytes ─┬─ the HTTP/2 preface ─► http2(socket)
 *                                                        ├─ anything else ──────► http1(socket)
 *                                                        └─ nothing in time ────► destroyed
 *
 * A client speaking HTTP/2 with prior knowledge (h2c, as gRPC does without TLS) starts with the
 * 24-byte connection preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` (RFC 9113 §3.4); no HTTP/1.1
 * request line starts that way. The bytes read to decide are put back (`unshift`) before the
 * socket is handed over, paused; `dispatchConnection` resumes it once the target has attached
 * its listeners, so the target reads the connection from its first byte.
 *
 * TLS: a server terminating TLS calls `dispatchConnection` with the TLS socket and its
 * negotiated `alpnProtocol`; with ALPN no byte is read here. Both targets receive the socket
 * they were given (a `tls.TLSSocket` is a `net.Socket`).
 */
import type { Socket } from 'node:net';

/** The HTTP/2 client connection preface (RFC 9113 §3.4). */
export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Default time a connection has to send its first bytes before it is closed, ms. */
export const FIRST_BYTES_TIMEOUT_MS = 10_000;

export type ConnectionProtocol = 'http2' | 'http1';

/** Where each kind of connection goes. Both must attach their listeners synchronously. */
export interface ConnectionTargets {
  http2(socket: Socket): void;
  http1(socket: Socket): void;
}

export interface DispatchOptions {
  /** Closes a connection that has not sent enough bytes to decide within this time, ms. */
  readonly firstBytesTimeoutMs?: number;
  /** The protocol TLS negotiated (ALPN), if any: "h2" and "http/1.1" are taken as they are. */
  readonly alpnProtocol?: string | false | null;
}

/**
 * The protocol of a connection from its first bytes: `http2` once they hold the whole preface,
 * `http1` as soon as they differ from it, undefined while they are a proper prefix of it (too
 * few bytes to tell). Pure.
 */
export function protocolOf(head: Uint8Array): ConnectionProtocol | undefined {
  const n = Math.min(head.length, HTTP2_PREFACE.length);
  for (let i = 0; i < n; i++) {
    if (head[i] !== HTTP2_PREFACE[i]) {
      return 'http1';
    }
  }
  return head.length >= HTTP2_PREFACE.length ? 'http2' : undefined;
}

/**
 * Hands `socket` to `targets.http2` or `targets.http1` (see the file comment). A socket that
 * closes, fails or stays silent (`firstBytesTimeoutMs`, default 10 s) before the protocol is
 * known is destroyed without reaching either.
 */
export function dispatchConnection(socket: Socket, targets: ConnectionTargets, options: DispatchOptions = {}): void {
  if (options.alpnProtocol === 'h2') {
    targets.http2(socket);
    return;
  }
  if (options.alpnProtocol === 'http/1.1') {
    targets.http1(socket);
    return;
  }
  let head: Buffer | undefined;
  const timer = setTimeout(() => {
    cleanup();
    socket.destroy();
  }, options.firstBytesTimeoutMs ?? FIRST_BYTES_TIMEOUT_MS);
  const cleanup = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onGone);
    socket.off('close', onGone);
  };
  const onGone = (): void => {
    cleanup();
    socket.destroy();
  };
  const onData = (chunk: Buffer): void => {
    head = head === undefined ? chunk : Buffer.concat([head, chunk]);
    const protocol = protocolOf(head);
    if (protocol === undefined) {
      return;
    }
    cleanup();
    socket.pause();
    socket.unshift(head);
    if (protocol === 'http2') {
      targets.http2(socket);
    } else {
      targets.http1(socket);
    }
    socket.resume();
  };
  socket.on('data', onData);
  socket.on('error', onGone);
  socket.on('close', onGone);
}
