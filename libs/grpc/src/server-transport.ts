/**
 * The server's sockets: the listener, which connections are admitted (`./connection-admission`),
 * what each one speaks, and the one sweep timer that drives every connection's deadlines.
 * GrpcServer adds routing and calls on top.
 *
 *     listener ─► admitted? ─no─► destroyed
 *                    │ yes
 *                    ▼
 *                 TLS? ─► handshake (client certificate verified when asked) ─► ALPN
 *                    │                                                           │
 *                    ▼                                                           ▼
 *          first bytes = HTTP/2 preface? ─┬─ yes ─► H2ServerConnection ◄─ "h2"  (no ALPN: first bytes)
 *                     (./connection-dispatch)  └─ no ──► Http1Connections ◄─ "http/1.1"
 *
 *     sweep (every sweepPeriodMs) ─► opening connections past handshakeTimeoutMs destroyed;
 *                                    tick(elapsed) on every HTTP/2 and HTTP/1.1 connection
 *
 * Without an HTTP/1.1 handler every connection is HTTP/2 (and TLS offers only "h2"). A
 * connection is `opening` from accept until it is handed to one side: the TLS handshake and the
 * first bytes together must fit in handshakeTimeoutMs; the HTTP/2 preface and SETTINGS then have
 * their own handshake deadline, and the HTTP/1.1 side its request deadlines. Both sides count
 * against the same admission (connections per address and in total).
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { ConnectionAdmission, type AdmittedConnection } from './connection-admission';
import { dispatchConnection } from './connection-dispatch';
import { type ConnectionLimits, type H2ServerLimits, sweepPeriodMs } from './h2/limits';
import { type H2ServerOptions, H2ServerConnection, type StreamListener } from './h2/server-connection';
import type { GrpcLimitObserver } from './server-observer';
import { type Http1Handler, Http1Connections } from './http1-connections';

/** TLS on the client port. */
export interface ServerTlsOptions {
  /** Our certificate, and the CAs that verify client certificates (a CertificateStore: re-read as the files change). */
  readonly certificates: { secureContext(): tls.SecureContext };
  /**
   * Every client must present a certificate the CAs verify (etcd's --client-cert-auth, which a
   * CA bundle alone turns on in etcd 3.4: the apps decide). A client without one is refused in
   * the handshake (TLS alert); one whose certificate does not verify once it completes.
   */
  readonly clientCertAuth: boolean;
  /** A handshake that failed (no or a bad client certificate, a client that does not speak TLS, a timeout). */
  readonly onError?: (error: Error, remoteAddress: string) => void;
}

/**
 * Why the client's certificate is refused, or undefined when it verifies. OpenSSL only checks
 * that one was sent (Node's verify callback accepts every chain so that JavaScript decides:
 * even tls.Server refuses a certificate from another CA only after the handshake, with no
 * alert); the chain, the CA and the dates are checked here, as tls.Server does for its own
 * sockets (Node's TLSWrap keeps the verification result for JavaScript to act on).
 */
