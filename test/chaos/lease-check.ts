/**
 * The lease workload's checker: a pure function over what the clients did with each lease and
 * what they and the final reads on every member observed. Times are ms of the client agent's
 * monotonic clock (`performance.now()`, CLOCK_MONOTONIC), which the members read too: all
 * processes run on one kernel and no fault of kill/pause/partition touches clocks.
 *
 * **No early expiry.** A lease is certainly alive until `sent + TTL` of each acknowledged
 * renewal (the grant, or a keepalive answered with TTL > 0), where `sent` is when the client
 * sent the request: the member renewed it at some moment between sending and the answer, so
 * the send time is the earliest the renewal can have happened and nothing later can be assumed.
 * A leader change only extends leases (the new leader adds an election timeout), so there is no
 * exception for it. An observation that the lease is gone — a linearizable read without the
 * key (its put acknowledged before the read began), TimeToLive answering -1, a keepalive
 * answered with TTL 0 — that *returned* before that bound (minus `EXPIRY_SLACK_MS`) is an
 * `early-expiry`, unless a revoke of the lease had been sent before.
 *
 * **Nothing outlives its lease.** A key read present after its lease's revoke was acknowledged
 * (`survived-revoke`), a key read present after it had been read absent (`resurrected`), a
 * keepalive answered TTL > 0 sent after the revoke was acknowledged (`renewed-after-revoke`),
 * and, at the end — after every lease's TTL ran out — any key of a lease still present, or a
 * lease still listed, on any member (`survivor`).
 */

/**
 * Slack on the expiry bound, ms. Both sides read the same CLOCK_MONOTONIC, and every step of
 * an expiry (the lessor's tick, the revoke through the log, the read) makes it later, never
 * earlier; the slack only absorbs rounding of the two processes' millisecond readings.
 */
export const EXPIRY_SLACK_MS = 25;

/** A call and how it ended, in agent-monotonic ms. */
export interface TimedCall {
  readonly callMs: number;
  readonly returnMs: number;
  readonly status: 'ok' | 'info' | 'fail';
}

/** One keepalive request and its answer (TTL 0: the member says the lease is gone). */
export interface KeepAliveAck {
  readonly sentMs: number;
  readonly ackMs: number;
  readonly ttlSeconds: number;
  /** The member (endpoint) that answered, for the report. */
  readonly via?: string;
}

/** A read of one key of the lease (linearizable). */
export interface KeyObservation {
  readonly key: string;
  readonly callMs: number;
  readonly returnMs: number;
  readonly present: boolean;
}

/** A TimeToLive answer (-1: no such lease). */
export interface TtlObservation {
  readonly callMs: number;
  readonly returnMs: number;
  readonly ttlSeconds: number;
}

/** Everything done with one lease. */
export interface LeaseHistory {
  /** The lease id, hexadecimal. */
  readonly id: string;
  /** What the client meant: keep it alive for a while, let it lapse, or revoke it. */
  readonly plan: 'keep' | 'lapse' | 'revoke';
  readonly grant: TimedCall;
  /** The TTL the grant answered (s). */
  readonly ttlSeconds: number;
  readonly keys: ReadonlyArray<{ readonly key: string } & TimedCall>;
  readonly keepAlives: readonly KeepAliveAck[];
  readonly revoke?: TimedCall;
  readonly observations: readonly KeyObservation[];
  readonly ttls: readonly TtlObservation[];
}

/** The end of the run, on one member: keys of the run's leases it still has, leases it still lists. */
export interface MemberFinalState {
  readonly member: string;
  /** undefined: this member could not be read. */
  readonly presentKeys?: readonly string[];
  readonly listedLeases?: readonly string[];
}

export type LeaseViolationKind = 'early-expiry' | 'survived-revoke' | 'resurrected' | 'renewed-after-revoke' | 'survivor';

export interface LeaseViolation {
  readonly kind: LeaseViolationKind;
  readonly lease: string;
  readonly text: string;
}

export interface LeaseCheckResult {
  readonly violations: readonly LeaseViolation[];
  readonly counts: Record<LeaseViolationKind, number>;
  /** Leases granted (acknowledged). */
  readonly leases: number;
  /** Acknowledged keepalives (TTL > 0). */
  readonly renewals: number;
  /** Observations of a lease being gone that the checker could hold to the bound. */
  readonly expiryObservations: number;
  /** Members whose final state could not be read. */
  readonly unread: readonly string[];
}

/** Acknowledged renewals as (sent, TTL) pairs: the grant and every keepalive answered TTL > 0. */
function renewals(lease: LeaseHistory): Array<{ sentMs: number; ttlSeconds: number }> {
  const out = lease.grant.status === 'ok' ? [{ sentMs: lease.grant.callMs, ttlSeconds: lease.ttlSeconds }] : [];
  for (const k of lease.keepAlives) if (k.ttlSeconds > 0) out.push({ sentMs: k.sentMs, ttlSeconds: k.ttlSeconds });
  return out;
}

/** The latest moment the lease is certainly alive, from renewals sent before `atMs`. */
function aliveUntil(lease: LeaseHistory, atMs: number): number {
  let until = Number.NEGATIVE_INFINITY;
  for (const r of renewals(lease)) if (r.sentMs <= atMs) until = Math.max(until, r.sentMs + 1000 * r.ttlSeconds);
  return until;
}

