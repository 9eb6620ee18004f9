/**
 * Executes write commands with etcd v3.4's mvcc rules. One command is one write transaction:
 * - it starts at the store revision R; if it changes anything, everything it writes gets
 *   revision R+1 (a put always changes; a delete only when it deletes something);
 * - a put of an existing key keeps its create revision and increments its version; a put of
 *   a missing key creates it at version 1 with create revision R+1;
 * - a deleted key disappears: recreating it starts again at version 1;
 * - sub-responses report what etcd reports inside a write txn: a put R+1, a delete or range
 *   R+1 once the txn has changed something and R before; a nested txn's header revision is 0
 *   (etcd leaves nested txn headers empty). The command's own header has its final revision.
 *
 * - a range may read a past revision (not below the compacted one, not above the revision
 *   before the txn): it sees the keys as they were then, without the txn's own writes;
 * - a compaction moves the compacted revision (the history is trimmed after the batch).
 *
 * Writes go to the top layer of the overlay, with the events that make the history; a
 * rejected command's layer is dropped, so a txn is all or nothing.
 */
import type { RememberedOutcome, WriteRequest } from '../command-types';
import { CommandRejectedError, CompactedError, FutureRevisionError, KeyNotFoundError, LeaseExistsError, LeaseNotFoundError, RangeTooLargeError, invariant } from '../errors';
import type {
  CompactResponse,
  LeaseGrantResponse,
  LeaseRevokeResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
  WriteResponse,
} from '../kv-types';
import type { StateMachineLimits } from '../limits';
import { assertNever } from '../util/assert-never';
import { compareHolds } from './compare';
import type { OverlayView } from './overlay-view';
import { checkReadRevision, collectSpan, kvResponseBytes, readRange } from './range-reader';
import { keyBytes } from './key-span';
import type { LeaseTable } from './lease-table';

/** A command that changes the store (what executeWrite runs). */
export type StoreWrite = Exclude<WriteRequest, { type: 'noop' | 'memberAttributes' | 'alarm' | 'memberUpdate' }>;

/** The store's revisions a command starts from. */
export interface StoreRevisions {
  /** The store revision. */
  readonly revision: number;
  /** The compacted revision (-1 before any compaction, as etcd). */
  readonly compactRevision: number;
}

/** The outcome of one write command and the store revisions after it. */
export interface WriteResult extends StoreRevisions {
  readonly outcome: RememberedOutcome;
}

/**
 * Runs one write command against the view at `before`. Never throws a CommandRejectedError: a
 * rejection is returned as the outcome, with nothing written.
 */
export async function executeWrite(view: OverlayView, op: StoreWrite, before: StoreRevisions, limits: StateMachineLimits, leases: LeaseTable): Promise<WriteResult> {
  const txn = new WriteTxn(view, before, limits, leases);
  view.pushLayer();
  try {
    const response = await txn.run(op);
    view.commitLayer();
    return { outcome: { kind: 'response', response }, revision: txn.finalRevision(), compactRevision: txn.compactRevision };
  } catch (error) {
    view.dropLayer();
    if (error instanceof CommandRejectedError) {
      return { outcome: { kind: 'rejected', error }, ...before };
    }
    throw error;
  }
}

class WriteTxn {
  /** Keys written so far (etcd's len(tw.changes)). */
  private changes = 0;
  private readonly beginRevision: number;
  compactRevision: number;

  constructor(
    private readonly view: OverlayView,
    before: StoreRevisions,
    private readonly limits: StateMachineLimits,
    private readonly leases: LeaseTable,
  ) {
    this.beginRevision = before.revision;
    this.compactRevision = before.compactRevision;
  }

  finalRevision(): number {
    return this.changes > 0 ? this.beginRevision + 1 : this.beginRevision;
  }

