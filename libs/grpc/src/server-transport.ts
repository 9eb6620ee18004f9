/**
 * The server's sockets: the listener, which connections are admitted (`./connection-admission`),
 * the HTTP/2 connection each one gets, and the one sweep timer that drives every connection's
 * deadlines (`H2ServerConnection.tick`). GrpcServer adds routing and calls on top.
 *
 *     listener ─► accept ─► admitted? ─no─► destroyed
 *                              │ yes
 *                              ▼
 *                   H2ServerConnection(socket) ─► streams ─► onStream
 *     sweep (every sweepPeriodMs) ─► tick(elapsed) on every connection, until its socket closes
 *
 * `accept` also takes a socket someone else accepted (a listener that serves more than gRPC on
 * one port hands over the connections that speak HTTP/2); it is admitted the same way.
 *
 * With TLS, every admitted socket is wrapped in a server-side TLSSocket with the current
 * certificate (re-read when its files change), and ALPN decides what it speaks:
 *
 *     admitted ─► TLS handshake (within handshakeTimeoutMs; client certificate verified when
 *                 clientCertAuth) ─► ALPN "h2" (or none) ─► H2ServerConnection
 *                                  └► ALPN "http/1.1" ─► tls.http1 (health, metrics), if given
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { ConnectionAdmission, type AdmittedConnection } from './connection-admission';
import { type ConnectionLimits, type H2ServerLimits, sweepPeriodMs } from './h2/limits';
import { H2ServerConnection, type StreamListener } from './h2/server-connection';

/** TLS on the client port. */
export interface ServerTlsOptions {
  /** Our certificate, and the CAs that verify client certificates (a CertificateStore: re-read as the files change). */
  readonly certificates: { secureContext(): tls.SecureContext };
  /** Every client must present a certificate the CAs verify (etcd's --client-cert-auth). */
  readonly clientCertAuth: boolean;
  /** Serves connections that chose HTTP/1.1 by ALPN (health, metrics); without it only h2 is offered. */
  readonly http1?: (socket: tls.TLSSocket) => void;
  /** A handshake that failed (no or a bad client certificate, a client that does not speak TLS, a timeout). */
  readonly onError?: (error: Error, remoteAddress: string) => void;
}

/**
 * Why the client's certificate is refused, or undefined when it verifies. OpenSSL only checks
 * that one was sent; the chain, the CA and the dates are checked here, as tls.Server does for
 * its own sockets (Node's TLSWrap keeps the verification result for JavaScript to act on).
 */
