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
 */
import * as net from 'node:net';
import { ConnectionAdmission, type AdmittedConnection } from './connection-admission';
import { type ConnectionLimits, type H2ServerLimits, sweepPeriodMs } from './h2/limits';
import { H2ServerConnection, type StreamListener } from './h2/server-connection';

export class ServerTransport {
  private readonly netServer: net.Server;
  private readonly connections = new Set<H2ServerConnection>();
  private readonly admission: ConnectionAdmission;
  private sweepTimer: NodeJS.Timeout | undefined;
  private lastSweepAt = 0;
  private accepting = true;
  private emptyListener: (() => void) | undefined;

  constructor(
    private readonly limits: H2ServerLimits,
    connectionLimits: ConnectionLimits,
    private readonly onStream: StreamListener,
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

  /** Serves HTTP/2 on an accepted socket, if admitted (destroys it otherwise). */
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
    this.startSweep();
    const opened = new H2ServerConnection(socket, this.limits, this.onStream);
    opening.connection = opened;
    this.connections.add(opened);
    socket.once('close', () => {
      this.connections.delete(opened);
      opened.onWorkDone(() => this.admission.release(admitted));
      this.checkEmpty();
    });
  }

  /** Stops accepting; resolves once the listener has closed. */
  stopAccepting(): Promise<void> {
    this.accepting = false;
    return new Promise<void>((resolve) => this.netServer.close(() => resolve()));
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
    this.netServer.close();
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
  }
}
