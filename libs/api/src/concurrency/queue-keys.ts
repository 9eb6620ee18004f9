/**
 * The queue under a lock or election name, as etcd's concurrency package keeps it: each
 * waiter (candidate) owns the key `<name>/<lease id in hex>`; the key created first holds the
 * lock (leads). A waiter waits for the deletion of every key created before its own, latest
 * first, each watched from the revision at which it was seen.
 *
 *     name/694d7d9a1c0e1a04  create_revision 12   ◄─ holder (first created)
 *     name/694d7d9a1c0e1a0b  create_revision 15   ◄─ waits for 12's deletion
 *     name/694d7d9a1c0e1a11  create_revision 19   ◄─ waits for 15's, then 12's
 */
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import type { ServerCall } from '@keyval/grpc';
import { etcd, mvcc } from '@keyval/proto';
import { prefixRangeEnd } from '@keyval/statemachine';
import type { ConcurrencyClient } from './concurrency-client';

/** etcd's session TTL when a request names no lease (its concurrency package's default), seconds. */
export const DEFAULT_SESSION_TTL_SECONDS = 60n;

/** `<name>/`: the prefix of every waiter's key. */
export function queuePrefix(name: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(name), Buffer.from('/')]);
}

/** A waiter's key: the prefix and the lease id in hex, as Go's `%x` prints an int64. */
export function waiterKey(prefix: Buffer, lease: bigint): Buffer {
  return Buffer.concat([prefix, Buffer.from(lease.toString(16))]);
}

/** A waiter's place: its lease (one granted for 60 s when the request names none, as etcd), the queue's prefix and its own key. */
export async function waiterOf(client: ConcurrencyClient, name: Uint8Array, requested: bigint, call: ServerCall): Promise<{ lease: bigint; prefix: Buffer; key: Buffer }> {
  const lease = requested !== 0n ? requested : await client.leaseGrant(DEFAULT_SESSION_TTL_SECONDS, call);
  const prefix = queuePrefix(name);
  return { lease, prefix, key: waiterKey(prefix, lease) };
}

/** A range request over the whole queue under `prefix`. */
export function queueRange(prefix: Buffer, order: 'first' | 'last', maxCreateRevision = 0n): etcd.RangeRequest {
  return etcd.RangeRequest.fromPartial({
    key: prefix,
    rangeEnd: Buffer.from(prefixRangeEnd(prefix)),
    limit: 1n,
    sortTarget: etcd.RangeRequest_SortTarget.CREATE,
    sortOrder: order === 'first' ? etcd.RangeRequest_SortOrder.ASCEND : etcd.RangeRequest_SortOrder.DESCEND,
    maxCreateRevision,
  });
}

/** A transaction's operation reading `key`, or the first-created key under a prefix. */
export function rangeOp(request: etcd.RangeRequest): etcd.RequestOp {
  return { request: { $case: 'requestRange', value: request } };
}

export function keyRange(key: Buffer): etcd.RangeRequest {
  return etcd.RangeRequest.fromPartial({ key });
}

/** A compare on the create revision of `key`. */
export function createRevisionIs(key: Buffer, revision: bigint): etcd.Compare {
  return etcd.Compare.fromPartial({ key, result: etcd.Compare_CompareResult.EQUAL, target: etcd.Compare_CompareTarget.CREATE, targetUnion: { $case: 'createRevision', value: revision } });
}

/** The range answer of a transaction's operation `index`. */
export function rangeAnswer(response: etcd.TxnResponse, index: number): etcd.RangeResponse {
  const op = response.responses[index]?.response;
  if (op?.$case !== 'responseRange') {
    throw new GrpcStatusError(GrpcStatus.INTERNAL, `the transaction answered operation ${index} with ${op?.$case ?? 'nothing'}, not a range`);
  }
  return op.value;
}

/**
 * Waits until no key under `prefix` created at or before `maxCreateRevision` is left; answers
 * the header of the read that found none (etcd's waitDeletes).
 */
export async function waitDeletes(client: ConcurrencyClient, prefix: Buffer, maxCreateRevision: bigint, call: ServerCall): Promise<etcd.ResponseHeader | undefined> {
  for (;;) {
    const found = await client.range(queueRange(prefix, 'last', maxCreateRevision), call);
    const last = found.kvs[0];
    if (last === undefined) {
      return found.header;
    }
    await waitDelete(client, last.key, found.header?.revision ?? 0n, call);
  }
}

/** Waits for the deletion of `key`, watching from `revision` on. */
async function waitDelete(client: ConcurrencyClient, key: Uint8Array, revision: bigint, call: ServerCall): Promise<void> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  call.signal.addEventListener('abort', onAbort);
  try {
    for await (const batch of client.watch({ key, rangeEnd: new Uint8Array(0), startRevision: revision }, stop.signal)) {
      if (batch.events.some((event) => event.type === mvcc.Event_EventType.DELETE)) {
        return;
      }
    }
    throw call.signal.reason instanceof GrpcStatusError ? call.signal.reason : new GrpcStatusError(GrpcStatus.CANCELLED, 'the call ended while waiting');
  } finally {
    call.signal.removeEventListener('abort', onAbort);
    stop.abort();
  }
}
