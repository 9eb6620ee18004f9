/**
 * What etcd's lock and election services need of the store, and the member's own answer to
 * it: its KV and Lease handlers called in-process (writes still go through the leader, reads
 * through the read barrier, each with the client's deadline and cancellation) and watches on
 * its WatchHub. etcd's server does the same over an in-process client of itself.
 *
 *     LockService / ElectionService ──► ConcurrencyClient ──► KvService / LeaseService handlers
 *                                                       └──► WatchHub (watch a key from a revision)
 */
import { GrpcStatus, GrpcStatusError, Metadata } from '@keyval/grpc';
import type { HandlerFor, ServerCall } from '@keyval/grpc';
import { etcd, mvcc } from '@keyval/proto';
import type { KeyEvent } from '@keyval/statemachine';
import { ETCD_MESSAGES } from '../api.errors';
import { header, kvToWire } from '../etcd-response';
import type { HeaderContext } from '../etcd-response';
import type { WatchHub, WatcherSink } from '../watch/watch-hub';

/** Events of one watch response, with the header of the revision they were seen at. */
export interface WatchBatch {
  readonly header: etcd.ResponseHeader;
  readonly events: readonly mvcc.Event[];
}

/** What a key (or a range) is watched for. */
export interface WatchTarget {
  readonly key: Uint8Array;
  /** Empty for the key alone, else the end of the range (exclusive). */
  readonly rangeEnd: Uint8Array;
  /** The first revision delivered. */
  readonly startRevision: bigint;
}

/** The store as the lock and election services use it (one client call each). */
export interface ConcurrencyClient {
  range(request: etcd.RangeRequest, call: ServerCall): Promise<etcd.RangeResponse>;
  txn(request: etcd.TxnRequest, call: ServerCall): Promise<etcd.TxnResponse>;
  deleteRange(request: etcd.DeleteRangeRequest, call: ServerCall): Promise<etcd.DeleteRangeResponse>;
  leaseGrant(ttlSeconds: bigint, call: ServerCall): Promise<bigint>;
  /** The events of `target` from its start revision on, until `signal` aborts (then it returns). */
  watch(target: WatchTarget, signal: AbortSignal): AsyncIterable<WatchBatch>;
}

type KvHandlers = { readonly [K in keyof typeof etcd.KVDefinition.methods]: HandlerFor<(typeof etcd.KVDefinition.methods)[K]> };
type LeaseHandlers = { readonly leaseGrant: HandlerFor<typeof etcd.LeaseDefinition.methods.leaseGrant> };

/** Batches a watcher's queue holds before the hub is told it is full (it then catches up from history). */
const QUEUE_BATCHES_MAX = 256;

/** The same client's call, in-process: its deadline, cancellation and trace, none of its metadata. */
export function innerCall(outer: ServerCall, path: string, signal: AbortSignal = outer.signal): ServerCall {
  return {
    path,
    peer: 'in-process',
    metadata: new Metadata(),
    deadline: outer.deadline,
    signal,
    traceContext: outer.traceContext,
    setHeader: () => undefined,
    setTrailer: () => undefined,
  };
}

/** A call of its own for cleanup after `outer` ended: its own deadline, `timeoutMs` from now. */
export function detachedCall(outer: ServerCall, timeoutMs: number): ServerCall {
  return { ...innerCall(outer, outer.path, AbortSignal.timeout(timeoutMs)), deadline: Date.now() + timeoutMs };
}

/** The member's in-process client: its KV and Lease handlers and its watch hub. */
export class MemberConcurrencyClient implements ConcurrencyClient {
  constructor(
    private readonly kv: KvHandlers,
    private readonly lease: LeaseHandlers,
    private readonly hub: WatchHub,
    private readonly context: () => HeaderContext,
  ) {}

  async range(request: etcd.RangeRequest, call: ServerCall): Promise<etcd.RangeResponse> {
    return asClientError(async () => this.kv.range(request, innerCall(call, '/etcdserverpb.KV/Range')));
  }

  async txn(request: etcd.TxnRequest, call: ServerCall): Promise<etcd.TxnResponse> {
    return asClientError(async () => this.kv.txn(request, innerCall(call, '/etcdserverpb.KV/Txn')));
  }

  async deleteRange(request: etcd.DeleteRangeRequest, call: ServerCall): Promise<etcd.DeleteRangeResponse> {
    return asClientError(async () => this.kv.deleteRange(request, innerCall(call, '/etcdserverpb.KV/DeleteRange')));
  }

  async leaseGrant(ttlSeconds: bigint, call: ServerCall): Promise<bigint> {
    return asClientError(async () => (await this.lease.leaseGrant({ TTL: ttlSeconds, ID: 0n }, innerCall(call, '/etcdserverpb.Lease/LeaseGrant'))).ID);
  }

  async *watch(target: WatchTarget, signal: AbortSignal): AsyncIterable<WatchBatch> {
    const queue: Array<{ events: readonly KeyEvent[]; revision: number }> = [];
    let compactedAt: number | undefined;
    let wake: (() => void) | undefined;
    const notify = (): void => {
      wake?.();
      wake = undefined;
    };
    const sink: WatcherSink = {
      offer: (events, revision) => {
        if (queue.length >= QUEUE_BATCHES_MAX) return false;
        queue.push({ events, revision });
        notify();
        return true;
      },
      compacted: (compactRevision) => {
        compactedAt = compactRevision;
        notify();
      },
      synced: () => undefined,
      get hasRoom() {
        return queue.length < QUEUE_BATCHES_MAX;
      },
    };
    const start = target.startRevision < 1n ? 1 : Number(target.startRevision);
    const watcher = this.hub.add({ key: target.key, rangeEnd: target.rangeEnd, startRevision: start, prevKv: false, noPut: false, noDelete: false }, sink);
    signal.addEventListener('abort', notify);
    try {
      while (!signal.aborted) {
        const next = queue.shift();
        if (next !== undefined) {
          if (queue.length === QUEUE_BATCHES_MAX - 1) this.hub.wake(); // room again: catch up
          yield { header: header(next.revision, this.context()), events: next.events.map(eventToWire) };
          continue;
        }
        if (compactedAt !== undefined) {
          throw new GrpcStatusError(GrpcStatus.OUT_OF_RANGE, ETCD_MESSAGES.compacted);
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      signal.removeEventListener('abort', notify);
      this.hub.remove(watcher);
    }
  }
}

/**
 * A failure of an inner call as etcd's lock and election services answer it: etcd runs them
 * over its Go client, which turns the server's own errors ("etcdserver: …") into plain errors,
 * so they reach the caller with code UNKNOWN and the same text; other statuses pass unchanged.
 */
async function asClientError<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof GrpcStatusError && error.details.startsWith('etcdserver: ')) {
      throw new GrpcStatusError(GrpcStatus.UNKNOWN, error.details);
    }
    throw error;
  }
}

function eventToWire(event: KeyEvent): mvcc.Event {
  return { type: event.type === 'put' ? mvcc.Event_EventType.PUT : mvcc.Event_EventType.DELETE, kv: kvToWire(event.kv), prevKv: undefined };
}
