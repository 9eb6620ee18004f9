/**
 * Applying committed entries: the part shared by every implementation. An ApplyBatch runs a
 * run of consecutive entries against an overlay of the committed store, a working copy of the
 * machine state and the session table; the implementation then commits `view.writes()`, the
 * state and the session changes together (one RocksDB write batch, or one synchronous swap in
 * memory).
 *
 * Deterministic: the result of each entry depends only on the entries applied before it.
 */
import type { Entry, LogIndex, Term } from '@keyval/raft';
import { EntryType } from '@keyval/raft';
import type { ApplyResult, Command, MembershipState, RememberedOutcome } from '../command-types';
import { clientKey, describeClientId } from '../codec/client-id';
import { decodeCommand } from '../codec/command-codec';
import { decodeOutcome, encodeOutcome } from '../codec/outcome-codec';
import { ApplyOrderError, CommandRejectedError, NoSpaceError, ResponseNotRetainedError, SessionExpiredError, StaleSequenceError, StorageCorruptError, invariant } from '../errors';
import type { RequestOp } from '../kv-types';
import type { StateMachineLimits } from '../limits';
import { isSingleKey, keyString } from './key-span';
import type { KeyEvent } from './history';
import type { LeaseTable } from './lease-table';
import type { KvBaseStore } from './kv-source';
import { applyAlarm, noSpaceAlarmed, writeCost } from './alarms';
import { EMPTY_MEMBERSHIP, applyConfChange, setMemberAttributes, setMemberPeerUrls } from './membership';
import { OverlayView } from './overlay-view';
import type { SessionTable } from './session-table';
import { executeWrite } from './write-executor';
import type { StoreWrite } from './write-executor';

/** etcd's store starts at revision 1; the first write creates revision 2. */
export const INITIAL_REVISION = 1;

/** The compacted revision of a store never compacted (etcd's initial compactMainRev). */
export const NEVER_COMPACTED = -1;

/** Everything besides the key-value data and sessions that apply changes. */
export interface MachineState {
  appliedIndex: LogIndex;
  appliedTerm: Term;
  /** Store revision: incremented once by each command that changes a key. */
  revision: number;
  /**
   * The compacted revision: reads below it fail, and the history holds only what reads at or
   * above it can see. -1 before the first compaction (etcd reports that too).
   */
  compactRevision: number;
  /** Log time: the largest command timestamp applied so far (ms). */
  logTimeMs: number;
  membership: MembershipState;
}

export function initialMachineState(): MachineState {
  return { appliedIndex: 0 as LogIndex, appliedTerm: 0 as Term, revision: INITIAL_REVISION, compactRevision: NEVER_COMPACTED, logTimeMs: 0, membership: EMPTY_MEMBERSHIP };
}

export function copyMachineState(state: MachineState): MachineState {
  return { ...state };
}

/** An entry with its payload decoded (or the rejection decoding produced). */
export interface DecodedEntry {
  readonly entry: Entry;
  readonly command?: Command;
  readonly rejection?: CommandRejectedError;
}

/**
 * Checks that `entries` continue `appliedIndex` without gaps (ApplyOrderError otherwise,
 * before anything is applied) and decodes their payloads.
 */
export function decodeEntries(entries: readonly Entry[], appliedIndex: number, limits: StateMachineLimits): DecodedEntry[] {
  let expected = appliedIndex + 1;
  const out: DecodedEntry[] = [];
  for (const entry of entries) {
    if (entry.index !== expected) {
      throw new ApplyOrderError(expected, entry.index);
    }
    expected++;
    if (entry.type !== EntryType.Normal || entry.data.byteLength === 0) {
      out.push({ entry });
      continue;
    }
    try {
      out.push({ entry, command: decodeCommand(entry.data, limits) });
    } catch (error) {
      if (!(error instanceof CommandRejectedError)) {
        throw error;
      }
      out.push({ entry, rejection: error });
    }
  }
  return out;
}

/** Single keys the entries will read, so a store can fetch them in one round trip. */
export function prefetchKeys(decoded: readonly DecodedEntry[]): Uint8Array[] {
  const keys: Uint8Array[] = [];
  const visit = (op: RequestOp): void => {
    switch (op.type) {
      case 'put':
        keys.push(op.request.key);
        break;
      case 'deleteRange':
      case 'range':
        if (isSingleKey(op.request)) {
          keys.push(op.request.key);
        }
        break;
      case 'txn':
        for (const compare of op.request.compare) {
          if (isSingleKey(compare)) {
            keys.push(compare.key);
          }
        }
        op.request.success.forEach(visit);
        op.request.failure.forEach(visit);
        break;
    }
  };
  for (const { command } of decoded) {
    const op = command?.op;
    if (op !== undefined && (op.type === 'put' || op.type === 'deleteRange' || op.type === 'txn')) {
      visit(op);
    }
  }
  return keys;
}

const corruptOutcome = (message: string, offset: number): Error => new StorageCorruptError(`session outcome byte ${offset}`, message);

export class ApplyBatch {
  readonly view: OverlayView;
  readonly state: MachineState;
  /** Set when a ConfChange entry changed the membership in this batch. */
  membershipChanged = false;

  /** Events of the batch whose lease attachments are recorded already. */
  private eventsSeen = 0;

  constructor(
    base: KvBaseStore,
    committed: MachineState,
    private readonly sessions: SessionTable,
    private readonly limits: StateMachineLimits,
    private readonly leases: LeaseTable,
  ) {
    this.view = new OverlayView(base);
    this.state = copyMachineState(committed);
  }

