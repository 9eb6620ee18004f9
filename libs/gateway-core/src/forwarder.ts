/**
 * Sends each client call to the right member and, when an attempt fails in a way that allows
 * it, again — within the client's deadline:
 *
 *     call ─► route kind ─► write without a session? ─► lease a gateway session, take seq n
 *                  │                                          │
 *                  ▼                                          ▼
 *            pick target (leader / spread / leader-or-any) ─► raw call ─► answer ─► client
 *                  ▲                                             │ failure
 *                  └── wait for a leader change or back off ◄── classify: retry allowed and time left?
 *                                                                │ no
 *                                       final answer, or "may or may not have applied" for writes
 *
 * Every write the gateway sends carries a session (the client's, or one of the gateway's), so
 * a retry after an unknown outcome applies at most once: the state machine replays the first
 * answer. Calls of kind `once` (membership changes and other admin actions) are never sent
 * again after an unknown outcome. When the directory sees leadership move, attempts still in
 * flight to the old leader are cancelled and sent to the new one at once.
 */
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import type { Metadata, ServerCall } from '@keyval/grpc';
import { IndeterminateWriteError, NoLeaderError, GatewayDeadlineError } from './gateway.errors';
import type { MemberDirectory, Upstream } from './member-directory';
import { rangeIsSerializable } from './raw-codec';
import { backoffMs, classifyFailure, mayRetry } from './retry-policy';
import type { FailureClass } from './retry-policy';
import type { GatewayObserver } from './gateway-observer';
import type { Route } from './routes';
import type { SessionPool, WriteSession } from './session-pool';
import type { UpstreamPool } from './upstream-pool';
import { isLeadershipReason, outcomeOf } from '@keyval/outcome';
import { CLIENT_ID_KEY, HOP_METADATA_KEYS, LEADER_HINT_TRAILER, SEQUENCE_KEY } from './wire';

/** What the forwarder works with, and its tuning. */
export interface ForwarderOptions {
  readonly directory: MemberDirectory;
  readonly pool: UpstreamPool;
  readonly sessions: SessionPool;
  /** Deadline of a call that brings none, ms. */
  readonly defaultTimeoutMs: number;
  /** Serializable Range requests: spread over the members, or all to the leader. */
  readonly serializableReads: 'spread' | 'leader';
  /** Most attempts per call (default 64). */
  readonly attemptsMax?: number;
  /**
   * How long attempts may still wait on a deposed leader that does not answer probes before
   * they are sent to the new one, ms (default 500; four times that if it answers probes).
   */
  readonly leaderMoveGraceMs?: number;
  /** Hears about calls and retries (metrics). Default: none. */
  readonly observer?: GatewayObserver;
}

/** Counters for metrics and tests. */
export interface ForwarderStats {
  calls: number;
  attempts: number;
  retries: number;
  /** Attempts cancelled because leadership had moved away from their member (and they still waited). */
  leaderMoveCancels: number;
  /** Writes answered "may or may not have applied". */
  indeterminateWrites: number;
  /** Gateway sessions renewed after the state machine refused them. */
  sessionRenewals: number;
  /** Calls sent with one of the gateway's own sessions. */
  gatewaySessionWrites: number;
}

type TargetMode = 'leader' | 'spread' | 'leader-or-any';

/** How a series of attempts ended. */
type Outcome =
  | { readonly ok: true; readonly response: Buffer }
  | { readonly ok: false; readonly error: Error; readonly failure: FailureClass; readonly mayHaveApplied: boolean; readonly attempts: number };

/** Times a write may renew its gateway session after refusals (a limit on everything). */
const SESSION_RENEWALS_MAX = 3;
/** A deposed leader that still answers probes keeps its attempts this many grace periods. */
const LINGER_FACTOR = 4;
/** Not-leader hints followed without a pause before backing off. */
const HINTS_FOLLOWED_AT_ONCE = 3;
/** Share of a call's time (at most ANSWER_MARGIN_MAX_MS) kept to answer before the client gives up. */
const ANSWER_MARGIN_FRACTION = 0.05;
const ANSWER_MARGIN_MAX_MS = 250;
const LEADER_MOVED = 'leader changed: the gateway sends this call to the new leader';

/**
 * Forwards calls with retries (see the file comment). One per gateway; its `stats` count what
 * it did. Never throws anything but the error to answer the client with.
 */
export class Forwarder {
  readonly stats: ForwarderStats = { calls: 0, attempts: 0, retries: 0, leaderMoveCancels: 0, indeterminateWrites: 0, sessionRenewals: 0, gatewaySessionWrites: 0 };
  private readonly attemptsMax: number;
  private readonly leaderMoveGraceMs: number;
  private spreadNext = 0;
  private lastLeader: Upstream | undefined;
  private winding = false;

