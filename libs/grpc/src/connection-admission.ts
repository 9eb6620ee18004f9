/**
 * Which accepted TCP connections the server keeps: at most `maxConnectionsPerAddress` from one
 * IP address and `maxConnections` in total, counted from accept until the socket has closed
 * and the handlers of its streams have ended (a client that resets its streams and reconnects
 * cannot leave more work behind than its connections allow).
 *
 *     accept ─► over the address's limit? ─yes─► refused (socket destroyed)
 *                 │ no
 *                 ▼
 *               at the total limit? ─yes─► evict the oldest connection still in its handshake
 *                 │ no                      (TLS, preface, first SETTINGS); none? ─► refused
 *                 ▼
 *               admitted ... released (socket closed, work done)
 *
 * New connections are never starved by silent ones: a connection that has not finished its
 * handshake holds its slot only until a newer one needs it (or its handshake timeout).
 */
import type { ConnectionLimits } from './h2/limits';

/** One admitted connection, as the admission sees it. */
export interface AdmittedConnection {
  readonly address: string;
  /** True while the connection has not finished its handshake. */
  readonly silent: () => boolean;
  /** Destroys the connection (it is released when its socket closes). */
  readonly evict: () => void;
}

export interface AdmissionCounts {
  readonly total: number;
  readonly refused: number;
  readonly evicted: number;
}

export class ConnectionAdmission {
  /** Admitted connections, oldest first (a Set keeps insertion order). */
  private readonly admitted = new Set<AdmittedConnection>();
  private readonly perAddress = new Map<string, number>();
  private refused = 0;
  private evicted = 0;

  constructor(private readonly limits: ConnectionLimits) {}

  get counts(): AdmissionCounts {
    return { total: this.admitted.size, refused: this.refused, evicted: this.evicted };
  }

  /** Connections from `address` now. */
  countOf(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  /** Admits `connection`, evicting a silent one when the total is reached; false when refused. */
  admit(connection: AdmittedConnection): boolean {
    const fromAddress = this.perAddress.get(connection.address) ?? 0;
    if (fromAddress >= this.limits.maxConnectionsPerAddress) {
      this.refused += 1;
      return false;
    }
    if (this.admitted.size >= this.limits.maxConnections && !this.evictSilent()) {
      this.refused += 1;
      return false;
    }
    this.admitted.add(connection);
    this.perAddress.set(connection.address, fromAddress + 1);
    return true;
  }

  /** The connection's socket has closed and its work is done. Idempotent. */
  release(connection: AdmittedConnection): void {
    if (!this.admitted.delete(connection)) {
      return;
    }
    const left = (this.perAddress.get(connection.address) ?? 1) - 1;
    if (left === 0) {
      this.perAddress.delete(connection.address);
    } else {
      this.perAddress.set(connection.address, left);
    }
  }

  /** Frees a slot by destroying the oldest connection still in its handshake; false when there is none. */
  private evictSilent(): boolean {
    for (const connection of this.admitted) {
      if (connection.silent()) {
        this.release(connection);
        this.evicted += 1;
        connection.evict();
        return true;
      }
    }
    return false;
  }
}
