/**
 * The messages members exchange. A discriminated union on `type`; every handler switches over
 * it exhaustively and ends in `assertNever`. Every message carries the sender's term; a
 * receiver first reconciles terms (§5.1) and only then looks at the rest.
 */
import type { Entry, LogIndex, NodeId, SnapshotMeta, Term } from './types';

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
}

/** §9.6 pre-vote: "would you vote for me at `term`?" Changes no state on the receiver. */
export interface PreVoteRequest extends Envelope {
  readonly type: 'PreVote';
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
}

/** RequestVote (§5.2). `transfer` is set when campaigning after TimeoutNow (§3.10): voters
 * then skip their check-quorum lease, since the current leader asked for this election. */
export interface VoteRequest extends Envelope {
  readonly type: 'Vote';
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  readonly transfer: boolean;
}

export interface PreVoteResponse extends Envelope {
  readonly type: 'PreVoteResponse';
  readonly reject: boolean;
}

export interface VoteResponse extends Envelope {
  readonly type: 'VoteResponse';
  readonly reject: boolean;
}

/** AppendEntries (§5.3): `entries` follow the entry at (prevLogIndex, prevLogTerm). */
export interface AppendRequest extends Envelope {
  readonly type: 'Append';
  readonly prevLogIndex: LogIndex;
  readonly prevLogTerm: Term;
  readonly entries: readonly Entry[];
  /** The leader's commit index; the follower commits min(commit, last new entry). */
  readonly commit: LogIndex;
}

/**
 * Reply to Append. On success `index` is the last index now known to match the leader. On
 * rejection `index` is the prevLogIndex that failed and the hint lets the leader skip a whole
 * term of entries: `hintIndex` is the follower's best guess of the highest index that may
 * match and `hintTerm` the follower's term at that index (0 when its log is shorter).
 */
export interface AppendResponse extends Envelope {
  readonly type: 'AppendResponse';
  readonly index: LogIndex;
  readonly reject: boolean;
  readonly hintIndex: LogIndex;
  readonly hintTerm: Term;
}

/**
 * Leader heartbeat. Carries `commit` capped at what the follower is known to have, and a
 * `round` the follower echoes so the leader can time its lease and confirm ReadIndex rounds.
 */
export interface HeartbeatRequest extends Envelope {
  readonly type: 'Heartbeat';
  readonly commit: LogIndex;
  readonly round: number;
}

export interface HeartbeatResponse extends Envelope {
  readonly type: 'HeartbeatResponse';
  readonly round: number;
}

/**
 * InstallSnapshot (§7). The core carries only the metadata: the leader's driver streams the
 * snapshot data to the follower and steps this message into the follower's core only once
 * the whole snapshot has arrived and verified.
 */
export interface SnapshotRequest extends Envelope {
  readonly type: 'Snapshot';
  readonly snapshot: SnapshotMeta;
}

/** Leader transfer (§3.10): start an election now, skipping pre-vote. */
export interface TimeoutNowRequest extends Envelope {
  readonly type: 'TimeoutNow';
}

/** A follower asks the leader for a read index (§6.4); `context` identifies the read. */
export interface ReadIndexRequest extends Envelope {
  readonly type: 'ReadIndex';
  readonly context: string;
}

/** `index` is the read index for `context`; `reject` when the receiver could not serve it. */
export interface ReadIndexResponse extends Envelope {
  readonly type: 'ReadIndexResponse';
  readonly context: string;
  readonly index: LogIndex;
  readonly reject: boolean;
}

export type Message =
  | PreVoteRequest
  | PreVoteResponse
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | SnapshotRequest
  | TimeoutNowRequest
  | ReadIndexRequest
  | ReadIndexResponse;

export type MessageType = Message['type'];

export const MESSAGE_TYPES: readonly MessageType[] = [
  'PreVote',
  'PreVoteResponse',
  'Vote',
  'VoteResponse',
  'Append',
  'AppendResponse',
  'Heartbeat',
  'HeartbeatResponse',
  'Snapshot',
  'TimeoutNow',
  'ReadIndex',
  'ReadIndexResponse',
];

/** Compile-time exhaustiveness: reaching this at run time is a bug, so it throws. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
}

/** Responses are answers to a request; they never open an exchange. */
export function isResponse(message: Message): boolean {
  switch (message.type) {
    case 'PreVoteResponse':
    case 'VoteResponse':
    case 'AppendResponse':
    case 'HeartbeatResponse':
    case 'ReadIndexResponse':
      return true;
    case 'PreVote':
    case 'Vote':
    case 'Append':
    case 'Heartbeat':
    case 'Snapshot':
    case 'TimeoutNow':
    case 'ReadIndex':
      return false;
    default:
      return assertNever(message, 'message');
  }
}