function clientCertificateRefusal(secure: tls.TLSSocket): Error | undefined {
  const handle = (secure as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  if (handle?.verifyError === undefined) {
    return new Error('cannot verify the client certificate: this Node.js does not expose the verification result');
  }
  const error = handle.verifyError();
  return error === null ? undefined : new Error(`client certificate refused: ${error.message}`);
}

/** One accepted connection, from accept until its socket closes. */
interface Accepted {
  /** What it is handed to: none yet (TLS handshake, first bytes), HTTP/2 or HTTP/1.1. */
  side: 'opening' | 'http2' | 'http1';
  /** The socket it speaks on (the TLS socket once TLS wraps the TCP one). */
  stream: net.Socket;
  readonly acceptedAtMs: number;
  /** While TLS is still handshaking (to say so when the deadline passes). */
  tlsHandshaking: boolean;
  h2: H2ServerConnection | undefined;
}

export class ServerTransport {
  private readonly netServer: net.Server;
  private readonly connections = new Set<H2ServerConnection>();
  /** Every admitted connection until its socket closes. */
  private readonly accepted = new Set<Accepted>();
  private readonly http1: Http1Connections | undefined;
  /** The limits, with the limit observer's hooks. */
  private readonly h2Options: H2ServerOptions;
  private readonly admission: ConnectionAdmission;
  private sweepTimer: NodeJS.Timeout | undefined;
  private lastSweepAt = 0;
  /** The sweep's clock, ms (advanced by each sweep). */
  private clockMs = 0;
  private accepting = true;
  private emptyListener: (() => void) | undefined;

  constructor(
    private readonly limits: H2ServerLimits,
    connectionLimits: ConnectionLimits,
    private readonly onStream: StreamListener,
    private readonly tlsOptions?: ServerTlsOptions,
    /** Serves HTTP/1.1 on the same port (ALPN "http/1.1", or first bytes that are not the HTTP/2 preface). */
    http1Handler?: Http1Handler,
    /** Told of every answer over a limit (metrics). */
    private readonly limitObserver?: GrpcLimitObserver,
  ) {
    this.admission = new ConnectionAdmission(connectionLimits);
    this.h2Options =
      limitObserver === undefined
        ? limits
        : { ...limits, events: { connectionError: (code) => limitObserver.connectionError(code), streamRefused: () => limitObserver.streamRefused() } };
    this.http1 = http1Handler === undefined ? undefined : new Http1Connections(http1Handler, limits);
    this.netServer = net.createServer((socket) => this.accept(socket)); // H2Connection turns Nagle's algorithm off
  }

  /** Connections served (HTTP/2 and HTTP/1.1) whose socket has not closed yet. */
  get connectionCount(): number {
    return this.connections.size + (this.http1?.size ?? 0);
  }

  /** Admission counters (connections now, refused and evicted so far). */
  get admissionCounts(): ConnectionAdmission['counts'] {
    return this.admission.counts;
  }

  /** What each open HTTP/2 connection holds (tests, the fuzzer's bounds). */
  connectionStats(): ReturnType<H2ServerConnection['stats']>[] {
    return [...this.connections].map((connection) => connection.stats());
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  async listen(port: number, host: string): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.netServer.once('error', reject);
      this.netServer.listen(port, host, () => {
        this.netServer.off('error', reject);
        resolve();
      });
    });
    this.startSweep();
    const address = this.netServer.address() as net.AddressInfo;
    return { host: address.address, port: address.port };
  }

  /** Admits an accepted socket (destroys it otherwise) and starts telling what it speaks. */
  private accept(socket: net.Socket): void {
    if (!this.accepting) {
      socket.destroy();
      return;
    }
    const entry: Accepted = { side: 'opening', stream: socket, acceptedAtMs: this.clockMs, tlsHandshaking: false, h2: undefined };
    const admitted: AdmittedConnection = {
      address: socket.remoteAddress ?? '?',
      silent: () => this.silent(entry),
      evict: () => {
        this.limitObserver?.connectionEvicted();
        entry.stream.destroy();
      },
    };
    if (!this.admission.admit(admitted)) {
      this.limitObserver?.connectionRefused();
      socket.destroy();
      return;
    }
    this.accepted.add(entry);
    this.startSweep();
    // Released once the socket has closed and, for HTTP/2, the handlers of its streams have ended.
    // (A TLS socket takes the TCP socket's handle over: its own 'close' may be the only one.)
    let gone = false;
    const onGone = (): void => {
      if (gone) {
        return;
      }
      gone = true;
      this.accepted.delete(entry);
      if (entry.h2 === undefined) {
        this.admission.release(admitted);
      } else {
        entry.h2.onWorkDone(() => this.admission.release(admitted));
      }
    };
    socket.once('close', onGone);
    if (this.tlsOptions === undefined) {
      this.dispatch(entry, undefined);
      return;
    }
    const secure = this.startTls(entry, socket, this.tlsOptions);
    secure.once('close', onGone);
  }

  /** True while `entry` holds its slot without having asked for anything (the admission may evict it). */
  private silent(entry: Accepted): boolean {
    switch (entry.side) {
      case 'opening':
        return true;
      case 'http2':
        return entry.h2 === undefined || entry.h2.handshaking;
      case 'http1':
        return this.http1 === undefined || this.http1.silent(entry.stream);
    }
  }

  /** Hands `entry` to HTTP/2 or HTTP/1.1: by ALPN when TLS negotiated it, else by its first bytes. */
  private dispatch(entry: Accepted, alpnProtocol: string | false | null | undefined): void {
    const http1 = this.http1;
    if (http1 === undefined) {
      this.serveHttp2(entry, entry.stream);
      return;
    }
    dispatchConnection(
      entry.stream,
      {
        http2: (stream) => this.serveHttp2(entry, stream),
        http1: (stream) => {
          entry.side = 'http1';
          http1.accept(stream, () => this.checkEmpty());
        },
      },
      { alpnProtocol },
    );
  }

  private serveHttp2(entry: Accepted, stream: net.Socket): void {
    const connection = new H2ServerConnection(stream, this.h2Options, this.onStream);
    entry.side = 'http2';
    entry.h2 = connection;
    this.connections.add(connection);
    stream.once('close', () => {
      this.connections.delete(connection);
      this.checkEmpty();
    });
  }

  /** The TLS handshake, then the client certificate check, then dispatch (by ALPN). */
  private startTls(entry: Accepted, socket: net.Socket, options: ServerTlsOptions): tls.TLSSocket {
    const remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const secure = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext: options.certificates.secureContext(),
      // With both, OpenSSL ends a handshake without a client certificate with an alert (certificate required).
      requestCert: options.clientCertAuth,
      rejectUnauthorized: options.clientCertAuth,
      ALPNProtocols: this.http1 === undefined ? ['h2'] : ['h2', 'http/1.1'],
    });
    entry.stream = secure;
    entry.tlsHandshaking = true;
    secure.on('error', (error: Error) => {
      if (entry.tlsHandshaking) {
        entry.tlsHandshaking = false;
        options.onError?.(error, remoteAddress);
      }
      secure.destroy();
    });
    secure.once('secure', () => {
      entry.tlsHandshaking = false;
      const refusal = options.clientCertAuth ? clientCertificateRefusal(secure) : undefined;
      if (refusal !== undefined) {
        options.onError?.(refusal, remoteAddress);
        secure.destroy();
        return;
      }
      this.dispatch(entry, secure.alpnProtocol);
    });
    return secure;
  }

  /**
   * Stops accepting: the listening socket closes at once. (net.Server's own close callback
   * waits for every connection it counted, which a TLS socket that took over its TCP socket's
   * handle never reports; the connections are tracked here instead.)
   */
  stopAccepting(): Promise<void> {
    this.accepting = false;
    if (this.netServer.listening) {
      this.netServer.close();
    }
    return Promise.resolve();
  }

  /**
   * Shutdown: GOAWAY on every HTTP/2 connection (no new streams; each closes once its streams
   * finish); HTTP/1.1 connections close once their answers are sent; connections that have
   * not said what they speak are closed now.
   */
  closeConnections(): void {
    for (const connection of this.connections) {
      connection.close();
    }
    this.http1?.drain();
    for (const entry of this.accepted) {
      if (entry.side === 'opening') {
        entry.stream.destroy();
      }
    }
  }

  /** Destroys every connection and the listener at once. */
  destroy(): void {
    this.accepting = false;
    for (const connection of this.connections) {
      connection.destroy();
    }
    this.http1?.destroy();
    for (const entry of this.accepted) {
      entry.stream.destroy();
    }
    if (this.netServer.listening) {
      this.netServer.close();
    }
    this.stopSweep();
  }

  /** Calls `listener` (once) when no connection is left. */
  whenEmpty(listener: () => void): void {
    this.emptyListener = listener;
    this.checkEmpty();
  }

  private checkEmpty(): void {
    if (this.connectionCount === 0) {
      if (!this.accepting) {
        this.stopSweep();
      }
      const listener = this.emptyListener;
      this.emptyListener = undefined;
      listener?.();
    }
  }

  private startSweep(): void {
    if (this.sweepTimer === undefined) {
      this.lastSweepAt = performance.now();
      this.sweepTimer = setInterval(() => this.sweep(), sweepPeriodMs(this.limits)).unref();
    }
  }

  private stopSweep(): void {
    if (this.sweepTimer !== undefined) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
    }
  }

  /** The one clock reading of a sweep, handed to every connection as elapsed time. */
  private sweep(): void {
    const now = performance.now();
    const elapsedMs = now - this.lastSweepAt;
    this.lastSweepAt = now;
    this.clockMs += elapsedMs;
    for (const connection of this.connections) {
      connection.tick(elapsedMs);
    }
    this.http1?.tick(elapsedMs);
    const timeoutMs = this.limits.handshakeTimeoutMs;
    for (const entry of this.accepted) {
      if (entry.side === 'opening' && this.clockMs - entry.acceptedAtMs >= timeoutMs) {
        if (entry.tlsHandshaking) {
          entry.tlsHandshaking = false;
          this.tlsOptions?.onError?.(new Error(`no TLS handshake within ${timeoutMs} ms`), `${entry.stream.remoteAddress ?? '?'}:${entry.stream.remotePort ?? '?'}`);
        }
        entry.stream.destroy();
      }
    }
  }
}
