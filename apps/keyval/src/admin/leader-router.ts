/**
 * Runs an Admin operation that needs the leader (membership changes, leader transfer) on the
 * leader: locally when this member leads, otherwise forwarded over the leader's client URL as
 * the same Admin call, with a hop count so a call is never passed around forever. A leader
 * that answers NotLeaderError after handing leadership away (removing itself) names its
 * successor, to which the call is forwarded next.
 *
 *     call ─▶ leader? ── yes ─▶ local(deadline) ── NotLeaderError(hint) ─┐
 *               │ no                                                    ▼
 *               └──────────────▶ forward to the leader (hops + 1) ◀── hint
 *     retried until the deadline while the failure proves nothing was done (no leader yet,
 *     not leader, leader unreachable before the request was sent)
 */
import { type ClientTlsOptions, GrpcChannel, GrpcStatus, GrpcStatusError, Metadata, createClient } from '@keyval/grpc';
import type { CallOptions, ServerCall, ServiceClient } from '@keyval/grpc';
import { admin } from '@keyval/proto';
import { NO_NODE, NotLeaderError } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import { REASONS, awaitsLeader, outcomeOf, outcomeTrailers } from '@keyval/outcome';
import { ETCD_MESSAGES, LeaderUnreachableError, toStatusError } from '@keyval/api';
import type { MemberService } from '../member/member.service';

/** Metadata key counting how many members a forwarded Admin call has passed through. */
export const ADMIN_HOPS_KEY = 'keyval-admin-hops';
/** Most forwards of one call (a leader removing itself may pass it on once more). */
export const ADMIN_HOPS_MAX = 3;
/** Deadline of an Admin call that brings none, ms. */
export const ADMIN_DEFAULT_TIMEOUT_MS = 15_000;

type AdminClient = ServiceClient<typeof admin.AdminDefinition>;
/** The Admin methods that run on the leader. */
export type LeaderMethod = 'memberAdd' | 'memberPromote' | 'memberRemove' | 'memberUpdate' | 'transferLeadership';
export type RequestOf<K extends LeaderMethod> = Parameters<AdminClient[K]>[0];
export type ResponseOf<K extends LeaderMethod> = Awaited<ReturnType<AdminClient[K]>>;


/** The monotonic deadline (performance.now()) of a server call. */
export function callDeadline(call: ServerCall, defaultMs = ADMIN_DEFAULT_TIMEOUT_MS): number {
  const remaining = call.deadline === undefined ? defaultMs : call.deadline - Date.now();
  return performance.now() + Math.max(0, remaining);
}

function hopsOf(call: ServerCall): number {
  const text = call.metadata.get(ADMIN_HOPS_KEY);
  const hops = text === undefined ? 0 : Number(text);
  if (!Number.isInteger(hops) || hops < 0 || hops > ADMIN_HOPS_MAX) {
    throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, `${ADMIN_HOPS_KEY} must be 0..${ADMIN_HOPS_MAX}, got ${JSON.stringify(text)}`);
  }
  return hops;
}

export class LeaderRouter {
  private readonly channels = new Map<string, GrpcChannel>();

  constructor(
    private readonly members: MemberService,
    /** TLS towards a client URL (https://: this member's client certificate), or undefined for h2c. */
    private readonly tlsFor: (url: string) => ClientTlsOptions | undefined = () => undefined,
  ) {}

  /** Runs `local` on the leader (here or, forwarded as `method`, there); errors as gRPC statuses. */
  async onLeader<K extends LeaderMethod>(method: K, request: RequestOf<K>, call: ServerCall, local: (deadlineMs: number) => Promise<ResponseOf<K>>): Promise<ResponseOf<K>> {
    const deadline = callDeadline(call);
    const hops = hopsOf(call);
    let hint: NodeId | undefined;
    for (let attempt = 0; ; attempt++) {
      const member = this.members.member;
      try {
        if (hint === undefined && member.driver.isLeader()) {
          return await local(deadline);
        }
        const known = hint ?? member.status().leader;
        hint = undefined;
        const leader = known !== NO_NODE ? known : await member.driver.waitForLeader(deadline);
        if (leader === member.id) {
          throw new NotLeaderError(undefined); // stale: we just stopped (or not yet started) leading
        }
        if (hops >= ADMIN_HOPS_MAX) {
          throw new GrpcStatusError(GrpcStatus.UNAVAILABLE, `${ETCD_MESSAGES.leaderChanged}: forwarded ${hops} times without reaching the leader`, {
            metadata: outcomeTrailers({ outcome: 'not-applied', reason: REASONS.leaderChanged }),
          });
        }
        return await this.forward(method, request, leader, hops + 1, deadline);
      } catch (error) {
        if (error instanceof NotLeaderError && error.leaderHint !== undefined && error.leaderHint !== member.id) {
          hint = error.leaderHint;
        }
        // Retried while the failure proves nothing was done for want of a leader.
        if (awaitsLeader(error) && performance.now() < deadline) {
          if (hint === undefined) {
            await new Promise((resolve) => setTimeout(resolve, Math.min(200, 10 * 2 ** Math.min(attempt, 5))));
          }
          continue;
        }
        throw toStatusError(error);
      }
    }
  }

  private channel(url: string): GrpcChannel {
    let channel = this.channels.get(url);
    if (channel === undefined) {
      channel = new GrpcChannel(url, { connectTimeoutMs: 2_000, tls: this.tlsFor(url) });
      this.channels.set(url, channel);
    }
    return channel;
  }

  private async forward<K extends LeaderMethod>(method: K, request: RequestOf<K>, leader: NodeId, hops: number, deadline: number): Promise<ResponseOf<K>> {
    const url = this.members.clientUrlsOf(leader)[0];
    if (url === undefined) {
      // The leader has not published its client URL yet.
      throw new NotLeaderError(undefined);
    }
    const client = createClient(admin.AdminDefinition, this.channel(url));
    const options: CallOptions = { timeoutMs: Math.max(1, Math.floor(deadline - performance.now())), metadata: Metadata.from({ [ADMIN_HOPS_KEY]: String(hops) }) };
    const call = client[method] as unknown as (r: RequestOf<K>, o: CallOptions) => Promise<ResponseOf<K>>;
    try {
      return await call(request, options);
    } catch (error) {
      if (outcomeOf(error).outcome === 'never-sent') {
        throw new LeaderUnreachableError(leader.toString(16), url, error);
      }
      throw error;
    }
  }

  close(): void {
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
  }
}
