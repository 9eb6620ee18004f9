/**
 * What the server sends besides messages: the fixed response headers, status trailers, the
 * wait for a congested stream, and the handling of a client that keeps sending after its call
 * has ended.
 */
import type * as http2 from 'node:http2';
import { H2Error } from './h2/frame';
import type { H2Stream, RespondOptions } from './h2/stream';
import type { StatusMetadata } from './grpc-status.error';
import { encodeGrpcMessage, Metadata } from './metadata';
import type { GrpcStatus } from './status';

export const RESPONSE_HEADERS: http2.OutgoingHttpHeaders = Object.freeze({
  ':status': 200,
  'content-type': 'application/grpc',
  'grpc-accept-encoding': 'identity',
});
export const OK_TRAILERS: http2.OutgoingHttpHeaders = Object.freeze({ 'grpc-status': '0' });

/**
 * How long a client that is still sending after its call ended may keep the stream open
 * before we reset it. Not at once: a reset sent right behind the status can overtake it.
 */
const RESET_AFTER_STATUS_MS = 1_000;
/** Response headers with trailers to follow, and a headers-only (trailers-only) answer. */
export const RESPOND_OPTIONS: RespondOptions = Object.freeze({ waitForTrailers: true });
export const RESPOND_END_OPTIONS: RespondOptions = Object.freeze({ endStream: true });

/** The status trailers (or trailers-only headers): code, percent-encoded message, metadata. */
export function statusTrailers(
  code: GrpcStatus,
  details: string,
  trailers: Metadata | undefined,
  extra: StatusMetadata | undefined,
): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = { 'grpc-status': String(code) };
  if (details !== '') {
    out['grpc-message'] = encodeGrpcMessage(details);
  }
  trailers?.writeTo(out);
  if (extra !== undefined && Object.keys(extra).length > 0) {
    Metadata.from(extra).writeTo(out);
  }
  return out;
}

/**
 * After the status, a client still sending is read and ignored (so flow control does not
 * stall it before it sees the status) and, if it has not stopped after a while, reset.
 */
export function discardRestOfRequest(stream: H2Stream): void {
  stream.resume();
  const timer = setTimeout(() => {
    if (!stream.closed && !stream.destroyed) {
      stream.close(H2Error.NO_ERROR);
    }
  }, RESET_AFTER_STATUS_MS).unref();
  stream.once('close', () => clearTimeout(timer));
}

/** Resolves when `stream` can take more bytes ('drain') or has closed, whichever comes first. */
export function drainedOrClosed(stream: H2Stream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
