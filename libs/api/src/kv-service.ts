/**
 * The etcd v3 KV service (`etcdserverpb.KV`) over a member. Writes go to the leader: a
 * follower forwards the request (with its metadata, so client sessions still dedupe) and
 * relays the answer; while no leader is known it waits, up to the call's deadline. Reads are
 * served locally: linearizable ones after a ReadIndex barrier, serializable ones at once.
 *
 *     client ─▶ KvService ─┬─ leader: validate ─▶ propose ─▶ applied ─▶ response
 *                          └─ follower: forward to the leader (retry on a definite not-leader)
 */
import type { Context } from '@opentelemetry/api';
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import type { HandlerFor, Metadata, ServerCall } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { awaitsLeader } from '@keyval/outcome';
import { NO_NODE } from '@keyval/raft';
import type { RangeRequest, RangeResponse, SessionHeader, WriteRequest, WriteResponse } from '@keyval/statemachine';
import { ETCD_MESSAGES, invalidArgument } from './api.errors';
import { checkRequestSize, deleteFromWire, putFromWire, rangeFromWire, txnFromWire } from './etcd-request';
import type { ApiLimits } from './etcd-request';
import { deleteToWire, header, putToWire, rangeToWire, txnToWire } from './etcd-response';
import type { HeaderContext } from './etcd-response';
import { DETAIL_TRAILER, toStatusError } from './error-status';
import { backoff, callDeadline, writeOnLeader } from './leader-calls';
import type { LeaderRouting } from './leader-calls';
import type { LeaderForwarder } from './leader-forwarder';

/** Metadata keys of the exactly-once protocol. */
export const CLIENT_ID_KEY = 'keyval-client-id';
export const SEQUENCE_KEY = 'keyval-seq';

/** What the KV service needs of a member. */
export interface KvBackend extends LeaderRouting {
  headerContext(): HeaderContext;
  /** Proposes a write (leader only); its span, with tracing, is a child of `trace` (the call's). */
  write(op: WriteRequest, session: SessionHeader | undefined, deadlineMs: number, trace?: Context): Promise<WriteResponse>;
  range(request: RangeRequest, consistency: 'linearizable' | 'serializable', deadlineMs: number, trace?: Context): Promise<RangeResponse>;
  /** Resolves once this member's physical compaction at `revision` is done. */
  compacted(revision: number): Promise<void>;
}

/** The space quota in front of the writes that add data (AlarmService implements it). */
export interface SpaceAdmission {
  /** Resolves when `op` may be proposed; throws the status that refuses it otherwise. */
  admit(op: WriteRequest, call: ServerCall): Promise<void>;
}

export interface KvServiceOptions {
  readonly limits: ApiLimits;
  /** Deadline of a call that brings none, ms. */
  readonly defaultTimeoutMs: number;
  /** The space quota in front of puts and txns (etcd's --quota-backend-bytes); none: no quota. */
  readonly space?: SpaceAdmission;
}

/** The session a request carries in its metadata, if any (refusing malformed ones). */
export function sessionFrom(metadata: Metadata): SessionHeader | undefined {
  const clientId = metadata.get(CLIENT_ID_KEY);
  const seqText = metadata.get(SEQUENCE_KEY);
  if (clientId === undefined && seqText === undefined) {
    return undefined;
  }
  if (clientId === undefined || clientId.length === 0 || seqText === undefined) {
    throw invalidArgument(`${CLIENT_ID_KEY} and ${SEQUENCE_KEY} must be sent together`);
  }
  if (!/^[1-9][0-9]{0,15}$/.test(seqText) || !Number.isSafeInteger(Number(seqText))) {
    throw invalidArgument(`${SEQUENCE_KEY} must be a positive integer, got ${JSON.stringify(seqText)}`);
  }
  return { clientId, seq: Number(seqText) };
}

/** Approximate request size (keys and values), checked against --max-request-bytes. */
function txnBytes(t: etcd.TxnRequest): number {
  let bytes = 0;
  for (const c of t.compare) bytes += c.key.length + c.rangeEnd.length + (c.targetUnion?.$case === 'value' ? c.targetUnion.value.length : 8);
  for (const op of [...t.success, ...t.failure]) {
    const r = op.request;
    if (r?.$case === 'requestPut') bytes += r.value.key.length + r.value.value.length;
    else if (r?.$case === 'requestRange' || r?.$case === 'requestDeleteRange') bytes += r.value.key.length + r.value.rangeEnd.length;
    else if (r?.$case === 'requestTxn') bytes += txnBytes(r.value);
  }
  return bytes;
}

