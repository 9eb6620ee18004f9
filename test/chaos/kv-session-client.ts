/**
 * The workload's client: one logical client (a Jepsen process) talking to the members over
 * the etcd KV API, with an exactly-once session for its writes. Every operation ends as one
 * of the lincheck outcomes:
 * - `ok`: an answer arrived (for a retried write, the original answer: same client id and seq);
 * - `fail`: it surely did not take effect (every attempt was refused before being applied);
 * - `info`: unknown (an attempt timed out or lost its connection, and no later attempt brought
 *   the original answer back).
 *
 * A write is retried with the same sequence number, on the next member, until it gets an
 * answer or its time budget runs out. A read is retried only after definite refusals.
 */
import { GrpcStatus, GrpcStatusError, statusName } from '@keyval/grpc';
import type { GrpcChannel, ServiceClient } from '@keyval/grpc';
import { createClient } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import type { Outcome, Value } from '@keyval/lincheck';
import { REASONS, nothingApplied, outcomeOf } from '@keyval/outcome';
import { delay } from './command';

/** What an error says about the attempt that got it. */
export type AttemptClass =
  /** Refused before being applied (not leader, no leader, connection refused, overloaded). */
  | 'not-applied'
  /** Refused by the state machine or the request check: it had no effect. */
  | 'rejected'
  /** The session is unknown to the cluster (expired, evicted, never started). */
  | 'session-expired'
  /** It may or may not have been applied. */
  | 'indeterminate';

/** An attempt is not started with less than this left of the operation's budget, ms. */
const MIN_ATTEMPT_MS = 100;

/** Pause before retry `attempt + 1`, ms. */
function backoffMs(attempt: number): number {
  return Math.min(200, 10 * 2 ** attempt);
}

/**
 * Classifies an attempt's error (anything not a GrpcStatusError is indeterminate) by its code
 * and its outcome (outcomeOf: the member's trailers, or what this client's channel knows).
 */
export function classifyError(error: unknown): AttemptClass {
  if (!(error instanceof GrpcStatusError)) return 'indeterminate';
  switch (error.code) {
    case GrpcStatus.UNAVAILABLE:
      return nothingApplied(outcomeOf(error).outcome) ? 'not-applied' : 'indeterminate';
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return 'not-applied';
    case GrpcStatus.FAILED_PRECONDITION:
      return outcomeOf(error).reason === REASONS.sessionExpired ? 'session-expired' : 'rejected';
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.NOT_FOUND:
    case GrpcStatus.OUT_OF_RANGE:
    case GrpcStatus.PERMISSION_DENIED:
    case GrpcStatus.UNIMPLEMENTED:
      return 'rejected';
    default:
      return 'indeterminate';
  }
}

/** A member the client can talk to. */
export interface KvEndpoint {
  readonly name: string;
  readonly channel: GrpcChannel;
}

export interface SessionClientOptions {
  /** The whole budget of one operation, retries included, ms. */
  readonly opTimeoutMs: number;
  /** Deadline of one attempt, ms. */
  readonly attemptTimeoutMs: number;
  /** Prefix of the session's client ids (a new id is taken when a session expires). */
  readonly clientIdPrefix: string;
}

/** The outcome of an operation plus, for the report, where it went and the last error. */
export interface OpResult {
  readonly outcome: Outcome;
  /** The members tried, in order (the last one gave the outcome). */
  readonly via: readonly string[];
  readonly lastError?: string;
  /** A write's revision (its response header), when it was acknowledged. */
  readonly revision?: number;
  /** A delete's count of deleted keys, when it was acknowledged. */
  readonly deleted?: number;
}

/** What a write call brought back: the outcome, and the response header's revision. */
interface WriteAnswer {
  readonly outcome: Outcome;
  readonly revision?: number;
  readonly deleted?: number;
}

type WriteCall = (kv: ServiceClient<typeof etcd.KVDefinition>, options: { timeoutMs: number; metadata: Record<string, string> }) => Promise<WriteAnswer>;

