/**
 * The lease workload. Each worker's step is one lease's life:
 *
 *   grant (TTL 3–5 s, an id the client picks) ──► put two keys with the lease
 *     ──► keep:   keepalives a third of the TTL apart for 2–4 TTLs, then let it lapse
 *         lapse:  no keepalive
 *         revoke: revoke it after 0.3–1 TTL
 *     ──► meanwhile, every 150–400 ms: a linearizable read of one of its keys, now and then
 *         TimeToLive, until it is seen gone and its TTL has surely run out (or the run ends)
 *
 * recording the send and answer time of every call on the agent's monotonic clock. At the end
 * (writers stopped) it waits until every lease's last acknowledged renewal + TTL has passed,
 * then polls every member — a linearizable read of `lease/` and the member's lease list — until
 * none of the run's keys or leases is left, or a deadline passes. lease-check.ts judges it all.
 * Only the key puts go into the linearizability history (lincheck does not model expiry).
 */
import { createClient } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { delay } from './command';
import { LeaseClient } from './lease-client';
import { checkLeaseRun } from './lease-check';
import type { KeyObservation, LeaseHistory, MemberFinalState, TimedCall, TtlObservation, KeepAliveAck } from './lease-check';
import type { FinalReport, OpRecorder, Worker, Workload, WorkloadClient, WorkloadContext } from './workloads';
import { perform } from './workload-steps';

const PREFIX = 'lease/';
/** Granted TTLs, s (KeyVal's minimum at a 1 s election timeout is 2 s). */
const TTL_MIN_SECONDS = 3;
const TTL_SPREAD_SECONDS = 3;
/** After the lease is surely expired, how long a step keeps looking for its keys to vanish, ms. */
const OBSERVE_AFTER_MS = 3_000;
/** Beyond the last bound: a new leader adds an election timeout, the lessor ticks every 500 ms. */
const FINAL_GRACE_MS = 2_000;
/** How long, after the grace, the final poll waits for the members to drop everything, ms. */
const FINAL_POLL_MS = 20_000;
const VIOLATIONS_LISTED = 200;

const hex = (id: bigint): string => id.toString(16).padStart(16, '0');

/** One lease's record while its step runs. */
interface LiveLease {
  readonly id: bigint;
  readonly history: {
    id: string;
    plan: LeaseHistory['plan'];
    grant: TimedCall;
    ttlSeconds: number;
    keys: Array<{ key: string } & TimedCall>;
    keepAlives: KeepAliveAck[];
    revoke?: TimedCall;
    observations: KeyObservation[];
    ttls: TtlObservation[];
  };
}

export class LeaseWorkload implements Workload {
  readonly kind = 'lease';
  private readonly leases: LeaseHistory[] = [];
  private running = true;
  private readonly idBase: bigint;

  constructor(private readonly context: WorkloadContext) {
    // Ids: the seed's low 20 bits, the worker, a counter (positive, unique within the run and across seeds).
    this.idBase = BigInt(context.seed % 0x10_0000) << 36n;
  }

  stop(): void {
    this.running = false;
  }

  async step(worker: Worker, recorder: OpRecorder): Promise<void> {
    if (!this.running) return;
    const client = new LeaseClient(this.context.endpoints, worker.index, { opTimeoutMs: 5_000, attemptTimeoutMs: 2_000 });
    const id = this.idBase | (BigInt(worker.index) << 24n) | BigInt(++worker.count);
    const ttl = TTL_MIN_SECONDS + worker.random.int(TTL_SPREAD_SECONDS);
    const roll = worker.random.next();
    const plan: LeaseHistory['plan'] = roll < 0.4 ? 'keep' : roll < 0.7 ? 'lapse' : 'revoke';
    const grant = await client.grant(id, ttl);
    const live: LiveLease = { id, history: { id: hex(id), plan, grant, ttlSeconds: grant.ttlSeconds ?? ttl, keys: [], keepAlives: [], observations: [], ttls: [] } };
    this.leases.push(live.history);
    if (grant.status !== 'ok') return;
    for (const name of ['a', 'b']) {
      const key = `${PREFIX}${hex(id)}/${name}`;
      const callMs = performance.now();
      const outcome = await perform(worker, recorder, { process: worker.process, key, f: 'put', value: name }, () => worker.client.put(key, name, id));
      live.history.keys.push({ key, callMs, returnMs: performance.now(), status: outcome.status });
    }
    const ttlMs = 1000 * live.history.ttlSeconds;
    const lifeMs = plan === 'keep' ? ttlMs * (2 + 2 * worker.random.next()) : plan === 'revoke' ? ttlMs * (0.3 + 0.7 * worker.random.next()) : 0;
    const lifeEnd = performance.now() + lifeMs;
    const fate = plan === 'keep' ? this.keepAlive(client, live, lifeEnd) : plan === 'revoke' ? this.revokeAt(client, live, lifeEnd) : Promise.resolve();
    await Promise.all([fate, this.observe(worker, client, live, lifeEnd)]);
  }

  /**
   * Keepalives a third of the TTL apart until `untilMs` (or the run ends), pipelined as etcd's
   * client sends them; an unanswered stream is given up after a TTL (etcd's client gives up
   * the lease at its deadline).
   */
  private keepAlive(client: LeaseClient, live: LiveLease, untilMs: number): Promise<void> {
    const ttlMs = 1000 * live.history.ttlSeconds;
    return client.keepAliveUntil(live.id, { everyMs: Math.max(200, ttlMs / 3), patienceMs: ttlMs, untilMs }, () => this.running, live.history.keepAlives);
  }