/** Observations that the lease is gone, each at the latest moment it can have been made. */
function goneObservations(lease: LeaseHistory): Array<{ atMs: number; what: string }> {
  const acked = new Map(lease.keys.filter((k) => k.status === 'ok').map((k) => [k.key, k.returnMs]));
  const out: Array<{ atMs: number; what: string }> = [];
  for (const o of lease.observations) {
    const putDone = acked.get(o.key);
    if (!o.present && putDone !== undefined && putDone < o.callMs) out.push({ atMs: o.returnMs, what: `read of ${o.key} found nothing` });
  }
  for (const t of lease.ttls) if (t.ttlSeconds === -1) out.push({ atMs: t.returnMs, what: 'TimeToLive answered -1' });
  for (const k of lease.keepAlives) if (k.ttlSeconds <= 0) out.push({ atMs: k.ackMs, what: 'a keepalive answered TTL 0' });
  return out;
}

function checkEarlyExpiry(lease: LeaseHistory, add: (kind: LeaseViolationKind, text: string) => void): number {
  const gone = goneObservations(lease);
  for (const g of gone) {
    if (lease.revoke !== undefined && lease.revoke.callMs < g.atMs) continue; // a revoke may explain it
    const until = aliveUntil(lease, g.atMs);
    if (g.atMs < until - EXPIRY_SLACK_MS) {
      add('early-expiry', `${g.what} at ${g.atMs.toFixed(0)} ms, ${(until - g.atMs).toFixed(0)} ms before its last acknowledged renewal's sent time + TTL (${until.toFixed(0)} ms)`);
    }
  }
  return gone.length;
}

function checkAfterlife(lease: LeaseHistory, add: (kind: LeaseViolationKind, text: string) => void): void {
  const revokedAt = lease.revoke?.status === 'ok' ? lease.revoke.returnMs : undefined;
  const goneAt = new Map<string, number>();
  const acked = new Map(lease.keys.filter((k) => k.status === 'ok').map((k) => [k.key, k.returnMs]));
  for (const o of [...lease.observations].sort((a, b) => a.callMs - b.callMs)) {
    if (o.present && revokedAt !== undefined && o.callMs > revokedAt) add('survived-revoke', `${o.key} read present at ${o.callMs.toFixed(0)} ms, after the revoke was acknowledged at ${revokedAt.toFixed(0)} ms`);
    const gone = goneAt.get(o.key);
    if (o.present && gone !== undefined && o.callMs > gone) add('resurrected', `${o.key} read present at ${o.callMs.toFixed(0)} ms after it was read absent (returned ${gone.toFixed(0)} ms)`);
    const putDone = acked.get(o.key);
    if (!o.present && putDone !== undefined && putDone < o.callMs && !goneAt.has(o.key)) goneAt.set(o.key, o.returnMs);
  }
  const firstGone = Math.min(...goneObservations(lease).map((g) => g.atMs));
  for (const k of lease.keepAlives) {
    if (k.ttlSeconds > 0 && revokedAt !== undefined && k.sentMs > revokedAt) add('renewed-after-revoke', `a keepalive sent at ${k.sentMs.toFixed(0)} ms was answered TTL ${k.ttlSeconds} after the revoke was acknowledged at ${revokedAt.toFixed(0)} ms`);
    else if (k.ttlSeconds > 0 && k.sentMs > firstGone) add('resurrected', `a keepalive sent at ${k.sentMs.toFixed(0)} ms was answered TTL ${k.ttlSeconds} after the lease was seen gone at ${firstGone.toFixed(0)} ms`);
  }
}

/** Checks a lease run; `finals` are the members' states read after every TTL ran out. */
export function checkLeaseRun(leases: readonly LeaseHistory[], finals: readonly MemberFinalState[]): LeaseCheckResult {
  const violations: LeaseViolation[] = [];
  let observed = 0;
  for (const lease of leases) {
    const add = (kind: LeaseViolationKind, text: string): void => {
      violations.push({ kind, lease: lease.id, text: `lease ${lease.id} (${lease.plan}, TTL ${lease.ttlSeconds} s): ${text}` });
    };
    observed += checkEarlyExpiry(lease, add);
    checkAfterlife(lease, add);
  }
  const leaseOfKey = new Map(leases.flatMap((l) => l.keys.map((k) => [k.key, l.id] as const)));
  const ids = new Set(leases.map((l) => l.id));
  for (const f of finals) {
    for (const key of f.presentKeys ?? []) {
      const id = leaseOfKey.get(key) ?? '?';
      violations.push({ kind: 'survivor', lease: id, text: `${f.member} still has ${key} of lease ${id} after every TTL ran out` });
    }
    for (const id of f.listedLeases ?? []) {
      if (ids.has(id)) violations.push({ kind: 'survivor', lease: id, text: `${f.member} still lists lease ${id} after every TTL ran out` });
    }
  }
  const kinds: readonly LeaseViolationKind[] = ['early-expiry', 'survived-revoke', 'resurrected', 'renewed-after-revoke', 'survivor'];
  return {
    violations,
    counts: Object.fromEntries(kinds.map((k) => [k, violations.filter((v) => v.kind === k).length])) as Record<LeaseViolationKind, number>,
    leases: leases.filter((l) => l.grant.status === 'ok').length,
    renewals: leases.reduce((n, l) => n + l.keepAlives.filter((k) => k.ttlSeconds > 0).length, 0),
    expiryObservations: observed,
    unread: finals.filter((f) => f.presentKeys === undefined).map((f) => f.member),
  };
}
