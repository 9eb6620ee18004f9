/**
 * kvctl's connection to a cluster: a lean gRPC channel per endpoint, failover between
 * endpoints within one deadline, and exactly-once writes (every write carries this client's
 * id and its own sequence number in `keyval-client-id` / `keyval-seq`; a retry re-sends the
 * same pair, so the cluster applies it at most once).
 *
 *     call(kind, fn) ─▶ endpoint i ─ ok ─▶ result
 *                          │ failed, and retrying is safe for `kind`
 *                          ▼
 *                       endpoint i+1 ... (a short pause after each full round) until the deadline
 */
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { type ClientTlsOptions, GrpcChannel, GrpcStatus, GrpcStatusError, Metadata, createClient } from '@keyval/grpc';
import type { ServiceClient } from '@keyval/grpc';
import { admin, etcd } from '@keyval/proto';
import { OUTCOME_TRAILER, nothingApplied, outcomeOf } from '@keyval/outcome';

/** The exactly-once metadata keys (libs/api kv-service.ts). */
export const CLIENT_ID_KEY = 'keyval-client-id';
export const SEQUENCE_KEY = 'keyval-seq';

/**
 * What may be retried after a failure:
 * - `read`: anything unapplied or transport-level (reads change nothing);
 * - `write`: the same, since a session write is applied at most once however often it is sent;
 * - `change`: only failures proving nothing was done (not reached, no leader, not leader).
 */
export type RetryKind = 'read' | 'write' | 'change';

export interface ClientOptions {
  readonly endpoints: readonly string[];
  /** Deadline of one command's calls, ms. */
  readonly timeoutMs: number;
  /** A connection not established within this counts as unreachable, ms. */
  readonly dialTimeoutMs: number;
  /** Largest message received (snapshots stream in chunks well below it). */
  readonly maxReceiveBytes?: number;
  /** TLS towards the members (--cacert, --cert, --key, --insecure-skip-tls-verify, https:// endpoints). */
  readonly tls?: ClientTlsOptions;
}

/** No endpoint could be reached: the message lists them and the last reason. */
export class ClusterUnreachableError extends Error {
  constructor(
    readonly endpoints: readonly string[],
    readonly lastReason: string,
  ) {
    super(`cannot reach the cluster at ${endpoints.join(', ')} (${lastReason})`);
    this.name = 'ClusterUnreachableError';
  }
}

/** Time left to a member to answer before the client's own deadline, ms. */
const ANSWER_MARGIN_MS = 250;

/** The members that answered know no leader (found by KeyvalClient.noLeader after a failure). */
export class NoLeaderError extends Error {
  constructor(cause: unknown) {
    super('the cluster has no leader (is a quorum of its members running?)', { cause });
    this.name = 'NoLeaderError';
  }
}

/**
 * True for a failure to talk to the endpoint at all, rather than an answer from a member (or a
 * gateway): every answer of theirs carries the `keyval-outcome` trailer; a status this client's
 * channel made (connection refused, lost, closed) does not.
 */
export function isTransportFailure(error: unknown): boolean {
  return error instanceof GrpcStatusError && error.code === GrpcStatus.UNAVAILABLE && error.metadata[OUTCOME_TRAILER] === undefined;
}

/** Whether a call of `kind` that failed with `error` may be sent again (outcomeOf decides; never the message). */
export function retryable(kind: RetryKind, error: unknown): boolean {
  if (!(error instanceof GrpcStatusError) || error.code !== GrpcStatus.UNAVAILABLE) return false;
  if (nothingApplied(outcomeOf(error).outcome)) return true;
  // Any other transport failure (a connection lost mid-call): safe for reads and session writes.
  return kind !== 'change' && isTransportFailure(error);
}

export class KeyvalClient {
  /** This client's session id (one per kvctl run). */
  readonly clientId = `kvctl-${os.hostname()}-${process.pid}-${randomBytes(6).toString('hex')}`;
  private sequence = 0;
  private preferred = 0;
  private readonly channels = new Map<string, GrpcChannel>();

  constructor(readonly options: ClientOptions) {
    if (options.endpoints.length === 0) throw new RangeError('KeyvalClient needs at least one endpoint');
  }

  get endpoints(): readonly string[] {
    return this.options.endpoints;
  }

  channel(endpoint: string): GrpcChannel {
    let channel = this.channels.get(endpoint);
    if (channel === undefined) {
      channel = new GrpcChannel(endpoint, { connectTimeoutMs: this.options.dialTimeoutMs, maxReceiveMessageBytes: this.options.maxReceiveBytes ?? 64 << 20, maxSendMessageBytes: 8 << 20, tls: this.options.tls });
      this.channels.set(endpoint, channel);
    }
    return channel;
  }

