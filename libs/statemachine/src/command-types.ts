/**
 * What travels in the Raft log (commands), what applying an entry yields (results), and the
 * membership state the state machine keeps from ConfChange entries.
 */
import type { ConfChange, LogIndex, MembershipConfig, NodeId } from '@keyval/raft';
import type { CommandRejectedError } from './errors';
import type { CompactRequest, DeleteRangeRequest, PutRequest, TxnRequest, WriteResponse } from './kv-types';

/** A client's session id: a uint64 (as etcd member/lease ids are) or a non-empty string. */
export type ClientId = bigint | string;

/**
 * Client session header (dissertation §6.3). A session starts at `seq` 1; later writes carry
 * larger numbers (gaps are allowed). A retry reuses its number and gets the remembered outcome.
 */
export interface SessionHeader {
  readonly clientId: ClientId;
  /** Positive safe integer. */
  readonly seq: number;
}

/** The write a command performs. `noop` only carries the leader's time (to expire sessions). */
export type WriteRequest =
  | { readonly type: 'put'; readonly request: PutRequest }
  | { readonly type: 'deleteRange'; readonly request: DeleteRangeRequest }
  | { readonly type: 'txn'; readonly request: TxnRequest }
  /**
   * Compacts the history at `revision` (CompactedError at or below the compacted revision,
   * FutureRevisionError above the current one). Takes effect for reads at once; the stored
   * versions are removed in the background afterwards (see StateMachine.compacted).
   */
  | { readonly type: 'compact'; readonly request: CompactRequest }
  /** Grants a lease (the leader picked the id and applied the minimum TTL). LeaseExistsError when taken. */
  | { readonly type: 'leaseGrant'; readonly id: bigint; readonly ttl: number }
  /** Revokes a lease, deleting its keys in one revision. LeaseNotFoundError when unknown. */
  | { readonly type: 'leaseRevoke'; readonly id: bigint }
  /** Records leases' remaining TTLs (seconds; 0 clears), so a new leader does not restart them from the full TTL. */
  | { readonly type: 'leaseCheckpoint'; readonly checkpoints: ReadonlyArray<{ readonly id: bigint; readonly remainingTtl: number }> }
  | { readonly type: 'noop' }
  /**
   * A member publishes its name and client URLs (etcd's attribute update: bootstrap entries
   * only know peer URLs). Changes the members table only; unknown ids change nothing. Like
   * `noop`, it may not carry a session.
   */
  | { readonly type: 'memberAttributes'; readonly id: NodeId; readonly name: string; readonly clientUrls: readonly string[] }
  /**
   * Raises or clears a member's alarm (etcd's AlarmRequest ACTIVATE/DEACTIVATE). While a
   * NOSPACE alarm is active every member rejects the writes that add data (NoSpaceError).
   * Like `noop`, it may not carry a session.
   */
  | { readonly type: 'alarm'; readonly action: AlarmAction; readonly memberId: NodeId; readonly alarm: AlarmType }
  /**
   * Changes a member's peer URLs, keeping its id (etcd's MemberUpdate). Checked again when
   * applied: an unknown id, or a URL another member has, changes nothing (the result says
   * which). Like `noop`, it may not carry a session.
   */
  | { readonly type: 'memberUpdate'; readonly id: NodeId; readonly peerUrls: readonly string[] };

/** etcd's alarm types that can be raised (etcdserverpb.AlarmType without NONE). */
export type AlarmType = 'NOSPACE' | 'CORRUPT';

export type AlarmAction = 'activate' | 'deactivate';

/** An active alarm: which member raised it, and what (etcd's AlarmMember). */
export interface AlarmRecord {
  readonly memberId: NodeId;
  readonly alarm: AlarmType;
}

/** The payload of an EntryType.Normal entry (encoded with `encodeCommand`). */
export interface Command {
  /**
   * Wall-clock milliseconds the leader assigned when it proposed the command. The state
   * machine's clock is the largest timestamp applied so far (log time); sessions expire by it,
   * never by the local clock, so every member expires the same sessions at the same index.
   * 0 means "no time" and does not advance log time.
   */
  readonly timestampMs: number;
  /** Present for exactly-once writes; not allowed on `noop`. */
  readonly session?: SessionHeader;
  readonly op: WriteRequest;
}

/** A member as the cluster knows it (from ConfChange contexts). */
export interface MemberRecord {
  readonly id: NodeId;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
}

/** The membership as of the applied index: the Raft configuration and the members table. */
export interface MembershipState {
  readonly config: MembershipConfig;
  /** Sorted by id; includes learners. */
  readonly members: readonly MemberRecord[];
  /**
   * Active alarms (etcd's alarm store), sorted by member id then type; absent when none. Kept
   * with the members table: replicated, durable, in snapshots and in the store hash.
   */
  readonly alarms?: readonly AlarmRecord[];
}

/** The result of applying one entry, in the order the entries were given. */
export type ApplyResult =
  /** An empty entry (a new leader's no-op) or a `noop` command. */
  | { readonly kind: 'empty'; readonly index: LogIndex }
  /** A ConfChange entry: the configuration the state machine now holds. */
  | {
      readonly kind: 'confChange';
      readonly index: LogIndex;
      readonly change: ConfChange;
      readonly membership: MembershipState;
      /** Set when the change's context could not be read; the member was recorded without it. */
      readonly contextError?: string;
    }
  /** A write; `replayed` when it is a session retry answered from memory (not re-applied). */
  | { readonly kind: 'response'; readonly index: LogIndex; readonly response: WriteResponse; readonly replayed: boolean }
  /**
   * An `alarm` command: for activate, the alarm (active now, whether or not it was before); for
   * deactivate, the alarm if it was active (else none), as etcd's AlarmResponse lists them.
   */
  | { readonly kind: 'alarm'; readonly index: LogIndex; readonly action: AlarmAction; readonly alarms: readonly AlarmRecord[] }
  /**
   * A `memberUpdate` command: the membership after it, or why it changed nothing (the member
   * is gone, or another member has one of the URLs).
   */
  | { readonly kind: 'memberUpdate'; readonly index: LogIndex; readonly membership: MembershipState; readonly refused?: 'member-not-found' | 'peer-urls-exist' }
  /** A command that changed nothing; `replayed` as above. */
  | { readonly kind: 'rejected'; readonly index: LogIndex; readonly error: CommandRejectedError; readonly replayed: boolean };

/** What a client session remembers of the last write it applied. */
export type RememberedOutcome =
  | { readonly kind: 'response'; readonly response: WriteResponse }
  | { readonly kind: 'rejected'; readonly error: CommandRejectedError };

/** A session as reported by `sessions()` (inspection and tests). */
export interface SessionInfo {
  readonly clientId: ClientId;
  readonly lastSeq: number;
  /** Log index of the entry that last used the session. */
  readonly lastIndex: number;
  /** Log time (ms) when the session was last used. */
  readonly lastSeenMs: number;
  /** Whether the last outcome is remembered (false when it was larger than the limit). */
  readonly retained: boolean;
}
