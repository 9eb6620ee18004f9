/**
 * etcd's election service (`v3electionpb.Election`) over the member's own KV, Lease and
 * Watch, as etcd's server does it (its concurrency package's Election): candidates queue
 * under `<name>/` with `<name>/<lease hex>` keys bound to their leases; the key created first
 * leads, and its value is the proclaimed one.
 *
 *     Campaign ─► txn: if create_revision(key) = 0 then put(key, value, lease) else get(key)
 *              ─► (an existing key with another value is proclaimed anew) ─► wait for the
 *                 deletion of every key created before ours ─► leader {name, key, rev, lease}
 *     Proclaim / Resign ─► txn guarded by create_revision(key) = rev: put / delete
 *     Leader ─► the first-created key;  Observe ─► it, then every change, then the next one
 */
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import type { HandlerFor, ServerCall, ServerWritableCall } from '@keyval/grpc';
import { etcd, mvcc, v3election } from '@keyval/proto';
import type { ConcurrencyClient } from './concurrency-client';
import { removeAbandoned } from './lock-service';
import { createRevisionIs, keyRange, queuePrefix, queueRange, rangeAnswer, rangeOp, waitDeletes, waiterOf } from './queue-keys';

/** etcd's errors of this service (plain errors in etcd: gRPC code UNKNOWN, these texts). */
export const ELECTION_MESSAGES = {
  notLeader: 'election: not leader',
  noLeader: 'election: no leader',
  missingLeaderKey: '"leader" field must be provided',
} as const;

function electionError(message: string): GrpcStatusError {
  return new GrpcStatusError(GrpcStatus.UNKNOWN, message);
}

export class ElectionService {
  constructor(private readonly client: ConcurrencyClient) {}

  readonly implementation: { readonly [K in keyof typeof v3election.ElectionDefinition.methods]: HandlerFor<(typeof v3election.ElectionDefinition.methods)[K]> } = {
    campaign: async (req, call) => {
      const { lease, prefix, key } = await waiterOf(this.client, req.name, req.lease, call);
      const value = Buffer.from(req.value);
      const entered = await this.client.txn(
        etcd.TxnRequest.fromPartial({
          compare: [createRevisionIs(key, 0n)],
          success: [{ request: { $case: 'requestPut', value: etcd.PutRequest.fromPartial({ key, value, lease }) } }],
          failure: [rangeOp(keyRange(key))],
        }),
        call,
      );
      let rev = entered.header?.revision ?? 0n;
      if (!entered.succeeded) {
        const existing = rangeAnswer(entered, 0).kvs[0];
        rev = existing?.createRevision ?? 0n;
        if (existing !== undefined && !Buffer.from(existing.value).equals(value)) {
          const proclaimed = await this.proclaim(key, rev, lease, value, call);
          if (!proclaimed.succeeded) {
            await this.resign(key, rev, call);
            throw electionError(ELECTION_MESSAGES.notLeader);
          }
        }
      }
      try {
        await waitDeletes(this.client, prefix, rev - 1n, call);
      } catch (error) {
        if (call.signal.aborted) {
          await removeAbandoned(this.client, key, call, [createRevisionIs(key, rev)]);
        }
        throw error;
      }
      return { header: entered.header, leader: { name: req.name, key, rev, lease } };
    },
    proclaim: async (req, call) => {
      const leader = requireLeader(req.leader);
      const proclaimed = await this.proclaim(Buffer.from(leader.key), leader.rev, leader.lease, Buffer.from(req.value), call);
      if (!proclaimed.succeeded) {
        throw electionError(ELECTION_MESSAGES.notLeader);
      }
      return { header: proclaimed.header };
    },
    leader: async (req, call) => {
      const found = await this.client.range(queueRange(queuePrefix(req.name), 'first'), call);
      const kv = found.kvs[0];
      if (kv === undefined) {
        throw electionError(ELECTION_MESSAGES.noLeader);
      }
      return { header: found.header, kv };
    },
    resign: async (req, call) => {
      const leader = requireLeader(req.leader);
      return { header: await this.resign(Buffer.from(leader.key), leader.rev, call) };
    },
    observe: async (req, call) => this.observe(queuePrefix(req.name), call),
  };

  private proclaim(key: Buffer, rev: bigint, lease: bigint, value: Buffer, call: ServerCall): Promise<etcd.TxnResponse> {
    return this.client.txn(
      etcd.TxnRequest.fromPartial({ compare: [createRevisionIs(key, rev)], success: [{ request: { $case: 'requestPut', value: etcd.PutRequest.fromPartial({ key, value, lease }) } }] }),
      call,
    );
  }

  private async resign(key: Buffer, rev: bigint, call: ServerCall): Promise<etcd.ResponseHeader | undefined> {
    const resigned = await this.client.txn(
      etcd.TxnRequest.fromPartial({ compare: [createRevisionIs(key, rev)], success: [{ request: { $case: 'requestDeleteRange', value: etcd.DeleteRangeRequest.fromPartial({ key }) } }] }),
      call,
    );
    return resigned.header;
  }

  /**
   * The leader now (or the first one to come), then each new value of its key, until the key
   * is deleted; then the next leader, and so on until the client goes (etcd's observe).
   */
  private async observe(prefix: Buffer, call: ServerWritableCall<v3election.LeaderResponse>): Promise<void> {
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    call.signal.addEventListener('abort', onAbort);
    try {
      while (!stop.signal.aborted) {
        const found = await this.client.range(queueRange(prefix, 'first'), call);
        let leader: { header: etcd.ResponseHeader | undefined; kv: mvcc.KeyValue } | undefined = found.kvs[0] === undefined ? undefined : { header: found.header, kv: found.kvs[0] };
        if (leader === undefined) {
          // No leader yet: the first key put under the prefix leads.
          const range = queueRange(prefix, 'first');
          for await (const batch of this.client.watch({ key: prefix, rangeEnd: range.rangeEnd, startRevision: found.header?.revision ?? 0n }, stop.signal)) {
            const put = batch.events.find((event) => event.type === mvcc.Event_EventType.PUT && event.kv !== undefined);
            if (put?.kv !== undefined) {
              leader = { header: { ...(batch.header as etcd.ResponseHeader), revision: put.kv.modRevision }, kv: put.kv };
              break;
            }
          }
          if (leader === undefined) return;
        }
        await call.write({ header: leader.header, kv: leader.kv });
        const from = (leader.header?.revision ?? 0n) + 1n;
        for await (const batch of this.client.watch({ key: leader.kv.key, rangeEnd: new Uint8Array(0), startRevision: from }, stop.signal)) {
          const deleted = batch.events.findIndex((event) => event.type === mvcc.Event_EventType.DELETE);
          for (const event of deleted === -1 ? batch.events : batch.events.slice(0, deleted)) {
            await call.write({ header: batch.header, kv: event.kv });
          }
          if (deleted !== -1) break;
        }
      }
    } finally {
      call.signal.removeEventListener('abort', onAbort);
      stop.abort();
    }
  }
}

function requireLeader(leader: v3election.LeaderKey | undefined): v3election.LeaderKey {
  if (leader === undefined) {
    throw electionError(ELECTION_MESSAGES.missingLeaderKey);
  }
  return leader;
}
