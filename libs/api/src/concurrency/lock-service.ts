/**
 * etcd's lock service (`v3lockpb.Lock`) over the member's own KV, Lease and Watch, as etcd's
 * server does it (its concurrency package's Mutex): Lock puts `<name>/<lease hex>` bound to
 * the lease (unless this lease already waits there), then waits for the deletion of every key
 * created before it; Unlock deletes the key. A lock whose lease ends (revoked, expired, its
 * holder gone) is released by the lease's deletes, and the next waiter holds it.
 *
 *     Lock(name, lease) ─► txn: if create_revision(key) = 0 then put(key, lease), first(name/)
 *                                                       else get(key), first(name/)
 *                       ─► first is ours? held : wait for deletes below our revision ─► held
 */
import type { HandlerFor, ServerCall } from '@keyval/grpc';
import { etcd, v3lock } from '@keyval/proto';
import { detachedCall } from './concurrency-client';
import type { ConcurrencyClient } from './concurrency-client';
import { createRevisionIs, keyRange, queueRange, rangeAnswer, rangeOp, waitDeletes, waiterOf } from './queue-keys';

/** How long the cleanup of an abandoned waiter's key may take, ms. */
const CLEANUP_TIMEOUT_MS = 5_000;

export class LockService {
  constructor(private readonly client: ConcurrencyClient) {}

  readonly implementation: { readonly [K in keyof typeof v3lock.LockDefinition.methods]: HandlerFor<(typeof v3lock.LockDefinition.methods)[K]> } = {
    lock: async (req, call) => {
      const { lease, prefix, key } = await waiterOf(this.client, req.name, req.lease, call);
      const first = rangeOp(queueRange(prefix, 'first'));
      const put = etcd.PutRequest.fromPartial({ key, lease });
      const queued = await this.client.txn(
        etcd.TxnRequest.fromPartial({
          compare: [createRevisionIs(key, 0n)],
          success: [{ request: { $case: 'requestPut', value: put } }, first],
          failure: [rangeOp(keyRange(key)), first],
        }),
        call,
      );
      const own = queued.succeeded ? (queued.header?.revision ?? 0n) : (rangeAnswer(queued, 0).kvs[0]?.createRevision ?? 0n);
      const holder = rangeAnswer(queued, 1).kvs[0];
      if (holder === undefined || holder.createRevision === own) {
        return { header: queued.header, key };
      }
      try {
        return { header: await waitDeletes(this.client, prefix, own - 1n, call), key };
      } catch (error) {
        // The waiter gives up (its client went, or the wait failed): its key leaves the queue.
        await removeAbandoned(this.client, key, call);
        throw error;
      }
    },
    unlock: async (req, call) => {
      const deleted = await this.client.deleteRange(etcd.DeleteRangeRequest.fromPartial({ key: req.key }), call);
      return { header: deleted.header };
    },
  };
}

/** Deletes an abandoned waiter's key, on a call of its own (the client's may be cancelled). */
export async function removeAbandoned(client: ConcurrencyClient, key: Buffer, call: ServerCall, compare: etcd.Compare[] = []): Promise<etcd.ResponseHeader | undefined> {
  const cleanup = detachedCall(call, CLEANUP_TIMEOUT_MS);
  const deleted = await client
    .txn(etcd.TxnRequest.fromPartial({ compare, success: [{ request: { $case: 'requestDeleteRange', value: etcd.DeleteRangeRequest.fromPartial({ key }) } }] }), cleanup)
    .catch(() => undefined);
  return deleted?.header;
}