/** One logical client. Not re-entrant: one operation at a time. */
export class KvSessionClient {
  private readonly clients: ServiceClient<typeof etcd.KVDefinition>[];
  /** The member every operation starts at (a Jepsen process is bound to one node). */
  private readonly home: number;
  /** The member the current attempt goes to: home first, then the next ones on errors. */
  private cursor = 0;
  private generation = 0;
  private seq = 1;
  /** Whether a write of this session may have been applied (so the session may exist). */
  private started = false;

  constructor(
    private readonly endpoints: readonly KvEndpoint[],
    homeIndex: number,
    private readonly options: SessionClientOptions,
  ) {
    if (endpoints.length === 0) throw new RangeError('a client needs at least one endpoint');
    this.clients = endpoints.map((e) => createClient(etcd.KVDefinition, e.channel));
    this.home = homeIndex % endpoints.length;
    this.cursor = this.home;
  }

  private endpointName(): string {
    return (this.endpoints[this.cursor] as KvEndpoint).name;
  }

  private next(): void {
    this.cursor = (this.cursor + 1) % this.endpoints.length;
  }

  private get clientId(): string {
    return `${this.options.clientIdPrefix}.${this.generation}`;
  }

  private renewSession(): void {
    this.generation++;
    this.seq = 1;
    this.started = false;
  }