  async run(op: StoreWrite): Promise<WriteResponse> {
    switch (op.type) {
      case 'compact':
        return { type: 'compact', response: this.compact(op.request.revision) };
      case 'leaseGrant':
        return { type: 'leaseGrant', response: this.leaseGrant(op.id, op.ttl) };
      case 'leaseRevoke':
        return { type: 'leaseRevoke', response: await this.leaseRevoke(op.id) };
      case 'leaseCheckpoint':
        for (const { id, remainingTtl } of op.checkpoints) {
          this.leases.checkpoint(id, remainingTtl);
        }
        return { type: 'leaseCheckpoint', response: { header: { revision: this.beginRevision } } };
      case 'put':
        // etcd's top-level put checks the lease before the key (a txn checks the key first).
        this.checkLease(op.request);
        return { type: 'put', response: await this.put(op.request) };
      case 'deleteRange':
        return { type: 'deleteRange', response: await this.deleteRange(op.request) };
      case 'txn': {
        const paths = await this.evaluatePaths(op.request);
        await this.checkPuts(op.request, paths);
        this.checkRangeRevisions(op.request, paths);
        const { succeeded, responses } = await this.txn(op.request, paths);
        return { type: 'txn', response: { header: { revision: this.finalRevision() }, succeeded, responses } };
      }
      default:
        return assertNever(op);
    }
  }

  private async put(request: PutRequest): Promise<PutResponse> {
    const previous = await this.view.get(request.key);
    if ((request.ignoreValue === true || request.ignoreLease === true) && previous === undefined) {
      throw KeyNotFoundError.forKey(request.key);
    }
    const revision = this.beginRevision + 1;
    const value = request.ignoreValue === true ? (previous as KeyValue).value : request.value;
    const lease = request.ignoreLease === true ? ((previous as KeyValue).lease ?? 0n) : (request.lease ?? 0n);
    const kv: KeyValue = {
      key: request.key,
      createRevision: previous?.createRevision ?? revision,
      modRevision: revision,
      version: (previous?.version ?? 0) + 1,
      value,
      ...(lease !== 0n && { lease }),
    };
    this.view.put(kv, previous);
    this.changes++;
    const header = { revision };
    return request.prevKv === true && previous !== undefined ? { header, prevKv: previous } : { header };
  }

  private async deleteRange(request: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    const wantPrev = request.prevKv === true;
    // Whole records: each delete's event carries the record it removed (prev_kv of watchers).
    const existing = await collectSpan(this.view, request, 'values');
    if (wantPrev) {
      let bytes = 0;
      for (const kv of existing) {
        bytes += kvResponseBytes(kv);
      }
      if (bytes > this.limits.maxRangeResponseBytes) {
        throw RangeTooLargeError.exceeded(this.limits.maxRangeResponseBytes);
      }
    }
    for (const kv of existing) {
      this.view.remove(kv, this.beginRevision + 1);
    }
    this.changes += existing.length;
    return { header: { revision: this.readRevision() }, deleted: existing.length, prevKvs: wantPrev ? existing : [] };
  }

  private range(request: RangeRequest): Promise<RangeResponse> {
    const at = request.revision ?? 0;
    // A past revision reads the history as it was (checked before the txn ran any op).
    const source = at > 0 ? this.view.at(at) : this.view;
    return readRange(source, request, this.readRevision(), this.limits.maxRangeResponseBytes);
  }

  private checkLease(request: PutRequest): void {
    const lease = request.lease ?? 0n;
    if (lease !== 0n && this.leases.get(lease) === undefined) {
      throw LeaseNotFoundError.of(lease);
    }
  }

  private leaseGrant(id: bigint, ttl: number): LeaseGrantResponse {
    if (this.leases.get(id) !== undefined) {
      throw LeaseExistsError.of(id);
    }
    this.leases.grant(id, ttl);
    return { header: { revision: this.beginRevision }, id, ttl };
  }

  /** Deletes the lease's keys in one revision (in key order, as etcd), then the lease. */
  private async leaseRevoke(id: bigint): Promise<LeaseRevokeResponse> {
    if (this.leases.get(id) === undefined) {
      throw LeaseNotFoundError.of(id);
    }
    for (const name of this.leases.revoke(id)) {
      const record = await this.view.get(keyBytes(name));
      if (record !== undefined) {
        this.view.remove(record, this.beginRevision + 1);
        this.changes++;
      }
    }
    return { header: { revision: this.finalRevision() } };
  }