export class KvService {
  constructor(
    private readonly backend: KvBackend,
    private readonly forwarder: LeaderForwarder,
    private readonly options: KvServiceOptions,
  ) {}

  /**
   * Writes on the leader (or forwards to it). `afterApplied` runs when this member applied the
   * write itself (a forwarded request does it on the leader).
   */
  private writeOrForward<Res>(
    method: 'put' | 'deleteRange' | 'txn' | 'compact',
    request: unknown,
    op: WriteRequest,
    call: ServerCall,
    toWire: (w: WriteResponse) => Res,
    afterApplied?: () => Promise<void>,
  ): Promise<Res> {
    const session = sessionFrom(call.metadata);
    return writeOnLeader(this.backend, this.forwarder, {
      call,
      service: etcd.KVDefinition,
      method,
      request,
      hasSession: session !== undefined,
      defaultTimeoutMs: this.options.defaultTimeoutMs,
      local: async (deadlineMs) => {
        const response = toWire(await this.backend.write(op, session, deadlineMs, call.traceContext));
        await afterApplied?.();
        return response;
      },
    });
  }

  private async read(request: RangeRequest, serializable: boolean, call: ServerCall): Promise<RangeResponse> {
    const deadline = callDeadline(call, this.options.defaultTimeoutMs);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.backend.range(request, serializable ? 'serializable' : 'linearizable', deadline, call.traceContext);
      } catch (error) {
        if (awaitsLeader(error) && performance.now() < deadline) {
          if (this.backend.leaderId() === NO_NODE) {
            await this.backend.waitForLeader(deadline).catch(() => undefined);
          }
          // Always pause before the next attempt: waitForLeader can answer at once (with a
          // leader the core has already dropped), and a loop of resolved promises never
          // yields to the event loop — the member would spin until the deadline.
          await backoff(attempt);
          continue;
        }
        throw toStatusError(error);
      }
    }
  }

  /** Every method of etcd's KV service (the batch service calls them too). */
  readonly implementation: { readonly [K in keyof typeof etcd.KVDefinition.methods]: HandlerFor<(typeof etcd.KVDefinition.methods)[K]> } = {
    range: async (req, call) => rangeToWire(await this.read(rangeFromWire(req), req.serializable, call), this.backend.headerContext()),
    put: async (req, call) => {
      checkRequestSize(req.key.length + req.value.length, this.options.limits);
      const op: WriteRequest = { type: 'put', request: putFromWire(req) };
      await this.options.space?.admit(op, call);
      return this.writeOrForward('put', req, op, call, (w) => (w.type === 'put' ? putToWire(w.response, this.backend.headerContext()) : unexpected(w)));
    },
    deleteRange: async (req, call) => {
      checkRequestSize(req.key.length + req.rangeEnd.length, this.options.limits);
      const op: WriteRequest = { type: 'deleteRange', request: deleteFromWire(req) };
      return this.writeOrForward('deleteRange', req, op, call, (w) => (w.type === 'deleteRange' ? deleteToWire(w.response, this.backend.headerContext()) : unexpected(w)));
    },
    txn: async (req, call) => {
      checkRequestSize(txnBytes(req), this.options.limits);
      const op: WriteRequest = { type: 'txn', request: txnFromWire(req, this.options.limits).request };
      await this.options.space?.admit(op, call);
      return this.writeOrForward('txn', req, op, call, (w) => (w.type === 'txn' ? txnToWire(w.response, this.backend.headerContext()) : unexpected(w)));
    },
    compact: async (req, call) => {
      // etcd: at or below the compacted revision (which starts at -1) is compacted.
      if (req.revision < 0n) {
        throw new GrpcStatusError(GrpcStatus.OUT_OF_RANGE, ETCD_MESSAGES.compacted, { metadata: { [DETAIL_TRAILER]: `revision ${req.revision} is negative` } });
      }
      if (req.revision > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new GrpcStatusError(GrpcStatus.OUT_OF_RANGE, ETCD_MESSAGES.futureRevision);
      }
      const revision = Number(req.revision);
      const op: WriteRequest = { type: 'compact', request: { revision } };
      // `physical`: answer once the compacted history is deleted from disk, as etcd does.
      const afterApplied = req.physical ? () => this.backend.compacted(revision) : undefined;
      return this.writeOrForward(
        'compact',
        req,
        op,
        call,
        (w) => (w.type === 'compact' ? { header: header(w.response.header.revision, this.backend.headerContext()) } : unexpected(w)),
        afterApplied,
      );
    },
  };
}

function unexpected(w: WriteResponse): never {
  throw new GrpcStatusError(GrpcStatus.INTERNAL, `the write answered as a ${w.type}`);
}
