/**
 * The gateway's own exactly-once sessions, for writes whose client brought none.
 *
 * A session's sequence numbers must reach the state machine in increasing order: it applies
 * seq n once, replays n's answer to a retry of n, and refuses anything below the last applied
 * seq as stale. With many writes in flight on one session, a retry of seq 5 arriving after
 * seq 6 applied would be refused — so each session carries **at most one write at a time**
 * (all attempts of that write share its seq), and concurrency comes from many sessions:
 *
 *     acquire ─► idle session (most recently used first) ─► write seq n, retries with seq n ─► release
 *            └─► none idle: a new one (up to sessionsMax) ─┘        (next write on it: n + 1)
 *            └─► all busy: wait (FIFO) until one is released or the deadline passes
 *
 * Client ids are random per gateway process (`gw-<16 hex>-<n>`): a restarted gateway never
 * continues, at seq 1, a session that an earlier run left at seq 500 (that would be stale).
 * A session idle longer than `idleRenewMs` gets a fresh client id before reuse, long before
 * the state machine's session TTL (1 h of log time) could expire it; one the state machine
 * refuses anyway (evicted, expired) is renewed by the forwarder (`renew`).
 */
import { randomBytes } from 'node:crypto';
import { SessionsExhaustedError } from './gateway.errors';

/** Bounds and clock of a session pool. */
export interface SessionPoolOptions {
  /** Most sessions (= most gateway-sequenced writes in flight at once). */
  readonly sessionsMax: number;
  /** A session unused for this long gets a new client id before its next write, ms. */
  readonly idleRenewMs: number;
  /** Clock, ms (default Date.now). */
  readonly now?: () => number;
  /** Client id prefix (default `gw-<16 random hex digits>`). */
  readonly idPrefix?: string;
}

/** One session: a client id and the next sequence number to use. */
export class WriteSession {
  private next = 1;
  /** When the session was last released, ms. */
  lastUsedMs: number;

  constructor(
    public clientId: string,
    nowMs: number,
  ) {
    this.lastUsedMs = nowMs;
  }

  /** The sequence number for the next write (1, 2, 3...): every attempt of that write uses it. */
  takeSeq(): number {
    const seq = this.next;
    this.next += 1;
    return seq;
  }

  /** Starts over under a new client id (the state machine will see seq 1 of a new session). */
  restart(clientId: string): void {
    this.clientId = clientId;
    this.next = 1;
  }
}

interface Waiter {
  readonly resolve: (session: WriteSession) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The pool (see the file comment). Invariants: a session is either idle or lent, never both;
 * idle + lent ≤ sessionsMax; waiters exist only while every session is lent.
 */
export class SessionPool {
  private readonly idle: WriteSession[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly busy = new Set<WriteSession>();
  private readonly now: () => number;
  private readonly prefix: string;
  private counter = 0;
  /** Sessions given a new client id (idle too long, or refused by the state machine). */
  renewals = 0;

  constructor(private readonly options: SessionPoolOptions) {
    if (!Number.isSafeInteger(options.sessionsMax) || options.sessionsMax < 1) {
      throw new RangeError(`SessionPool: sessionsMax must be a positive integer, got ${options.sessionsMax}`);
    }
    this.now = options.now ?? Date.now;
    this.prefix = options.idPrefix ?? `gw-${randomBytes(8).toString('hex')}`;
  }

  /** Sessions that exist (idle + busy); never more than sessionsMax. */
  get size(): number {
    return this.idle.length + this.busy.size;
  }

  get busyCount(): number {
    return this.busy.size;
  }

  /**
   * A session for one write, exclusively until `release`. Synchronous when one is idle or may
   * be created; otherwise waits, and rejects with SessionsExhaustedError at `deadlineMs`.
   */
  acquire(deadlineMs: number): WriteSession | Promise<WriteSession> {
    const session = this.idle.pop() ?? (this.size < this.options.sessionsMax ? new WriteSession(this.newId(), this.now()) : undefined);
    if (session !== undefined) {
      return this.lend(session);
    }
    return new Promise<WriteSession>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const at = this.waiters.indexOf(waiter);
          if (at >= 0) {
            this.waiters.splice(at, 1);
          }
          reject(new SessionsExhaustedError(this.options.sessionsMax));
        }, Math.max(0, deadlineMs - this.now())),
      };
      this.waiters.push(waiter);
    });
  }

  /** Gives a session back after its write ended (answered, failed or abandoned). */
  release(session: WriteSession): void {
    if (!this.busy.delete(session)) {
      throw new Error(`SessionPool: session ${session.clientId} released but not lent`);
    }
    session.lastUsedMs = this.now();
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      clearTimeout(waiter.timer);
      waiter.resolve(this.lend(session));
    } else {
      this.idle.push(session);
      this.assertInvariants();
    }
  }

  /** Gives a lent session a new client id, starting at seq 1 (after the state machine refused it). */
  renew(session: WriteSession): void {
    if (!this.busy.has(session)) {
      throw new Error(`SessionPool: session ${session.clientId} renewed but not lent`);
    }
    this.renewals += 1;
    session.restart(this.newId());
  }

  /** Fails every waiting acquire (shutdown). */
  close(): void {
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new SessionsExhaustedError(this.options.sessionsMax));
    }
  }

  private lend(session: WriteSession): WriteSession {
    if (this.now() - session.lastUsedMs > this.options.idleRenewMs) {
      this.renewals += 1;
      session.restart(this.newId());
    }
    this.busy.add(session);
    this.assertInvariants();
    return session;
  }

  /** A broken pool could lend one session twice (stale sequence numbers): fail loudly instead. */
  private assertInvariants(): void {
    if (this.size > this.options.sessionsMax) {
      throw new Error(`SessionPool invariant: ${this.size} sessions exceed the maximum of ${this.options.sessionsMax}`);
    }
    if (this.waiters.length > 0 && this.idle.length > 0) {
      throw new Error('SessionPool invariant: writes wait while sessions are idle');
    }
  }

  private newId(): string {
    this.counter += 1;
    return `${this.prefix}-${this.counter.toString(36)}`;
  }
}
