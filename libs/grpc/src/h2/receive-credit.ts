/**
 * Receive-side flow control for one connection (RFC 9113 §5.2, §6.9): the window the peer has
 * left for DATA to us, and the WINDOW_UPDATE frames that give consumed bytes back, on the
 * connection and on each stream. Credit is batched: an update goes out once half a window has
 * been consumed, so that a stream of small DATA frames does not cost one update each.
 *
 * A stream's window is credited as soon as its bytes reach the application (a message may be
 * larger than the window); the connection's only once the application no longer holds them
 * (a partial message is held until it completes), so the connection window bounds the request
 * bytes one connection can make us hold, whatever the number of its streams.
 *
 *     DATA in ─► receiveData ─► connection window
 *     stream delivered ─► creditStream ─(half of its window)─► WINDOW_UPDATE n
 *     bytes released (message complete, stream closed, padding, dropped) ─► release ─(half, or window low)─► WINDOW_UPDATE 0
 *
 * This runs for every DATA frame, so it only does arithmetic on fields and writes frames into
 * the connection's FrameWriter; the caller schedules the flush when told something was written.
 */
import { DEFAULT_WINDOW, type FrameWriter, H2Error, H2ProtocolError, writeWindowUpdate } from './frame';
import type { H2Stream } from './stream';

/** Tracks what the peer may still send us and what we owe it back, for one connection. */
export class ReceiveCredit {
  /** Window the peer has left on the connection for DATA to us. */
  private window = DEFAULT_WINDOW;
  /** Connection bytes consumed and not yet credited. */
  private uncredited = 0;

  /**
   * Must be built after the connection's SETTINGS are written: when the connection window is to
   * be larger than the protocol's default, this writes the WINDOW_UPDATE that grows it.
   */
  constructor(
    private readonly out: FrameWriter,
    private readonly connectionWindowBytes: number,
    private readonly streamWindowBytes: number,
  ) {
    if (connectionWindowBytes > DEFAULT_WINDOW) {
      writeWindowUpdate(out, 0, connectionWindowBytes - DEFAULT_WINDOW);
      this.window = connectionWindowBytes;
    }
  }

  /**
   * Counts a DATA payload of `bytes` (padding included) against the connection window; it is
   * given back by `release`. Throws FLOW_CONTROL_ERROR past the window.
   */
  receiveData(bytes: number): void {
    this.window -= bytes;
    if (this.window < 0) {
      throw new H2ProtocolError(H2Error.FLOW_CONTROL_ERROR, `the peer sent more DATA than the connection window of ${this.connectionWindowBytes} bytes allows`);
    }
  }

  /**
   * Gives `bytes` of received DATA back to the connection window. The update goes out once half
   * the window is owed, or at once while the peer has less than half left (bytes held elsewhere
   * must not keep released ones from it). Returns true when a WINDOW_UPDATE was written.
   */
  release(bytes: number): boolean {
    this.uncredited += bytes;
    const half = this.connectionWindowBytes / 2;
    if (this.uncredited <= 0 || (this.uncredited < half && this.window >= half)) {
      return false;
    }
    writeWindowUpdate(this.out, 0, this.uncredited);
    this.window += this.uncredited;
    this.uncredited = 0;
    return true;
  }

  /** Bytes the peer may still send on the connection. */
  get windowLeft(): number {
    return this.window;
  }

  /**
   * Credits `bytes` of `stream` back to the peer: ones the application consumed, or padding.
   * A stream the peer has ended gets no more credit, as it can send nothing more. Returns true
   * when a WINDOW_UPDATE was written.
   */
  creditStream(stream: H2Stream, bytes: number): boolean {
    if (bytes <= 0 || stream.remoteEnded) {
      return false;
    }
    stream.uncredited += bytes;
    if (stream.uncredited < this.streamWindowBytes / 2) {
      return false;
    }
    writeWindowUpdate(this.out, stream.id, stream.uncredited);
    stream.receiveWindow += stream.uncredited;
    stream.uncredited = 0;
    return true;
  }
}
