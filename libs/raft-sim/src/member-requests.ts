/**
 * A member's bookkeeping of client requests in flight, as a KeyVal server would keep it:
 * proposals waiting for their index to be applied (ProposalTicket contract: committed iff the
 * entry applied at `index` has the ticket's term) and reads waiting for a ReadIndex answer and
 * then for the state machine to reach the read index.
 */
import { NotLeaderError, RaftError } from '@keyval/raft';
import type { Entry, LogIndex, ProposalTicket, ReadState } from '@keyval/raft';
import type { ClientRequest, ReplyOutcome } from './client-protocol';
import type { ApplyResult } from './kv-state-machine';
import { SimViolation, ViolationKind } from './sim.errors';

/** Requests a member tracks at most (proposals and reads); more are refused. */
export const MAX_PENDING_REQUESTS = 10_000;

type Answer = (request: ClientRequest, outcome: ReplyOutcome) => void;
/** A read is being served: the member's term when it asked its core, and when it arrived. */
type Served = (term: number, arrivedMs: number) => void;

/** A read waiting for its ReadIndex answer or for the state machine to reach it. */
interface PendingRead {
  readonly request: ClientRequest & { kind: 'get' };
  readonly term: number;
  readonly arrivedMs: number;
}

export class MemberRequests {
  private readonly proposals = new Map<number, { readonly ticket: ProposalTicket; readonly request: ClientRequest }>();
  private readonly reads = new Map<string, PendingRead>();
  private waiting: { index: LogIndex; read: PendingRead }[] = [];

  constructor(
    private readonly answer: Answer,
    private readonly served: Served,
  ) {}

  get full(): boolean {
    return this.proposals.size + this.reads.size + this.waiting.length >= MAX_PENDING_REQUESTS;
  }

  get pendingProposals(): number {
    return this.proposals.size;
  }

  /** The pending proposals, as `index/tTerm`. */
  pendingProposalKeys(): string[] {
    return [...this.proposals.values()].map((p) => `${p.ticket.index}/t${p.ticket.term}`);
  }

  /** The process died: everything in flight is forgotten (clients time out). */
  clear(): void {
    this.proposals.clear();
    this.reads.clear();
    this.waiting = [];
  }

  proposed(ticket: ProposalTicket, request: ClientRequest): void {
    this.proposals.set(ticket.index, { ticket, request });
  }

  /** The core was asked for a read index for `request`, in `term`; it arrived at `arrivedMs`. */
  readRequested(context: string, request: ClientRequest & { kind: 'get' }, term: number, arrivedMs: number): void {
    this.reads.set(context, { request, term, arrivedMs });
  }

  /** The state machine applied `entry` (with `result` for client commands). */
  applied(entry: Entry, result: ApplyResult | undefined): void {
    const pending = this.proposals.get(entry.index);
    if (pending === undefined) {
      return;
    }
    this.proposals.delete(entry.index);
    if (entry.term !== pending.ticket.term) {
      this.answer(pending.request, { type: 'failed', reason: `index ${entry.index} holds a term-${entry.term} entry, not the proposal's term ${pending.ticket.term}` });
      return;
    }
    if (result === undefined || pending.request.kind !== 'write' || result.opId !== pending.request.opId) {
      throw new SimViolation(ViolationKind.StateMachineSafety, `the entry at ${entry.index}/t${entry.term} is not the proposal of ${pending.request.opId}`);
    }
    this.answer(pending.request, { type: 'ok', succeeded: result.succeeded });
  }

  /** A snapshot was installed at `index`: proposals at or before it can no longer be decided here. */
  skippedTo(index: LogIndex): void {
    for (const [at, pending] of this.proposals) {
      if (at <= index) {
        this.proposals.delete(at);
        this.answer(pending.request, { type: 'unknown', reason: `snapshot ${index} skipped past index ${at}` });
      }
    }
  }

  readStates(states: readonly ReadState[], failed: readonly string[]): void {
    for (const rs of states) {
      const read = this.reads.get(rs.context);
      if (read !== undefined) {
        this.reads.delete(rs.context);
        this.waiting.push({ index: rs.index, read });
      }
    }
    for (const context of failed) {
      const read = this.reads.get(context);
      if (read !== undefined) {
        this.reads.delete(context);
        this.answer(read.request, { type: 'failed', reason: 'read could not be confirmed' });
      }
    }
  }

  /** Answers every read whose index the state machine has reached. */
  serveReads(applied: LogIndex, get: (key: string) => string | null): void {
    if (this.waiting.length === 0) {
      return;
    }
    const still: typeof this.waiting = [];
    for (const w of this.waiting) {
      if (w.index <= applied) {
        this.served(w.read.term, w.read.arrivedMs);
        this.answer(w.read.request, { type: 'ok', value: get(w.read.request.key) });
      } else {
        still.push(w);
      }
    }
    this.waiting = still;
  }
}

/** The answer to a request the core refused (nothing was appended or registered). */
export function refusal(error: unknown): ReplyOutcome {
  if (error instanceof NotLeaderError) {
    return { type: 'redirect', leader: error.leaderHint === undefined ? undefined : Number(error.leaderHint) };
  }
  if (error instanceof RaftError) {
    return { type: 'rejected', reason: error.message };
  }
  throw error;
}
