/**
 * Basic vocabulary of the Raft core: branded identifiers, log entries, hard state, membership
 * configurations and snapshot metadata. Everything here is plain data, safe to copy and
 * compare; nothing here does I/O.
 */

/** A member's id. etcd member ids are uint64, so ids are bigints; 0n means "none". */
export type NodeId = bigint & { readonly __brand: 'NodeId' };
/** A Raft term (§5.1). Starts at 0 and only grows. */
export type Term = number & { readonly __brand: 'Term' };
/** A log position (§5.3). The first real entry has index 1; 0 means "before the log". */
export type LogIndex = number & { readonly __brand: 'LogIndex' };

export const NO_NODE = 0n as NodeId;

export function nodeId(value: bigint | number): NodeId {
  const id = BigInt(value);
  if (id < 0n || id > 0xffff_ffff_ffff_ffffn) {
    throw new RangeError(`node id ${id} is not a uint64`);
  }
  return id as NodeId;
}
export function term(value: number): Term {
  return value as Term;
}
export function logIndex(value: number): LogIndex {
  return value as LogIndex;
}

/** Which kind of payload an entry carries. */
export enum EntryType {
  /** Application data, or an empty no-op a new leader appends (§8). */
  Normal = 0,
  /** A membership change; `data` is an encoded {@link ConfChangeEntry}. */
  ConfChange = 1,
}

/** One log entry. Immutable once created: the core and drivers share the same objects. */
export interface Entry {
  readonly term: Term;
  readonly index: LogIndex;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** Bytes an entry is charged against size limits: payload plus a fixed header allowance. */
export const ENTRY_OVERHEAD_BYTES = 24;
export function entryBytes(entry: Entry): number {
  return entry.data.byteLength + ENTRY_OVERHEAD_BYTES;
}

/**
 * State that must be on stable storage before the member answers anyone (§5, Figure 2):
 * the current term, the vote cast in it and the commit index (the last is an optimisation
 * that avoids re-deriving commit after a restart; losing it is safe).
 */
export interface HardState {
  readonly term: Term;
  /** The candidate voted for in `term`, or NO_NODE. */
  readonly vote: NodeId;
  readonly commit: LogIndex;
}

export const EMPTY_HARD_STATE: HardState = { term: 0 as Term, vote: NO_NODE, commit: 0 as LogIndex };

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/**
 * A membership configuration. Voters count toward quorums; learners receive the log but
 * never vote and never count (dissertation §4.2.1). A member is in at most one of the lists.
 */
export interface MembershipConfig {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export const EMPTY_CONFIG: MembershipConfig = { voters: [], learners: [] };

/** Single-server membership changes (dissertation §4.1). */
export enum ConfChangeType {
  AddVoter = 0,
  AddLearner = 1,
  /** Turns an existing learner into a voter. */
  PromoteLearner = 2,
  RemoveMember = 3,
}

/** A requested change. `context` is opaque to the core (the app puts peer URLs, names there). */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  readonly context: Uint8Array;
}

/**
 * What a ConfChange entry carries: the change and the whole configuration that results from
 * it, computed by the leader when it proposed the change. Followers adopt `config` verbatim,
 * so every member derives the same configuration from the same log.
 */
export interface ConfChangeEntry {
  readonly change: ConfChange;
  readonly config: MembershipConfig;
}

/** Metadata of a snapshot: the last index and term it covers and the configuration there. */
export interface SnapshotMeta {
  readonly index: LogIndex;
  readonly term: Term;
  readonly config: MembershipConfig;
}

export const EMPTY_SNAPSHOT: SnapshotMeta = { index: 0 as LogIndex, term: 0 as Term, config: EMPTY_CONFIG };
