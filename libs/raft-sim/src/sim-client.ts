/**
 * A simulated client: one operation at a time (put, get, cas, delete over a small key
 * space), sent to the member it believes leads (or, sometimes, a random one). It follows
 * redirects, retries definite refusals with a short backoff, and gives up at a deadline.
 *
 * A write is never re-sent once an attempt may have reached the log: an attempt without an
 * answer makes the operation indeterminate (`info`) and the client moves on under a new
 * process id (Jepsen style). Reads have no effect, so they are retried anywhere until the
 * deadline. Every operation is recorded with its invoke and complete points.
 */
import type { ClientReply, ClientRequest } from './client-protocol';
import type { ClientProfile } from './fault-profile';
import type { HistoryOp, HistoryRecorder, OpStatus } from './history';
import type { KvCommand } from './kv-state-machine';
import type { SimRandom } from './sim-random';

export interface ClientHost {
  readonly now: number;
  schedule(delayMs: number, run: () => void): void;
  /** Sends a request over the client network to member `member`. */
  sendRequest(client: SimClient, member: number, request: ClientRequest): void;
  /** Ids of members a client may contact (every started member). */
  memberIds(): readonly number[];
  log(line: string): void;
}

type OpKind = 'get' | 'put' | 'delete' | 'cas';

interface ActiveOp {
  readonly opId: string;
  readonly f: OpKind;
  readonly key: string;
  readonly value: string | null;
  readonly expected: string | null;
  readonly callTime: number;
  readonly callMs: number;
  readonly deadlineMs: number;
  readonly lease: boolean;
  /** The attempt last sent. */
  attempt: number;
  /** Bumped whenever the operation moves on; scheduled callbacks check it. */
  epoch: number;
  /** Whether an attempt is out and its reply would be accepted. */
  awaiting: boolean;
}

type OpMix = readonly (readonly [OpKind, number])[];
/** Relative weights of the operations a client issues. */
export const DEFAULT_OP_MIX: OpMix = [['get', 4], ['put', 3], ['cas', 2], ['delete', 1]];
const READ_ONLY_MIX: OpMix = [['get', 1]];

/** Retry backoff after a definite refusal, in ms. */
const BACKOFF_MIN_MS = 2;
const BACKOFF_MAX_MS = 25;

export class SimClient {
  private process: number;
  private leaderGuess: number | undefined = undefined;
  private op: ActiveOp | undefined = undefined;
  private opCount = 0;
  private stopped = false;
  /** Only reads from now on (the liveness phase's read-only step). */
  private readOnly = false;
  private readonly lastSeen = new Map<string, string | null>();
  /** Simulated time of the most recent `ok` completion, and of its invocation. */
  lastOkMs = -1;
  lastOkCallMs = -1;
  readonly stats = { ok: 0, fail: 0, info: 0, redirects: 0, retries: 0 };

  constructor(
    readonly index: number,
    private readonly profile: ClientProfile,
    private readonly r: SimRandom,
    private readonly history: HistoryRecorder,
    private readonly host: ClientHost,
  ) {
    this.process = history.newProcess();
  }

  get busy(): boolean {
    return this.op !== undefined;
  }

  /** Begins issuing operations after `delayMs`. */
  start(delayMs: number): void {
    this.stopped = false;
    this.host.schedule(delayMs, () => this.startOp());
  }

  /** Issue only reads (true) or the profile's mix again (false), from the next operation on. */
  setReadOnly(readOnly: boolean): void {
    this.readOnly = readOnly;
  }

  /** Whether the operation in flight, if any, is a read. */
  get readingOrIdle(): boolean {
    return this.op === undefined || this.op.f === 'get';
  }

  /** No new operations after the current one. */
  stop(): void {
    this.stopped = true;
  }

  private startOp(): void {
    if (this.stopped || this.op !== undefined || this.history.full) {
      return;
    }
    this.opCount++;
    const opId = `c${this.index}-${this.opCount}`;
    const key = `k${this.r.nextInt(this.profile.keys)}`;
    const f = this.r.weighted<OpKind>(this.readOnly ? READ_ONLY_MIX : (this.profile.opMix ?? DEFAULT_OP_MIX));
    const value = f === 'put' || f === 'cas' ? `v${this.index}.${this.opCount}` : null;
    const expected = f === 'cas' ? this.casExpectation(key) : null;
    const now = this.host.now;
    this.op = {
      opId, f, key, value, expected,
      callTime: this.history.tick(),
      callMs: now,
      deadlineMs: now + this.profile.opDeadlineMs,
      lease: f === 'get' && this.r.chance(this.profile.leaseReadProb),
      attempt: 0,
      epoch: 0,
      awaiting: false,
    };
    this.sendAttempt();
  }

  private casExpectation(key: string): string | null {
    if (this.r.chance(0.7) && this.lastSeen.has(key)) {
      return this.lastSeen.get(key) ?? null;
    }
    return this.r.chance(0.3) ? null : `v${this.r.nextInt(this.index + 1)}.${this.r.between(1, Math.max(1, this.opCount))}`;
  }

  private target(): number {
    const ids = this.host.memberIds();
    if (this.leaderGuess !== undefined && ids.includes(this.leaderGuess) && !this.r.chance(this.profile.randomMemberProb)) {
      return this.leaderGuess;
    }
    return this.r.pick(ids);
  }