  constructor(private readonly options: ForwarderOptions) {
    this.attemptsMax = options.attemptsMax ?? 64;
    this.leaderMoveGraceMs = options.leaderMoveGraceMs ?? 500;
    options.directory.onLeaderChange((_previous, next) => this.leaderChanged(next));
  }

  /**
   * The end of a shutdown's grace period: calls still waiting on members are cancelled and
   * answered now, with what is known (a write that may have applied: "may or may not have
   * been applied"), rather than cut off without an answer; nothing is sent again.
   */
  windDown(): void {
    this.winding = true;
    this.options.pool.cancelAll('the gateway is shutting down');
  }

  /** Forwards one unary call; resolves with the member's raw answer, rejects with the error to answer. */
  async unary(route: Route, request: Buffer, call: ServerCall): Promise<Buffer> {
    this.stats.calls += 1;
    this.options.observer?.request(route.kind);
    const deadline = this.answerBy(call);
    if (route.kind === 'write') {
      return this.write(route, request, call, deadline);
    }
    const spread = route.kind === 'read' && this.options.serializableReads === 'spread' && serializable(request);
    const outcome = await this.attempt(route, request, call, deadline, outgoing(call.metadata), spread ? 'spread' : route.kind === 'idempotent' ? 'leader-or-any' : 'leader');
    if (outcome.ok) {
      return outcome.response;
    }
    throw outcome.error;
  }

  /** A write: with the client's session as it is, else under one of the gateway's sessions. */
  private async write(route: Route, request: Buffer, call: ServerCall, deadline: number): Promise<Buffer> {
    const metadata = outgoing(call.metadata);
    if (metadata.get(CLIENT_ID_KEY) !== undefined || metadata.get(SEQUENCE_KEY) !== undefined) {
      return this.settleWrite(await this.attempt(route, request, call, deadline, metadata, 'leader'));
    }
    this.stats.gatewaySessionWrites += 1;
    const leased = this.options.sessions.acquire(deadline);
    const session: WriteSession = leased instanceof Promise ? await leased : leased;
    try {
      for (let renewals = 0; ; renewals++) {
        metadata.set(CLIENT_ID_KEY, session.clientId);
        metadata.set(SEQUENCE_KEY, String(session.takeSeq()));
        const outcome = await this.attempt(route, request, call, deadline, metadata, 'leader');
        // The state machine refused the session (evicted, expired) and no attempt may have
        // applied: nothing happened, so the write may go again under a fresh session.
        if (!outcome.ok && outcome.failure === 'session-refused' && !outcome.mayHaveApplied && renewals < SESSION_RENEWALS_MAX) {
          this.options.sessions.renew(session);
          this.stats.sessionRenewals += 1;
          this.options.observer?.retry('session-refused');
          continue;
        }
        return this.settleWrite(outcome);
      }
    } finally {
      this.options.sessions.release(session);
    }
  }

  private settleWrite(outcome: Outcome): Buffer {
    if (outcome.ok) {
      return outcome.response;
    }
    if (outcome.mayHaveApplied && outcome.failure !== 'final') {
      this.stats.indeterminateWrites += 1;
      throw new IndeterminateWriteError(outcome.attempts, outcome.error.message);
    }
    throw outcome.error;
  }

  /** Attempts until an answer, a failure that may not be retried, or the deadline. */
  private async attempt(route: Route, request: Buffer, call: ServerCall, deadline: number, metadata: Metadata, mode: TargetMode): Promise<Outcome> {
    let mayHaveApplied = false;
    let lastFailed: string | undefined;
    let hinted: string | undefined;
    for (let attempt = 1; ; attempt++) {
      const epoch = this.options.directory.epoch;
      let target: string;
      try {
        target = hinted ?? (await this.pick(mode, deadline, lastFailed));
      } catch (error) {
        if (!(error instanceof NoLeaderError)) throw error;
        return { ok: false, error, failure: 'not-applied', mayHaveApplied, attempts: attempt - 1 };
      }
      this.stats.attempts += 1;
      try {
        const leaderBound = mode === 'leader' && route.kind !== 'once';
        // No abort signal per call (it costs an AbortController each): a call the client
        // cancelled ends at its deadline at the latest, and is not sent again (below).
        const response = await this.options.pool.unary(target, route.path, request, { deadline, metadata }, leaderBound);
        return { ok: true, response };
      } catch (error) {
        if (!(error instanceof GrpcStatusError)) throw error;
        const failure = classifyFailure(error);
        mayHaveApplied ||= failure === 'maybe-applied';
        lastFailed = target;
        hinted = mode === 'leader' ? this.hint(target, error, failure) : undefined;
        const timeLeft = deadline - Date.now();
        if (!mayRetry(route.kind, failure) || timeLeft <= 1 || attempt >= this.attemptsMax || this.winding || call.signal.aborted) {
          return { ok: false, error, failure, mayHaveApplied, attempts: attempt };
        }
        this.stats.retries += 1;
        if (failure !== 'final' && failure !== 'session-refused') {
          this.options.observer?.retry(failure);
        }
        // Follow a leader hint at once, a few times; after that (members pointing at each
        // other during an election) back off like any retry.
        if ((hinted === undefined || attempt > HINTS_FOLLOWED_AT_ONCE) && this.options.directory.epoch === epoch) {
          await this.options.directory.waitForChange(epoch, Math.min(deadline, Date.now() + backoffMs(attempt)));
        }
      }
    }
  }