  /** Applies the next entry. Throws only for bugs and storage failures (fatal). */
  async apply(decoded: DecodedEntry): Promise<ApplyResult> {
    const { entry } = decoded;
    invariant(entry.index === this.state.appliedIndex + 1, () => `entry ${entry.index} after applied ${this.state.appliedIndex}`);
    invariant(entry.term >= this.state.appliedTerm, () => `entry ${entry.index} has term ${entry.term} < applied term ${this.state.appliedTerm}`);
    let result: ApplyResult;
    if (entry.type === EntryType.ConfChange) {
      const change = applyConfChange(this.state.membership, entry.data, this.limits.maxMemberContextBytes);
      this.state.membership = change.membership;
      this.membershipChanged = true;
      result = { kind: 'confChange', index: entry.index, change: change.entry.change, membership: change.membership, ...(change.contextError !== undefined && { contextError: change.contextError }) };
    } else if (decoded.rejection !== undefined) {
      result = { kind: 'rejected', index: entry.index, error: decoded.rejection, replayed: false };
    } else if (decoded.command === undefined) {
      result = { kind: 'empty', index: entry.index };
    } else {
      result = await this.applyCommand(entry.index, decoded.command);
    }
    this.state.appliedIndex = entry.index;
    this.state.appliedTerm = entry.term;
    return result;
  }

  private async applyCommand(index: LogIndex, command: Command): Promise<ApplyResult> {
    this.state.logTimeMs = Math.max(this.state.logTimeMs, command.timestampMs);
    this.sessions.expire(this.state.logTimeMs);
    const op = command.op;
    if (op.type === 'noop') {
      return { kind: 'empty', index };
    }
    if (op.type === 'memberAttributes') {
      this.state.membership = setMemberAttributes(this.state.membership, op.id, op.name, op.clientUrls);
      this.membershipChanged = true;
      return { kind: 'empty', index };
    }
    if (op.type === 'memberUpdate') {
      const change = setMemberPeerUrls(this.state.membership, op.id, op.peerUrls);
      this.state.membership = change.membership;
      this.membershipChanged = true;
      return { kind: 'memberUpdate', index, membership: change.membership, ...(change.refused !== undefined && { refused: change.refused }) };
    }
    if (op.type === 'alarm') {
      const change = applyAlarm(this.state.membership, op.action, op.memberId, op.alarm);
      this.state.membership = change.membership;
      this.membershipChanged = true;
      return { kind: 'alarm', index, action: op.action, alarms: change.alarms };
    }
    const session = command.session;
    if (session === undefined) {
      return this.toResult(index, await this.execute(op), false);
    }
    const key = clientKey(session.clientId);
    const known = this.sessions.get(key);
    if (known === undefined && session.seq !== 1) {
      return { kind: 'rejected', index, error: SessionExpiredError.of(describeClientId(session.clientId), session.seq), replayed: false };
    }
    if (known !== undefined && session.seq < known.lastSeq) {
      return { kind: 'rejected', index, error: StaleSequenceError.of(describeClientId(session.clientId), session.seq, known.lastSeq), replayed: false };
    }
    if (known !== undefined && session.seq === known.lastSeq) {
      this.sessions.touch(key, index, this.state.logTimeMs);
      if (known.outcome === null) {
        return { kind: 'rejected', index, error: ResponseNotRetainedError.of(describeClientId(session.clientId), session.seq), replayed: true };
      }
      return this.toResult(index, decodeOutcome(known.outcome, corruptOutcome), true);
    }
    const outcome = await this.execute(op);
    this.sessions.remember(key, session.clientId, session.seq, index, this.state.logTimeMs, encodeOutcome(outcome));
    return this.toResult(index, outcome, false);
  }

  private async execute(op: StoreWrite): Promise<RememberedOutcome> {
    // etcd's capped applier: while NOSPACE is raised, every member rejects what adds data.
    if (writeCost(op) > 0 && noSpaceAlarmed(this.state.membership)) {
      return { kind: 'rejected', error: NoSpaceError.alarmed() };
    }
    const { outcome, revision, compactRevision } = await executeWrite(this.view, op, this.state, this.limits, this.leases);
    this.trackLeaseAttachments();
    invariant(revision === this.state.revision || revision === this.state.revision + 1, 'a command moved the revision by more than one');
    invariant(compactRevision >= this.state.compactRevision && compactRevision <= revision, 'a command moved the compacted revision back or past the store');
    this.state.revision = revision;
    this.state.compactRevision = compactRevision;
    return outcome;
  }

  /** Keys follow their leases: the command's events attach and detach them. */
  private trackLeaseAttachments(): void {
    const events = this.view.events();
    for (; this.eventsSeen < events.length; this.eventsSeen++) {
      const event = events[this.eventsSeen] as KeyEvent;
      const before = event.prev?.lease ?? 0n;
      const after = event.type === 'put' ? (event.kv.lease ?? 0n) : 0n;
      if (before !== after) {
        const name = keyString(event.kv.key);
        if (before !== 0n) {
          this.leases.detach(before, name);
        }
        if (after !== 0n) {
          this.leases.attach(after, name);
        }
      }
    }
  }

  private toResult(index: LogIndex, outcome: RememberedOutcome, replayed: boolean): ApplyResult {
    return outcome.kind === 'response'
      ? { kind: 'response', index, response: outcome.response, replayed }
      : { kind: 'rejected', index, error: outcome.error, replayed };
  }
}
