/**
 * The HTTP/1.1 side of the client port (`/metrics`, `/health`...): a `node:http` request
 * listener answers the connections the transport hands over (ALPN "http/1.1", or first bytes
 * that are not the HTTP/2 preface: `./connection-dispatch`), under the same bounds as the
 * HTTP/2 side, driven by the transport's sweep (`tick`).
 *
 *     handed a socket ─► waiting ──(a request head is complete)──► answering ──(its answer is sent)──┐
 *                          ▲                                                                        │
 *                          └────────────────────────────────────────────────────────────────────────┘
 *     waiting    a complete request head within requestHeadersTimeoutMs of the connection's
 *                start or of its previous answer (node:http also closes it 5 s after an answer)
 *     answering  the answer begun (its head sent) within requestBodyTimeoutMs of the request head
 *                (0: never); a begun answer may stream on (etcd's JSON watch) while its client reads
 *     always     bytes the client leaves unread in the socket for keepaliveTimeoutMs: destroyed
 *
 * Why not node:http's own `headersTimeout` and `requestTimeout`: they are enforced by a checker
 * that `http.Server` starts only when it listens itself (`setupConnectionsTracking` runs on
 * 'listening'). This server never listens, it is handed sockets, so without these deadlines a
 * client sending its request head a byte at a time would hold its connection slot forever
 * (slowloris); `closeIdleConnections` and `closeAllConnections` depend on the same tracking and do
 * nothing here either, so shutdown closes the connections itself.
 *
 * A connection with no request in flight is `silent` for the admission: at the connection limit
 * it makes room for a new one (a client must expect an idle HTTP/1.1 connection to be closed:
 * RFC 9112 §9.5).
 */
import * as http from 'node:http';
import type * as net from 'node:net';
import type { H2ServerLimits } from './h2/limits';

/** A request listener for the HTTP/1.1 side of the port (as `http.createServer` takes). */
export type Http1Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void;

/** The limits of `H2ServerLimits` the HTTP/1.1 side applies too. */
export type Http1Limits = Pick<H2ServerLimits, 'maxHeaderListBytes' | 'requestHeadersTimeoutMs' | 'requestBodyTimeoutMs' | 'keepaliveTimeoutMs'>;

/** node:http's idle time after an answer (it says `Keep-Alive: timeout=5`), and requests per connection. */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
const REQUESTS_PER_CONNECTION_MAX = 1_000;

interface Http1Connection {
  readonly socket: net.Socket;
  /** Requests whose answer has not been sent yet (pipelined requests can be several). */
  inFlight: number;
  /** Their answers (drain tells those not started yet to close the connection). */
  readonly answers: Set<http.ServerResponse>;
  /** When the connection started waiting for a request head, or its oldest answer began (the sweep's clock). */
  sinceMs: number;
  /** Unsent bytes at the last sweep that saw them change, and since when. */
  lastUnsentBytes: number;
  unsentSinceMs: number;
}

export class Http1Connections {
  private readonly server: http.Server;
  private readonly connections = new Map<net.Socket, Http1Connection>();
  /** Advanced by `tick` only. */
  private clockMs = 0;
  private draining = false;

  constructor(
    handler: Http1Handler,
    private readonly limits: Http1Limits,
    /** Told when a connection is closed for passing a deadline (diagnostics). */
    private readonly onTimeout?: (reason: string, socket: net.Socket) => void,
  ) {
    // headersTimeout and requestTimeout are left at node's values: they are never checked here (see the file comment).
    this.server = http.createServer({ maxHeaderSize: limits.maxHeaderListBytes, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS }, (request, response) => this.onRequest(request, response, handler));
    this.server.maxRequestsPerSocket = REQUESTS_PER_CONNECTION_MAX;
  }

  /** Connections open now. */
  get size(): number {
    return this.connections.size;
  }