  /**
   * Tells the directory what a failure says about the member that answered it. Returns the
   * address of the leader a not-leader answer named (its `keyval-leader` trailer), if that is
   * a member the directory knows, and not `target` itself: the next attempt goes straight there.
   */
  private hint(target: string, error: GrpcStatusError, failure: FailureClass): string | undefined {
    if (failure === 'not-applied' && isLeadershipReason(outcomeOf(error).reason)) {
      this.options.directory.reportNotLeader(target);
      const hint = error.metadata[LEADER_HINT_TRAILER];
      const address = typeof hint === 'string' && /^[0-9a-f]{1,16}$/.test(hint) ? this.options.directory.addressOf(BigInt(`0x${hint}`)) : undefined;
      return address === target ? undefined : address;
    }
    if (error.code === GrpcStatus.UNAVAILABLE) {
      this.options.directory.reportUnreachable(target);
    }
    return undefined;
  }

  private async pick(mode: TargetMode, deadline: number, avoid: string | undefined): Promise<string> {
    const directory = this.options.directory;
    if (mode === 'spread') {
      const targets = directory.readTargets();
      for (let i = 0; i < targets.length; i++) {
        this.spreadNext = (this.spreadNext + 1) % targets.length;
        const target = targets[this.spreadNext] as string;
        if (target !== avoid || targets.length === 1) return target;
      }
    } else if (mode === 'leader-or-any') {
      const leader = directory.leader()?.authority;
      if (leader !== undefined && leader !== avoid) return leader;
      const any = directory.readTargets().find((t) => t !== avoid);
      if (any !== undefined) return any;
    }
    const leader = directory.leader() ?? (await directory.waitForLeader(deadline));
    return leader.authority;
  }

  /**
   * Leadership moved to `next`. Attempts still waiting on the previous leader are cancelled and
   * sent again to the new one — `leaderMoveGraceMs` later if the old leader does not answer
   * probes (paused, cut off, dead), `LINGER_FACTOR` times that if it does. Not at once: a
   * deposed leader that is alive answers its pending writes (applied, or "leader changed"), and
   * cancelling them all would hand the new leader a duplicate of each to replay — under an
   * election storm, a retry storm.
   */
  private leaderChanged(next: Upstream | undefined): void {
    if (next === undefined) {
      return; // none known for now: calls to the old leader may still succeed
    }
    const previous = this.lastLeader;
    this.lastLeader = next;
    if (previous === undefined || previous.authority === next.authority) {
      return;
    }
    const waiting = this.options.pool.leaderBoundCalls(previous.authority);
    if (waiting.length === 0) {
      return;
    }
    const cancel = (): void => {
      for (const call of waiting) {
        if (call.cancel(LEADER_MOVED)) this.stats.leaderMoveCancels += 1;
      }
    };
    setTimeout(() => {
      if (this.options.directory.isAnswering(previous.authority)) {
        setTimeout(cancel, (LINGER_FACTOR - 1) * this.leaderMoveGraceMs).unref();
      } else {
        cancel();
      }
    }, this.leaderMoveGraceMs).unref();
  }

  /**
   * When the gateway must have its answer (ms since the epoch): a little before the client's
   * deadline (or the default one), so that the client receives the gateway's own verdict —
   * "may or may not have applied" — rather than only its own timer's.
   */
  private answerBy(call: ServerCall): number {
    const now = Date.now();
    const deadline = call.deadline ?? now + this.options.defaultTimeoutMs;
    const left = deadline - now;
    if (left <= 0) {
      throw new GatewayDeadlineError('the deadline passed before the gateway could send the call');
    }
    return deadline - Math.min(ANSWER_MARGIN_MAX_MS, Math.max(1, Math.floor(left * ANSWER_MARGIN_FRACTION)));
  }
}

/**
 * The metadata to send upstream: the client's own (the call's object, which the gateway may
 * change: nothing else reads it), minus what belongs to one hop. The client's user-agent goes
 * along; the forwarded mark is a member's, never a client's.
 */
export function outgoing(incoming: Metadata): Metadata {
  for (const key of HOP_METADATA_KEYS) {
    incoming.remove(key);
  }
  return incoming;
}

/** Whether a Range request asks for a serializable read (false for bytes that do not parse). */
function serializable(request: Buffer): boolean {
  try {
    return rangeIsSerializable(request);
  } catch {
    return false;
  }
}