  /** etcd's Compact: at or below the compacted revision, or above the current one, fails. */
  private compact(revision: number): CompactResponse {
    if (revision <= this.compactRevision) {
      throw CompactedError.of(revision, this.compactRevision);
    }
    if (revision > this.beginRevision) {
      throw FutureRevisionError.of(revision, this.beginRevision);
    }
    this.compactRevision = revision;
    return { header: { revision: this.beginRevision } };
  }

  /**
   * etcd checks the revision of every range on the chosen path against the store before the
   * txn (checkRequestRange), after the puts: a future or compacted one fails the whole txn.
   */
  private checkRangeRevisions(txn: TxnRequest, paths: readonly boolean[]): number {
    let used = 1;
    for (const op of paths[0] === true ? txn.success : txn.failure) {
      if (op.type === 'range') {
        checkReadRevision(op.request.revision ?? 0, this.beginRevision, this.compactRevision);
      }
      if (op.type === 'txn') {
        used += this.checkRangeRevisions(op.request, paths.slice(used));
      }
    }
    return used;
  }

  /** etcd: a read inside a write txn sees revision R+1 once the txn has changed something. */
  private readRevision(): number {
    return this.finalRevision();
  }

  /**
   * Evaluates the compares of the txn and of every nested txn on the chosen path, all against
   * the state before the txn (etcd's compareToPath): pre-order list of branch choices.
   */
  private async evaluatePaths(txn: TxnRequest): Promise<boolean[]> {
    let succeeded = true;
    for (const compare of txn.compare) {
      if (!(await compareHolds(this.view, compare))) {
        succeeded = false;
        break;
      }
    }
    const paths = [succeeded];
    for (const op of succeeded ? txn.success : txn.failure) {
      if (op.type === 'txn') {
        paths.push(...(await this.evaluatePaths(op.request)));
      }
    }
    return paths;
  }

  /**
   * etcd checks the puts of the chosen path before running any op (checkRequestPut): with
   * ignore_value or ignore_lease the key must exist, and a lease must exist.
   */
  private async checkPuts(txn: TxnRequest, paths: readonly boolean[]): Promise<number> {
    let used = 1;
    for (const op of paths[0] === true ? txn.success : txn.failure) {
      if (op.type === 'put') {
        if ((op.request.ignoreValue === true || op.request.ignoreLease === true) && (await this.view.get(op.request.key)) === undefined) {
          throw KeyNotFoundError.forKey(op.request.key);
        }
        this.checkLease(op.request);
      }
      if (op.type === 'txn') {
        used += await this.checkPuts(op.request, paths.slice(used));
      }
    }
    return used;
  }

  /** Runs the chosen branch; `paths` as evaluatePaths returned it for this txn. */
  private async txn(txn: TxnRequest, paths: readonly boolean[]): Promise<{ succeeded: boolean; responses: ResponseOp[]; pathsUsed: number }> {
    invariant(paths.length > 0, 'txn without a path');
    const succeeded = paths[0] as boolean;
    let used = 1;
    const responses: ResponseOp[] = [];
    for (const op of succeeded ? txn.success : txn.failure) {
      if (op.type === 'txn') {
        const nested = await this.txn(op.request, paths.slice(used));
        used += nested.pathsUsed;
        responses.push({ type: 'txn', response: { header: { revision: 0 }, succeeded: nested.succeeded, responses: nested.responses } });
      } else {
        responses.push(await this.op(op));
      }
    }
    return { succeeded, responses, pathsUsed: used };
  }

  private async op(op: Exclude<RequestOp, { type: 'txn' }>): Promise<ResponseOp> {
    switch (op.type) {
      case 'range':
        return { type: 'range', response: await this.range(op.request) };
      case 'put':
        return { type: 'put', response: await this.put(op.request) };
      case 'deleteRange':
        return { type: 'deleteRange', response: await this.deleteRange(op.request) };
      default:
        return assertNever(op);
    }
  }
}