  /** Serves `socket` as HTTP/1.1 (its listeners attach synchronously); `onClosed` once it has closed. */
  accept(socket: net.Socket, onClosed: () => void): void {
    const connection: Http1Connection = { socket, inFlight: 0, answers: new Set(), sinceMs: this.clockMs, lastUnsentBytes: 0, unsentSinceMs: this.clockMs };
    this.connections.set(socket, connection);
    socket.once('close', () => {
      this.connections.delete(socket);
      onClosed();
    });
    if (this.draining) {
      socket.destroy();
      return;
    }
    this.server.emit('connection', socket);
  }

  /** True when `socket` has no request in flight (the admission may close it to make room). */
  silent(socket: net.Socket): boolean {
    return (this.connections.get(socket)?.inFlight ?? 0) === 0;
  }

  /** Applies the deadlines (the file comment); `elapsedMs` since the previous tick. */
  tick(elapsedMs: number): void {
    this.clockMs += elapsedMs;
    const now = this.clockMs;
    for (const connection of this.connections.values()) {
      const reason = this.overdue(connection, now);
      if (reason !== undefined) {
        this.onTimeout?.(reason, connection.socket);
        connection.socket.destroy();
      }
    }
  }

  /**
   * Shutdown: connections with no request in flight are closed now, the others once their
   * answers are sent (each says `Connection: close` if its head is not sent yet); connections
   * handed over later are closed at once.
   */
  drain(): void {
    this.draining = true;
    for (const connection of this.connections.values()) {
      if (connection.inFlight === 0) {
        connection.socket.destroy();
        continue;
      }
      for (const answer of connection.answers) {
        if (!answer.headersSent) {
          answer.shouldKeepAlive = false;
        }
      }
    }
  }

  /** Destroys every connection. */
  destroy(): void {
    this.draining = true;
    for (const connection of this.connections.values()) {
      connection.socket.destroy();
    }
  }

  private onRequest(request: http.IncomingMessage, response: http.ServerResponse, handler: Http1Handler): void {
    const connection = this.connections.get(request.socket);
    if (connection !== undefined) {
      if (connection.inFlight === 0) {
        connection.sinceMs = this.clockMs;
      }
      connection.inFlight += 1;
      connection.answers.add(response);
      response.once('close', () => {
        connection.answers.delete(response);
        this.answered(connection);
      });
    }
    if (this.draining) {
      response.shouldKeepAlive = false; // "Connection: close", and node closes it after the answer
    }
    handler(request, response);
  }

  private answered(connection: Http1Connection): void {
    connection.inFlight -= 1;
    connection.sinceMs = this.clockMs;
    if (connection.inFlight === 0 && this.draining) {
      connection.socket.end();
    }
  }

  /** Why `connection` must be closed now, or undefined. */
  private overdue(connection: Http1Connection, now: number): string | undefined {
    const unsent = connection.socket.writableLength;
    if (unsent === 0 || unsent !== connection.lastUnsentBytes) {
      connection.lastUnsentBytes = unsent;
      connection.unsentSinceMs = now;
    } else if (now - connection.unsentSinceMs >= this.limits.keepaliveTimeoutMs) {
      return `the client took none of ${unsent} unsent bytes for ${this.limits.keepaliveTimeoutMs} ms`;
    }
    const waitedMs = now - connection.sinceMs;
    if (connection.inFlight === 0) {
      const limitMs = this.limits.requestHeadersTimeoutMs;
      return waitedMs >= limitMs ? `no complete HTTP/1.1 request head within ${limitMs} ms` : undefined;
    }
    // Answers that have begun (a JSON watch streams its events) are bounded by the rule above.
    if ([...connection.answers].every((answer) => answer.headersSent)) {
      return undefined;
    }
    const limitMs = this.limits.requestBodyTimeoutMs;
    return limitMs > 0 && waitedMs >= limitMs ? `an HTTP/1.1 request not answered within ${limitMs} ms of its head` : undefined;
  }
}
