/**
 * Calls that must run on the leader: run here when this member leads (or the request was
 * already forwarded to it), else forward to the leader's client URL, retrying while the
 * failure proves nothing was applied — or, for a write with a client session, while a retry
 * is safe because the leader applies a (client id, seq) once.
 *
 *     call ─► leader here? ─► local() ───────────────► answer
 *               └ no ─► leader known (or wait) ─► forward(leader) ─► answer
 *                          ▲ not applied / session retry, before the deadline: back off, again
 */
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import type { ServerCall, ServiceDefinition } from '@keyval/grpc';
import { awaitsLeader } from '@keyval/outcome';
import { NO_NODE } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import { toStatusError } from './error-status';
import type { LeaderForwarder } from './leader-forwarder';

/** Where the leader is, as a member knows it. */
export interface LeaderRouting {
  isLeader(): boolean;
  /** The leader this member knows, NO_NODE for none. */
  leaderId(): NodeId;
  waitForLeader(deadlineMs: number): Promise<NodeId>;
}

/** Metadata key marking a request forwarded by a follower (the leader never forwards again). */
export const FORWARDED_KEY = 'keyval-forwarded';

/** Monotonic deadline of a call (its grpc-timeout, or the default). */
export function callDeadline(call: ServerCall, defaultTimeoutMs: number): number {
  const remaining = call.deadline === undefined ? defaultTimeoutMs : call.deadline - Date.now();
  return performance.now() + Math.max(0, remaining);
}

/** Waits before retry `attempt`: 5 ms doubling, at most 100 ms (always a real pause). */
export function backoff(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.min(100, 5 * 2 ** Math.min(attempt, 5))));
}

export interface LeaderCall<Res> {
  readonly call: ServerCall;
  readonly deadlineMs: number;
  /** True when a retry after an ambiguous forwarding failure is safe (a client session). */
  readonly retrySafe: boolean;
  /** The work on the leader. */
  local(): Promise<Res>;
  /** The same request sent to the leader. */
  forward(leader: NodeId): Promise<Res>;
}

/** Runs `request` on the leader (see the module comment); failures become gRPC statuses. */
export async function onLeader<Res>(routing: LeaderRouting, request: LeaderCall<Res>): Promise<Res> {
  const forwarded = request.call.metadata.get(FORWARDED_KEY) !== undefined;
  for (let attempt = 0; ; attempt++) {
    let forwarding = false;
    try {
      if (forwarded || routing.isLeader()) {
        return await request.local();
      }
      const known = routing.leaderId();
      const leader = known !== NO_NODE ? known : await routing.waitForLeader(request.deadlineMs);
      forwarding = true;
      return await request.forward(leader);
    } catch (error) {
      // A forward that failed in transit (e.g. the leader died with the request on the wire)
      // may have been applied; with a client session the retry is still safe: the leader
      // applies a (client id, seq) once and answers a repeat with the original response.
      // awaitsLeader: the typed outcome says nothing was applied, for want of a leader.
      const safeRetry = forwarding && request.retrySafe && error instanceof GrpcStatusError && error.code === GrpcStatus.UNAVAILABLE;
      if (!forwarded && (awaitsLeader(error) || safeRetry) && performance.now() < request.deadlineMs) {
        await backoff(attempt);
        continue;
      }
      throw toStatusError(error);
    }
  }
}

export interface LeaderWrite<Res> {
  readonly call: ServerCall;
  /** The service and method (`put`) the call came in on, to forward it as it came. */
  readonly service: ServiceDefinition;
  readonly method: string;
  readonly request: unknown;
  /** True when the client brought a session: then an ambiguous forwarding failure is retried. */
  readonly hasSession: boolean;
  readonly defaultTimeoutMs: number;
  /** The write on this member, the leader. */
  local(deadlineMs: number): Promise<Res>;
}

/** A write through the log on the leader: here when leading, else the same call forwarded (see onLeader). */
export function writeOnLeader<Res>(routing: LeaderRouting, forwarder: LeaderForwarder, write: LeaderWrite<Res>): Promise<Res> {
  const deadlineMs = callDeadline(write.call, write.defaultTimeoutMs);
  return onLeader(routing, {
    call: write.call,
    deadlineMs,
    retrySafe: write.hasSession,
    local: () => write.local(deadlineMs),
    forward: async (leader) => (await forwarder.forward(write.service, write.method, write.request, write.call.metadata, leader, deadlineMs, write.call.traceContext)) as Res,
  });
}