  /** Reads `key` (linearizable), at the home member first. */
  async get(key: string): Promise<OpResult> {
    this.cursor = this.home;
    const deadline = performance.now() + this.options.opTimeoutMs;
    let lastError = '';
    const via: string[] = [];
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - performance.now();
      via.push(this.endpointName());
      try {
        const kv = this.clients[this.cursor] as ServiceClient<typeof etcd.KVDefinition>;
        const res = await kv.range(etcd.RangeRequest.fromPartial({ key: Buffer.from(key) }), { timeoutMs: Math.max(1, Math.min(this.options.attemptTimeoutMs, remaining)) });
        const found = res.kvs[0];
        return { outcome: { status: 'ok', output: found === undefined ? null : found.value.toString('utf8') }, via };
      } catch (error) {
        lastError = describe(error);
        const kind = classifyError(error);
        this.next();
        if (kind !== 'not-applied' || deadline - performance.now() < MIN_ATTEMPT_MS + backoffMs(attempt)) {
          return { outcome: { status: kind === 'indeterminate' ? 'info' : 'fail' }, via, lastError };
        }
        await delay(backoffMs(attempt));
      }
    }
  }

  /** Reads every key under `prefix` (linearizable); undefined output on failure. */
  async readPrefix(prefix: string, timeoutMs: number): Promise<{ values: Map<string, string> | undefined; lastError?: string }> {
    const end = Buffer.from(prefix);
    end[end.length - 1] = (end[end.length - 1] as number) + 1;
    const kv = this.clients[this.cursor] as ServiceClient<typeof etcd.KVDefinition>;
    try {
      const res = await kv.range(etcd.RangeRequest.fromPartial({ key: Buffer.from(prefix), rangeEnd: end }), { timeoutMs });
      return { values: new Map(res.kvs.map((k) => [k.key.toString('utf8'), k.value.toString('utf8')])) };
    } catch (error) {
      this.next();
      return { values: undefined, lastError: describe(error) };
    }
  }

  /** Writes `value` under `key` (exactly once), attached to `lease` if given. */
  put(key: string, value: string, lease = 0n): Promise<OpResult> {
    return this.write(async (kv, options) => {
      const res = await kv.put(etcd.PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from(value), lease }), options);
      return { outcome: { status: 'ok' }, revision: Number(res.header?.revision ?? 0n) };
    });
  }

  /** Deletes `key` (exactly once); `deleted` says whether it existed. */
  delete(key: string): Promise<OpResult> {
    return this.write(async (kv, options) => {
      const res = await kv.deleteRange(etcd.DeleteRangeRequest.fromPartial({ key: Buffer.from(key) }), options);
      return { outcome: { status: 'ok' }, revision: Number(res.header?.revision ?? 0n), deleted: Number(res.deleted) };
    });
  }

  /** `if key == expected then key = newValue` as a Txn (`null`: absent / delete). */
  cas(key: string, expected: Value, newValue: Value): Promise<OpResult> {
    const k = Buffer.from(key);
    const compare =
      expected === null
        ? etcd.Compare.fromPartial({ key: k, result: etcd.Compare_CompareResult.EQUAL, target: etcd.Compare_CompareTarget.VERSION, targetUnion: { $case: 'version', value: 0n } })
        : etcd.Compare.fromPartial({ key: k, result: etcd.Compare_CompareResult.EQUAL, target: etcd.Compare_CompareTarget.VALUE, targetUnion: { $case: 'value', value: Buffer.from(expected) } });
    const then: etcd.RequestOp =
      newValue === null
        ? { request: { $case: 'requestDeleteRange', value: etcd.DeleteRangeRequest.fromPartial({ key: k }) } }
        : { request: { $case: 'requestPut', value: etcd.PutRequest.fromPartial({ key: k, value: Buffer.from(newValue) }) } };
    const request = etcd.TxnRequest.fromPartial({ compare: [compare], success: [then], failure: [] });
    return this.write(async (kv, options) => {
      const res = await kv.txn(request, options);
      return { outcome: { status: 'ok', succeeded: res.succeeded }, revision: Number(res.header?.revision ?? 0n) };
    });
  }

  private async write(call: WriteCall): Promise<OpResult> {
    this.cursor = this.home;
    const deadline = performance.now() + this.options.opTimeoutMs;
    let maybeApplied = false;
    let lastError = '';
    const via: string[] = [];
    for (let attempt = 1; ; attempt++) {
      const kv = this.clients[this.cursor] as ServiceClient<typeof etcd.KVDefinition>;
      via.push(this.endpointName());
      const remaining = deadline - performance.now();
      const metadata = { 'keyval-client-id': this.clientId, 'keyval-seq': String(this.seq) };
      try {
        const answer = await call(kv, { timeoutMs: Math.max(1, Math.min(this.options.attemptTimeoutMs, remaining)), metadata });
        this.started = true;
        this.seq++;
        return { ...answer, via, lastError: lastError || undefined };
      } catch (error) {
        lastError = describe(error);
        const kind = classifyError(error);
        if (kind === 'session-expired' && !maybeApplied) {
          // Nothing of this operation was applied: start a new session and go on.
          this.renewSession();
          continue;
        }
        if (kind === 'session-expired' || (kind === 'rejected' && maybeApplied)) {
          this.renewSession();
          return { outcome: { status: 'info' }, via, lastError };
        }
        if (kind === 'rejected') {
          return this.finish({ status: 'fail' }, via, lastError, false);
        }
        maybeApplied ||= kind === 'indeterminate';
        this.next();
        if (deadline - performance.now() < MIN_ATTEMPT_MS + backoffMs(attempt)) {
          return this.finish(maybeApplied ? { status: 'info' } : { status: 'fail' }, via, lastError, maybeApplied);
        }
        await delay(backoffMs(attempt));
      }
    }
  }

  /** Ends a write without an answer: the next write takes the next sequence number. */
  private finish(outcome: Outcome, via: readonly string[], lastError: string, maybeApplied: boolean): OpResult {
    if (maybeApplied) this.started = true;
    // A session is created by its first write (seq 1); until one may have been applied, the
    // next write must use seq 1 again.
    if (this.started) this.seq++;
    return { outcome, via, lastError };
  }
}

function describe(error: unknown): string {
  if (error instanceof GrpcStatusError) return `${statusName(error.code)}: ${error.details}`;
  return error instanceof Error ? error.message : String(error);
}
