/**
 * The lease workload's calls on etcd's Lease service, each with its time (agent-monotonic ms)
 * and outcome, failing over to the next endpoint as the KV session client does:
 * - grant with an id the client picks, retried only after refusals (an unanswered attempt
 *   applied late could re-create an expired lease under the same id);
 * - revoke ("lease not found" on a first attempt: the lease was already gone);
 * - TimeToLive (-1: no such lease);
 * - keepalives as etcd's client sends them: on one LeaseKeepAlive stream at a time, at a fixed
 *   pace whether or not the last one was answered, the stream reopened on the next endpoint
 *   when it fails or an answer keeps it waiting too long.
 */
import { GrpcStatus, GrpcStatusError, createClient } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { delay } from './command';
import type { KvEndpoint } from './kv-session-client';
import { classifyError } from './kv-session-client';
import type { KeepAliveAck, TimedCall } from './lease-check';

export interface LeaseClientOptions {
  /** The whole budget of one call, retries included, ms. */
  readonly opTimeoutMs: number;
  /** Deadline of one attempt, ms. */
  readonly attemptTimeoutMs: number;
}

/** How one attempt ended. */
type Attempt<T> = { readonly value: T } | { readonly error: unknown };

export class LeaseClient {
  private cursor: number;

  constructor(
    private readonly endpoints: readonly KvEndpoint[],
    home: number,
    private readonly options: LeaseClientOptions,
  ) {
    this.cursor = home % endpoints.length;
  }

  private lease(): ReturnType<typeof createClient<typeof etcd.LeaseDefinition>> {
    return createClient(etcd.LeaseDefinition, (this.endpoints[this.cursor] as KvEndpoint).channel);
  }

  /** Runs attempts on successive endpoints until one answers, `stop` says so, or the budget runs out. */
  private async attempts<T>(run: (timeoutMs: number) => Promise<T>, stop: (error: unknown, attempt: number) => boolean): Promise<{ last: Attempt<T>; maybeApplied: boolean; attempts: number }> {
    const deadline = performance.now() + this.options.opTimeoutMs;
    let maybeApplied = false;
    for (let attempt = 1; ; attempt++) {
      try {
        return { last: { value: await run(Math.max(1, Math.min(this.options.attemptTimeoutMs, deadline - performance.now()))) }, maybeApplied, attempts: attempt };
      } catch (error) {
        maybeApplied ||= classifyError(error) === 'indeterminate';
        this.cursor = (this.cursor + 1) % this.endpoints.length;
        if (stop(error, attempt) || deadline - performance.now() < 150) return { last: { error }, maybeApplied, attempts: attempt };
        await delay(Math.min(200, 10 * 2 ** attempt));
      }
    }
  }

  /**
   * Grants lease `id` for `ttlSeconds`; the TTL it answered (undefined unless ok). Retried
   * only after refusals that applied nothing: an unanswered attempt may still be applied
   * later — after the lease a retry granted had expired, re-creating it under the same id —
   * so it ends the grant as `info` (the workload then leaves that lease alone).
   */
  async grant(id: bigint, ttlSeconds: number): Promise<TimedCall & { ttlSeconds?: number }> {
    const callMs = performance.now();
    const request = etcd.LeaseGrantRequest.fromPartial({ ID: id, TTL: BigInt(ttlSeconds) });
    const { last, maybeApplied } = await this.attempts(
      (timeoutMs) => this.lease().leaseGrant(request, { timeoutMs }),
      (error) => classifyError(error) !== 'not-applied',
    );
    const returnMs = performance.now();
    if ('value' in last) return { callMs, returnMs, status: 'ok', ttlSeconds: Number(last.value.TTL) };
    return { callMs, returnMs, status: maybeApplied ? 'info' : 'fail' };
  }

  /** Revokes lease `id`; `gone` when the first answer was "not found" (it had expired). */
  async revoke(id: bigint): Promise<TimedCall & { gone: boolean }> {
    const callMs = performance.now();
    const notFound = (error: unknown): boolean => error instanceof GrpcStatusError && error.code === GrpcStatus.NOT_FOUND;
    const { last, maybeApplied } = await this.attempts(
      (timeoutMs) => this.lease().leaseRevoke({ ID: id }, { timeoutMs }),
      (error) => classifyError(error) === 'rejected',
    );
    const returnMs = performance.now();
    if ('value' in last) return { callMs, returnMs, status: 'ok', gone: false };
    // Not found after an unanswered attempt: that attempt, or the expiry, removed it.
    if (notFound(last.error)) return { callMs, returnMs, status: maybeApplied ? 'info' : 'fail', gone: !maybeApplied };
    return { callMs, returnMs, status: maybeApplied ? 'info' : 'fail', gone: false };
  }

  /** TimeToLive of `id` (-1: no such lease); undefined when no member answered. */
  async timeToLive(id: bigint): Promise<{ callMs: number; returnMs: number; ttlSeconds: number } | undefined> {
    const callMs = performance.now();
    const { last } = await this.attempts(
      (timeoutMs) => this.lease().leaseTimeToLive({ ID: id, keys: false }, { timeoutMs }),
      (error) => classifyError(error) !== 'not-applied',
    );
    return 'value' in last ? { callMs, returnMs: performance.now(), ttlSeconds: Number(last.value.TTL) } : undefined;
  }

  /**
   * Keeps `id` alive as etcd's client does: a keepalive every `everyMs` on one stream whether
   * or not the previous one was answered (a member answers a stream's requests in order, so
   * each answer is matched to its send time). The stream moves to the next endpoint when it
   * fails or its oldest unanswered request has waited `patienceMs`. Ends at `untilMs`, when
   * `keepGoing()` turns false, or when an answer says TTL 0; every answer goes to `acks`.
   */
  async keepAliveUntil(id: bigint, timing: { everyMs: number; patienceMs: number; untilMs: number }, keepGoing: () => boolean, acks: KeepAliveAck[]): Promise<void> {
    let gone = false;
    const going = (): boolean => keepGoing() && !gone && performance.now() < timing.untilMs;
    while (going()) {
      const via = (this.endpoints[this.cursor] as KvEndpoint).name;
      const call = this.lease().leaseKeepAlive();
      const sent: number[] = [];
      let open = true;
      const reading = (async () => {
        try {
          for await (const r of call.responses) {
            const sentMs = sent.shift();
            if (sentMs === undefined) continue;
            acks.push({ sentMs, ackMs: performance.now(), ttlSeconds: Number(r.TTL), via });
            gone ||= r.TTL <= 0n;
          }
        } catch {
          // the stream failed: the next endpoint
        } finally {
          open = false;
        }
      })();
      while (going() && open && !(sent.length > 0 && performance.now() - (sent[0] as number) > timing.patienceMs)) {
        sent.push(performance.now());
        call.send({ ID: id }).catch(() => undefined);
        await delay(timing.everyMs);
      }
      call.cancel('keepalives done');
      await reading;
      if (going()) {
        this.cursor = (this.cursor + 1) % this.endpoints.length;
        await delay(100);
      }
    }
  }
}
