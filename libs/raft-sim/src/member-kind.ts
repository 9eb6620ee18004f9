/**
 * What the simulated world (SimWorld, the fault injector, the liveness phase, the end checks)
 * needs of a member, whichever kind runs: the simulation's own (`sim-member.ts`) or the
 * production driver, WAL and state machine (`production/world-production-member.ts`). The
 * checkers observe a member only through this and through what it reports to its host (Ready
 * stream, messages sent with its durable and written logs, reads served, applies).
 */
import type { ConfChange, Message, NodeId, RaftStatus } from '@keyval/raft';
import type { ClientRequest } from './client-protocol';
import type { DurableLogView, WrittenLogView } from './protocol-checker';

/** The member implementations `--member` chooses between. */
export type MemberKind = 'sim' | 'production';

export interface WorldMember {
  readonly num: number;
  readonly id: NodeId;
  /** Running: started and not crashed. */
  readonly up: boolean;
  /** Bumped on every start; events of an older incarnation are ignored. */
  readonly incarnation: number;
  /** Set once a committed configuration removed it; it is never restarted. */
  removed: boolean;
  /**
   * It refused to start on a damaged disk (a production WAL with a bit flipped in cold data
   * refuses to open, as it must) and stays down: an operator would replace it.
   */
  readonly retired: boolean;
  /** Starts (or restarts) the member from its durable state. */
  start(): void;
  /**
   * The process dies. `writtenBack`: how many unsynced write batches still reach the disk (the
   * simulation's own disk; the production member's simulated file system decides by its seed).
   */
  crash(writtenBack: number): void;
  /** The process stalls until `untilMs` (world time): its inputs wait and are handled in order then. */
  pause(untilMs: number): void;
  /** A message arrived from the network. */
  deliver(message: Message): void;
  /** The transport noticed `to` cannot be reached (the driver tells its core). */
  unreachable(to: NodeId): void;
  /** Runs `fn` as an input of the process (now, or when a pause ends). */
  input(fn: () => void): void;
  /**
   * Asks its core, as an admin request would, to hand leadership to `target` (§3.10). Throws
   * the core's RaftError when refused.
   */
  transferLeadership(target: NodeId): void;
  /**
   * Proposes a membership change as an admin request would; `failed` hears why when it is
   * refused or does not apply (the simulation's own member answers at once).
   */
  proposeConfChange(change: ConfChange, failed: (reason: string) => void): void;
  /** A client request arrived. */
  onClientRequest(request: ClientRequest): void;
  /** The term it leads in, if its core believes it leads. */
  leaderTerm(): number | undefined;
  /** Its core's status, when running. */
  status(): RaftStatus | undefined;
  /** Writes (batches or file operations) not yet durable: a crash now may lose some. */
  readonly unsyncedWrites: number;
  readonly appliedIndex: number;
  /** Digest of every entry applied, in order: equal digests at equal indexes mean the same entries. */
  readonly chainDigest: number;
  /** Whether the client operation `opId` was applied to its state machine. */
  hasApplied(opId: string): boolean;
  /** The log it has written (volatile: what its core reads). */
  writtenLog(): WrittenLogView;
  /** What is durable on its disk. */
  durableLog(): DurableLogView & WrittenLogView;
  pendingProposalCount(): number;
  /** The proposals pending here, each named by member, incarnation, index and term. */
  pendingProposalIds(): string[];
  /** Its state in one line, for failure reports. */
  describe(): string;
}