  private sendAttempt(): void {
    const op = this.op;
    if (op === undefined) {
      return;
    }
    op.attempt++;
    op.epoch++;
    op.awaiting = true;
    const epoch = op.epoch;
    const member = this.target();
    this.host.sendRequest(this, member, this.request(op));
    this.host.schedule(this.profile.attemptTimeoutMs, () => {
      if (this.op === op && op.epoch === epoch) {
        this.onAttemptTimeout(op);
      }
    });
  }

  private request(op: ActiveOp): ClientRequest {
    const base = { client: this.index, opId: op.opId, attempt: op.attempt };
    if (op.f === 'get') {
      return { kind: 'get', ...base, key: op.key, lease: op.lease };
    }
    return { kind: 'write', ...base, command: this.command(op) };
  }

  private command(op: ActiveOp): KvCommand {
    switch (op.f) {
      case 'put':
        return { kind: 'put', opId: op.opId, key: op.key, value: op.value ?? '' };
      case 'delete':
        return { kind: 'delete', opId: op.opId, key: op.key };
      default:
        return { kind: 'cas', opId: op.opId, key: op.key, expected: op.expected, newValue: op.value };
    }
  }

  private onAttemptTimeout(op: ActiveOp): void {
    this.leaderGuess = undefined;
    if (op.f !== 'get') {
      // The attempt may have reached the log: never re-send it.
      this.complete(op, 'info', undefined);
      return;
    }
    this.retry(op);
  }

  /** A reply arrived; stale ones (another operation or attempt) are ignored. */
  onReply(reply: ClientReply): void {
    const op = this.op;
    if (op === undefined || !op.awaiting || reply.opId !== op.opId || reply.attempt !== op.attempt) {
      return;
    }
    const outcome = reply.outcome;
    switch (outcome.type) {
      case 'ok':
        this.complete(op, 'ok', outcome);
        return;
      case 'redirect':
        this.stats.redirects++;
        this.leaderGuess = outcome.leader;
        this.retry(op);
        return;
      case 'rejected':
      case 'failed':
        this.retry(op);
        return;
      case 'unknown':
        if (op.f === 'get') {
          this.retry(op);
        } else {
          this.complete(op, 'info', undefined);
        }
        return;
    }
  }

  /** Every earlier attempt definitely had no effect (or is a read): try again, or fail at the deadline. */
  private retry(op: ActiveOp): void {
    const backoff = this.r.between(BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    if (this.host.now + backoff >= op.deadlineMs) {
      this.complete(op, 'fail', undefined);
      return;
    }
    this.stats.retries++;
    op.awaiting = false;
    op.epoch++;
    const epoch = op.epoch;
    this.host.schedule(backoff, () => {
      if (this.op === op && op.epoch === epoch) {
        this.sendAttempt();
      }
    });
  }

  private complete(op: ActiveOp, status: OpStatus, outcome: { value?: string | null; succeeded?: boolean } | undefined): void {
    const now = this.host.now;
    const returnTime = this.history.tick();
    const historyOp = this.historyOp(op, status, outcome, returnTime);
    this.history.record({ op: historyOp, opId: op.opId, callMs: op.callMs, returnMs: now, attempts: op.attempt });
    this.stats[status]++;
    this.op = undefined;
    if (status === 'ok') {
      this.lastOkMs = now;
      this.lastOkCallMs = op.callMs;
      this.learn(op, outcome);
    }
    if (status === 'info') {
      this.process = this.history.newProcess();
    }
    this.host.log(`c${this.index} ${op.opId} ${op.f} ${op.key} -> ${status}${outcome?.value !== undefined ? ` ${String(outcome.value)}` : ''}${outcome?.succeeded === false ? ' (cas no match)' : ''}`);
    if (!this.stopped) {
      this.host.schedule(this.r.between(0, this.profile.thinkMaxMs) + 1, () => this.startOp());
    }
  }

  private learn(op: ActiveOp, outcome: { value?: string | null; succeeded?: boolean } | undefined): void {
    if (op.f === 'get') {
      this.lastSeen.set(op.key, outcome?.value ?? null);
    } else if (op.f === 'put' || (op.f === 'cas' && outcome?.succeeded === true)) {
      this.lastSeen.set(op.key, op.value);
    } else if (op.f === 'delete') {
      this.lastSeen.set(op.key, null);
    }
  }

  private historyOp(op: ActiveOp, status: OpStatus, outcome: { value?: string | null; succeeded?: boolean } | undefined, returnTime: number): HistoryOp {
    const base = { process: this.process, key: op.key, callTime: op.callTime, returnTime, status };
    switch (op.f) {
      case 'get':
        return status === 'ok' ? { ...base, f: 'get', output: outcome?.value ?? null } : { ...base, f: 'get' };
      case 'put':
        return { ...base, f: 'put', value: op.value ?? '' };
      case 'delete':
        return { ...base, f: 'delete' };
      case 'cas':
        return status === 'ok'
          ? { ...base, f: 'cas', expected: op.expected, newValue: op.value, succeeded: outcome?.succeeded === true }
          : { ...base, f: 'cas', expected: op.expected, newValue: op.value };
    }
  }
}
