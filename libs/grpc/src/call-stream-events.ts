/**
 * How a stream's events reach its call without a closure per call: the listeners are module
 * functions shared by every call, registered on the stream, and find their call through a
 * symbol on the stream (`this` is the stream). A call attaches itself once (`attachCall`);
 * its request side (data, end) is listened to only when it has a handler to run.
 *
 *     H2Stream ── 'close' / 'wantTrailers' / 'error' ─► onStream* ─► stream[CALL].handle*()
 *              └─ 'data' / 'end' (listenToRequest) ───────────────►
 */
import type { H2Stream } from './h2/stream';

/** What a call does with its stream's events. */
export interface StreamEventSink {
  /** Bytes of request arrived. */
  handleData(chunk: Buffer): void;
  /** The client half-closed (or Node ended the readable side of a stream it tore down). */
  handleEnd(): void;
  /** The stream closed: the call is over for the transport. */
  handleClose(): void;
  /** The stream is ready for the call's trailers. */
  handleWantTrailers(): void;
}

const CALL = Symbol('grpc-call');
type CallStream = H2Stream & { [CALL]?: StreamEventSink };

/** Points `stream` at `call` and listens to its close, error and trailer events. */
export function attachCall(stream: H2Stream, call: StreamEventSink): void {
  (stream as CallStream)[CALL] = call;
  stream.on('close', onStreamClose);
  stream.on('error', ignoreStreamError);
  stream.on('wantTrailers', onStreamWantTrailers);
}

/** Listens to the request side of `stream` (its data and its end), for its attached call. */
export function listenToRequest(stream: H2Stream): void {
  stream.on('data', onStreamData);
  stream.on('end', onStreamEnd);
}

function onStreamData(this: CallStream, chunk: Buffer): void {
  this[CALL]?.handleData(chunk);
}
function onStreamEnd(this: CallStream): void {
  this[CALL]?.handleEnd();
}
function onStreamClose(this: CallStream): void {
  this[CALL]?.handleClose();
}
function onStreamWantTrailers(this: CallStream): void {
  this[CALL]?.handleWantTrailers();
}
function ignoreStreamError(): void {
  // A stream error always ends in 'close', where the call is settled; the error itself
  // (usually a reset by the peer) carries nothing the call can act on.
}