function clientCertificateRefusal(secure: tls.TLSSocket): Error | undefined {
  const handle = (secure as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  if (handle?.verifyError === undefined) {
    return new Error('cannot verify the client certificate: this Node.js does not expose the verification result');
  }
  const error = handle.verifyError();
  return error === null ? undefined : new Error(`client certificate refused: ${error.message}`);
}

export class ServerTransport {
  private readonly netServer: net.Server;
  private readonly connections = new Set<H2ServerConnection>();
  /** Every admitted socket until it closes (destroyed with the server). */
  private readonly sockets = new Set<net.Socket>();
  /** TLS sockets still in their handshake, with when it began (performance.now()). */
  private readonly handshakes = new Map<tls.TLSSocket, number>();
  private readonly admission: ConnectionAdmission;
  private sweepTimer: NodeJS.Timeout | undefined;
  private lastSweepAt = 0;
  private accepting = true;
  private emptyListener: (() => void) | undefined;

  constructor(
    private readonly limits: H2ServerLimits,
    connectionLimits: ConnectionLimits,
    private readonly onStream: StreamListener,
    private readonly tlsOptions?: ServerTlsOptions,
  ) {
    this.admission = new ConnectionAdmission(connectionLimits);
    this.netServer = net.createServer((socket) => this.accept(socket)); // H2Connection turns Nagle's algorithm off
  }

  /** Connections whose socket has not closed yet. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Admission counters (connections now, refused and evicted so far). */
  get admissionCounts(): ConnectionAdmission['counts'] {
    return this.admission.counts;
  }

  /** What each open connection holds (tests, the fuzzer's bounds). */
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

  /** Serves HTTP/2 (over TLS when configured) on an accepted socket, if admitted (destroys it otherwise). */
  accept(socket: net.Socket): void {
    if (!this.accepting) {
      socket.destroy();
      return;
    }
    const opening: { connection?: H2ServerConnection } = {};
    const admitted: AdmittedConnection = {
      address: socket.remoteAddress ?? '?',
      silent: () => opening.connection === undefined || opening.connection.handshaking,
      evict: () => socket.destroy(),
    };
    if (!this.admission.admit(admitted)) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    this.startSweep();
    const serve = (stream: net.Socket): void => {
      const opened = new H2ServerConnection(stream, this.limits, this.onStream);
      opening.connection = opened;
      this.connections.add(opened);
      stream.once('close', () => {
        this.connections.delete(opened);
        opened.onWorkDone(() => this.admission.release(admitted));
        this.checkEmpty();
      });
    };
    if (this.tlsOptions === undefined) {
      serve(socket);
      return;
    }
    const closed = (): void => {
      if (opening.connection === undefined) {
        this.admission.release(admitted); // the handshake failed, or HTTP/1.1 had it (release is idempotent)
      }
    };
    socket.once('close', closed);
    const secure = this.startTls(socket, this.tlsOptions, serve);
    // The TLS socket takes the TCP socket's handle over: its own 'close' is the one that comes.
    this.sockets.add(secure);
    secure.once('close', () => {
      this.sockets.delete(secure);
      closed();
    });
  }

  /** The TLS handshake, then ALPN: h2 (or no ALPN) to `serve`, http/1.1 to the options' handler. */
  private startTls(socket: net.Socket, options: ServerTlsOptions, serve: (stream: net.Socket) => void): tls.TLSSocket {
    const remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const secure = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext: options.certificates.secureContext(),
      requestCert: options.clientCertAuth,
      rejectUnauthorized: options.clientCertAuth,
      ALPNProtocols: options.http1 === undefined ? ['h2'] : ['h2', 'http/1.1'],
    });
    this.handshakes.set(secure, performance.now());
    secure.on('error', (error: Error) => {
      if (this.handshakes.delete(secure)) {
        options.onError?.(error, remoteAddress);
      }
      secure.destroy();
    });
    secure.once('close', () => this.handshakes.delete(secure));
    secure.once('secure', () => {
      this.handshakes.delete(secure);
      const refusal = options.clientCertAuth ? clientCertificateRefusal(secure) : undefined;
      if (refusal !== undefined) {
        options.onError?.(refusal, remoteAddress);
        secure.destroy();
        return;
      }
      if (secure.alpnProtocol === 'http/1.1' && options.http1 !== undefined) {
        options.http1(secure);
      } else {
        serve(secure);
      }
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

  /** GOAWAY on every connection: no new streams; each closes once its streams finish. */
  closeConnections(): void {
    for (const connection of this.connections) {
      connection.close();
    }
  }

  /** Destroys every connection and the listener at once. */
  destroy(): void {
    this.accepting = false;
    for (const connection of this.connections) {
      connection.destroy();
    }
    for (const socket of this.sockets) {
      socket.destroy();
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
    if (this.connections.size === 0) {
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
    for (const connection of this.connections) {
      connection.tick(elapsedMs);
    }
    for (const [secure, startedAt] of this.handshakes) {
      if (now - startedAt >= this.limits.handshakeTimeoutMs) {
        this.handshakes.delete(secure);
        this.tlsOptions?.onError?.(new Error(`no TLS handshake within ${this.limits.handshakeTimeoutMs} ms`), `${secure.remoteAddress ?? '?'}:${secure.remotePort ?? '?'}`);
        secure.destroy();
      }
    }
  }
}