  private async revokeAt(client: LeaseClient, live: LiveLease, atMs: number): Promise<void> {
    await delay(Math.max(0, atMs - performance.now()));
    const revoke = await client.revoke(live.id);
    live.history.revoke = revoke;
    if (revoke.gone) live.history.ttls.push({ callMs: revoke.callMs, returnMs: revoke.returnMs, ttlSeconds: -1 });
  }

  /** The latest moment the lease is certainly alive by its acknowledged renewals (agent ms). */
  private bound(h: LeaseHistory): number {
    const sent = [h.grant.callMs, ...h.keepAlives.filter((k) => k.ttlSeconds > 0).map((k) => k.sentMs)];
    return Math.max(...sent) + 1000 * h.ttlSeconds;
  }

  /** Reads the lease's keys (and now and then its TTL) until it is gone and surely expired. */
  private async observe(worker: Worker, client: LeaseClient, live: LiveLease, lifeEnd: number): Promise<void> {
    const keys = live.history.keys.filter((k) => k.status === 'ok').map((k) => k.key);
    let goneSeen = false;
    for (let n = 0; this.running; n++) {
      const now = performance.now();
      if (now > lifeEnd && goneSeen && now > this.bound(live.history)) return;
      if (now > Math.max(lifeEnd, this.bound(live.history)) + OBSERVE_AFTER_MS) return;
      if (n % 4 === 3) {
        const t = await client.timeToLive(live.id);
        if (t !== undefined) live.history.ttls.push(t);
        goneSeen ||= t?.ttlSeconds === -1;
      } else if (keys.length > 0) {
        const key = keys[n % keys.length] as string;
        const callMs = performance.now();
        const result = await worker.client.get(key);
        if (result.outcome.status === 'ok') {
          const present = result.outcome.output !== null && result.outcome.output !== undefined;
          live.history.observations.push({ key, callMs, returnMs: performance.now(), present });
          goneSeen ||= !present;
        }
      }
      await delay(150 + worker.random.int(250));
    }
  }

  async finish(_reader: WorkloadClient, _recorder: OpRecorder, _processBase: number, timeoutMs: number): Promise<FinalReport> {
    this.running = false;
    const latest = Math.max(0, ...this.leases.filter((l) => l.grant.status !== 'fail').map((l) => this.bound(l)));
    await delay(Math.max(0, latest + FINAL_GRACE_MS - performance.now()));
    const finals = await this.pollMembers(Math.min(timeoutMs, FINAL_POLL_MS));
    const result = checkLeaseRun(this.leases, finals);
    const violations = result.violations.map((v) => `${v.kind}: ${v.text}`);
    const violated = new Set(result.violations.map((v) => v.lease));
    const evidence = this.leases.filter((l) => violated.has(l.id)).map((l) => `lease ${l.id}: ${JSON.stringify(l)}`);
    const plans = (plan: string): number => this.leases.filter((l) => l.plan === plan && l.grant.status === 'ok').length;
    return {
      read: result.unread.length === 0,
      lost: 0,
      violations: violations.slice(0, VIOLATIONS_LISTED),
      evidence: evidence.slice(0, VIOLATIONS_LISTED),
      details: {
        leases: result.leases,
        kept: plans('keep'),
        lapsed: plans('lapse'),
        revoked: plans('revoke'),
        grantsUnanswered: this.leases.filter((l) => l.grant.status === 'info').length,
        keyPuts: this.leases.reduce((n, l) => n + l.keys.filter((k) => k.status === 'ok').length, 0),
        renewals: result.renewals,
        keyReads: this.leases.reduce((n, l) => n + l.observations.length, 0),
        timeToLives: this.leases.reduce((n, l) => n + l.ttls.length, 0),
        expiryObservations: result.expiryObservations,
        ...Object.fromEntries(Object.entries(result.counts)),
        unread: result.unread.join(' '),
        violations: violations.length,
      },
    };
  }

  /** Every member's keys under `lease/` and lease list, polled until clean or `timeoutMs`. */
  private async pollMembers(timeoutMs: number): Promise<MemberFinalState[]> {
    const deadline = performance.now() + timeoutMs;
    const ours = new Set(this.leases.map((l) => l.id));
    for (;;) {
      const finals = await Promise.all(this.context.endpoints.map((e) => this.memberState(e.name, e.channel, ours)));
      const clean = finals.every((f) => f.presentKeys !== undefined && f.presentKeys.length === 0 && f.listedLeases?.length === 0);
      if (clean || performance.now() > deadline) return finals;
      await delay(500);
    }
  }

  private async memberState(member: string, channel: Parameters<typeof createClient>[1], ours: ReadonlySet<string>): Promise<MemberFinalState> {
    try {
      const end = Buffer.from(PREFIX);
      end[end.length - 1] = (end[end.length - 1] as number) + 1;
      // Linearizable: this member's own state, once it has applied everything committed before the read.
      const range = await createClient(etcd.KVDefinition, channel).range(etcd.RangeRequest.fromPartial({ key: Buffer.from(PREFIX), rangeEnd: end, keysOnly: true }), { timeoutMs: 5_000 });
      const leases = await createClient(etcd.LeaseDefinition, channel).leaseLeases({}, { timeoutMs: 5_000 });
      return { member, presentKeys: range.kvs.map((kv) => kv.key.toString('utf8')), listedLeases: leases.leases.map((l) => hex(l.ID)).filter((id) => ours.has(id)) };
    } catch {
      return { member };
    }
  }
}