  kv(endpoint: string): ServiceClient<typeof etcd.KVDefinition> {
    return createClient(etcd.KVDefinition, this.channel(endpoint));
  }

  admin(endpoint: string): ServiceClient<typeof admin.AdminDefinition> {
    return createClient(admin.AdminDefinition, this.channel(endpoint));
  }

  /** The metadata of the next exactly-once write (a new sequence number each call). */
  nextSession(): Metadata {
    this.sequence++;
    return Metadata.from({ [CLIENT_ID_KEY]: this.clientId, [SEQUENCE_KEY]: String(this.sequence) });
  }

  /**
   * Runs `fn` on the endpoints in turn (starting with the last that answered) until it
   * succeeds or fails in a way `kind` may not retry, within the client's deadline. `fn` gets
   * the endpoint and the ms left. Throws ClusterUnreachableError when no endpoint could be
   * reached at all, otherwise the last failure.
   */
  async call<T>(kind: RetryKind, fn: (endpoint: string, remainingMs: number) => Promise<T>): Promise<T> {
    const deadline = performance.now() + this.options.timeoutMs;
    const endpoints = this.options.endpoints;
    let lastError: unknown;
    let reached = false;
    for (let attempt = 0; ; attempt++) {
      const index = (this.preferred + attempt) % endpoints.length;
      const endpoint = endpoints[index] as string;
      const remaining = Math.floor(deadline - performance.now());
      // A retry needs time for an answer; without it, the last answer is the better report.
      if (remaining <= 0 || (attempt > 0 && remaining <= ANSWER_MARGIN_MS)) break;
      try {
        // Leave the member a moment to answer with its own status (e.g. "no leader") before
        // our deadline passes: a plain DEADLINE_EXCEEDED says less.
        const result = await fn(endpoint, remaining > 2 * ANSWER_MARGIN_MS ? remaining - ANSWER_MARGIN_MS : remaining);
        this.preferred = index;
        return result;
      } catch (error) {
        lastError = error;
        reached ||= !isTransportFailure(error);
        if (!retryable(kind, error)) break;
      }
      if ((attempt + 1) % endpoints.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(500, 50 * 2 ** Math.min(attempt / endpoints.length, 4))));
      }
    }
    if (!reached && isTransportFailure(lastError)) {
      throw new ClusterUnreachableError(endpoints, (lastError as GrpcStatusError).details);
    }
    throw lastError ?? new GrpcStatusError(GrpcStatus.DEADLINE_EXCEEDED, `no answer within ${this.options.timeoutMs} ms`);
  }

  /**
   * After a call timed out or found no leader: asks every endpoint (briefly) whether it knows
   * a leader. True when some answered and none knows one.
   */
  async noLeader(timeoutMs = 1_000): Promise<boolean> {
    const answers = await Promise.all(
      this.options.endpoints.map((e) =>
        this.admin(e)
          .status({}, { timeoutMs })
          .then(
            (s) => s.leaderId,
            () => undefined,
          ),
      ),
    );
    const known = answers.filter((a): a is bigint => a !== undefined);
    return known.length > 0 && known.every((leader) => leader === 0n);
  }

  /** A linearizable (or serializable) range read, with failover. */
  range(request: etcd.RangeRequest): Promise<etcd.RangeResponse> {
    return this.call('read', (endpoint, timeoutMs) => this.kv(endpoint).range(request, { timeoutMs }));
  }

  /** An exactly-once put: one sequence number, however many endpoints it is sent to. */
  put(request: etcd.PutRequest): Promise<etcd.PutResponse> {
    const metadata = this.nextSession();
    return this.call('write', (endpoint, timeoutMs) => this.kv(endpoint).put(request, { timeoutMs, metadata }));
  }

  deleteRange(request: etcd.DeleteRangeRequest): Promise<etcd.DeleteRangeResponse> {
    const metadata = this.nextSession();
    return this.call('write', (endpoint, timeoutMs) => this.kv(endpoint).deleteRange(request, { timeoutMs, metadata }));
  }

  txn(request: etcd.TxnRequest): Promise<etcd.TxnResponse> {
    const metadata = this.nextSession();
    return this.call('write', (endpoint, timeoutMs) => this.kv(endpoint).txn(request, { timeoutMs, metadata }));
  }

  close(): void {
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
  }
}
