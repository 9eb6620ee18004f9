/**
 * Checks that see a broken rule where it is broken, not only its rare consequence (lost data,
 * a non-linearizable history). They observe each member only through what every member
 * exposes, so they carry over unchanged when the simulated member becomes the production
 * driver:
 *
 *   - its Ready stream (role and leader in softState; term, vote and commit in hardState; the
 *     entries it appends), fed to `readyTaken` as the driver takes each Ready;
 *   - the messages it hands to the transport, fed to `messageSent` with a read-only view of
 *     what is durable on its disk at that moment;
 *   - the reads it serves, fed to `readServed` with the term it had when the read reached its
 *     core and the time the request arrived at the member.
 *
 * The rules:
 *
 *   1. Commit rule (§5.4.2): when a leader's commit index advances while it leads one term,
 *      the entry it lands on is of that term. (Counting replicas of an older term's entry is
 *      Figure 8's bug; only an entry of the current term may be committed that way.)
 *   2. Durable promises: a vote grant, a vote request and an append acknowledgement leave only
 *      when what they promise is durable — the term and vote (§5.2, Figure 2: "persist before
 *      responding"), the acknowledged entries (§5.3).
 *   3. Acknowledgements stand: while a member stays in a term, no Ready of it removes entries it
 *      acknowledged to that term's leader (§5.3 truncates only a conflicting suffix, and what a
 *      follower acknowledged matches the leader's log, which only grows within its term).
 *   4. Election restriction (§5.4.1): a vote is granted only to a candidate whose log, as its
 *      request described it, is at least as up to date as the voter's entries of earlier terms.
 *   5. Fresh reads (§6.4): no read is served by a member of term t if it reached the member
 *      after a leader of a higher term was elected. See `readServed` for why the arrival time,
 *      and not the serving time, is the right instant (paused members, reads waiting to apply).
 *
 * Leader elections are recorded from the Ready stream (a Ready whose softState says Leader),
 * which is never earlier than the election itself: a check against them can only be late,
 * never wrong.
 */
import { NO_NODE, Role } from '@keyval/raft';
import type { HardState, LogIndex, Message, Ready, Term } from '@keyval/raft';
import { SimViolation, ViolationKind } from './sim.errors';

/** What the checks read of a member's durable storage (a LogStore's durable contents). */
export interface DurableLogView {
  hardState(): HardState;
  lastIndex(): LogIndex;
}

/** What the checks read of the log a member has written (for terms of committed entries). */
export interface WrittenLogView {
  firstIndex(): LogIndex;
  lastIndex(): LogIndex;
  term(index: LogIndex): Term;
}

/** One member's state as its Ready stream and its messages show it. */
interface Observed {
  role: Role;
  term: number;
  commit: number;
  /** The highest index it acknowledged to the leader of `ackTerm`. */
  ackTerm: number;
  ackIndex: number;
}

/** What a candidate's vote request said of its log. */
interface VoteRequest {
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
}

/** Elections recorded at most (a limit on everything; terms stay far below it). */
export const MAX_ELECTIONS = 100_000;

export class ProtocolChecker {
  private readonly members = new Map<number, Observed>();
  /** Leader elections in the order observed: times never decrease. */
  private readonly electedAtMs: number[] = [];
  /** The highest term among elections [0..k]. */
  private readonly maxTermUpTo: number[] = [];
  /** Term → when its leader first had an entry of that term committed (for the liveness phase). */
  private readonly ownTermCommitMs = new Map<number, number>();
  /** Term → when its leader was first observed. */
  private readonly leaderSeenMs = new Map<number, number>();
  /** `candidate:term` → its vote request (a candidate asks every voter the same in a term). */
  private readonly voteRequests = new Map<string, VoteRequest>();
  readonly stats = { readiesChecked: 0, commitsChecked: 0, promisesChecked: 0, readsChecked: 0 };

  /**
   * With `enforce` false (the simulation's classic checks, for comparison) nothing is
   * reported; leader elections and commits are still recorded.
   */
  constructor(private readonly enforce = true) {}

  /** A member (re)started from its durable state: nothing of its earlier life carries over. */
  started(member: number, durable: HardState): void {
    this.members.set(member, { role: Role.Follower, term: durable.term, commit: durable.commit, ackTerm: 0, ackIndex: 0 });
  }

  /**
   * The driver took `ready` from the core of `member` at `nowMs`; `written` is the log as the
   * member's earlier Readies wrote it (this Ready's entries are looked up in the Ready).
   */
  readyTaken(member: number, ready: Ready, written: WrittenLogView, nowMs: number): void {
    this.stats.readiesChecked++;
    const seen = this.members.get(member);
    if (seen === undefined) {
      throw new SimViolation(ViolationKind.CheckerError, `protocol checker: Ready from member ${member}, which never started`);
    }
    const before: Observed = { ...seen };
    if (ready.hardState !== undefined) {
      seen.term = ready.hardState.term;
      seen.commit = ready.hardState.commit;
    }
    if (ready.softState !== undefined) {
      seen.role = ready.softState.role;
    }
    if (this.enforce && seen.ackTerm === seen.term && seen.ackIndex > 0) {
      this.checkAckStands(member, seen, ready, written);
    }
    if (seen.role !== Role.Leader) {
      return;
    }
    if (before.role !== Role.Leader || before.term !== seen.term) {
      this.elected(seen.term, nowMs);
      return;
    }
    if (seen.commit > before.commit) {
      this.checkCommitTerm(member, seen, ready, written, nowMs);
    }
  }

  private checkCommitTerm(member: number, seen: Observed, ready: Ready, written: WrittenLogView, nowMs: number): void {
    this.stats.commitsChecked++;
    const term = termAt(seen.commit, ready, written);
    if (term === undefined) {
      return;
    }
    if (term !== seen.term && this.enforce) {
      throw new SimViolation(
        ViolationKind.CommitRule,
        `leader m${member} of term ${seen.term} advanced its commit index to ${seen.commit}, an entry of term ${term} (§5.4.2: only entries of the leader's own term are committed by counting replicas)`,
      );
    }
    if (term === seen.term && !this.ownTermCommitMs.has(seen.term)) {
      this.ownTermCommitMs.set(seen.term, nowMs);
    }
  }

  /** Rule 3: this Ready does not cut the log below what was acknowledged in the current term. */
  private checkAckStands(member: number, seen: Observed, ready: Ready, written: WrittenLogView): void {
    let lastAfter: number | undefined;
    const snap = ready.snapshot;
    if (snap !== undefined && !(snap.index <= written.lastIndex() && snap.index >= written.firstIndex() - 1 && written.term(snap.index) === snap.term)) {
      lastAfter = snap.index;
    }
    const last = ready.entries[ready.entries.length - 1];
    if (last !== undefined) {
      lastAfter = last.index;
    }
    if (lastAfter !== undefined && lastAfter < seen.ackIndex) {
      throw new SimViolation(
        ViolationKind.AckRetracted,
        `m${member} cut its log to ${lastAfter} in term ${seen.term}, after acknowledging entries up to ${seen.ackIndex} to that term's leader (§5.3: only a conflicting suffix is removed)`,
      );
    }
  }

  private elected(term: number, nowMs: number): void {
    if (this.leaderSeenMs.has(term)) {
      return;
    }
    if (this.electedAtMs.length >= MAX_ELECTIONS) {
      throw new SimViolation(ViolationKind.CheckerError, `protocol checker: more than ${MAX_ELECTIONS} elections`);
    }
    this.leaderSeenMs.set(term, nowMs);
    const high = this.maxTermUpTo[this.maxTermUpTo.length - 1] ?? 0;
    this.electedAtMs.push(nowMs);
    this.maxTermUpTo.push(Math.max(high, term));
  }

  /**
   * `member` hands `message` to the transport; `durable` is what its disk holds durably now.
   * Votes, vote requests and append acknowledgements must not promise more than that.
   */
  messageSent(member: number, message: Message, durable: DurableLogView, written: WrittenLogView): void {
    if (!this.enforce) {
      return;
    }
    switch (message.type) {
      case 'VoteResponse':
        if (!message.reject) {
          this.stats.promisesChecked++;
          this.checkVoteDurable(member, message.term, message.to, durable, `its vote for ${message.to}`);
          this.checkElectionRestriction(member, message, written);
        }
        return;
      case 'Vote':
        this.stats.promisesChecked++;
        this.checkVoteDurable(member, message.term, message.from, durable, 'its request for votes (its own vote)');
        this.voteRequests.set(`${message.from}:${message.term}`, { lastLogIndex: message.lastLogIndex, lastLogTerm: message.lastLogTerm });
        return;
      case 'AppendResponse':
        if (!message.reject) {
          this.stats.promisesChecked++;
          this.checkAppendDurable(member, message, durable);
          this.recordAck(member, message.term, message.index);
        }
        return;
      default:
        return;
    }
  }

  private checkVoteDurable(member: number, term: number, vote: Message['to'], durable: DurableLogView, what: string): void {
    const hard = durable.hardState();
    if (hard.term > term || (hard.term === term && hard.vote === vote && vote !== NO_NODE)) {
      return;
    }
    throw new SimViolation(
      ViolationKind.UndurablePromise,
      `m${member} sent ${what} in term ${term} while its disk durably holds term ${hard.term} vote ${hard.vote}: a crash now lets it vote again in term ${term}`,
    );
  }

  private recordAck(member: number, term: number, index: number): void {
    const seen = this.members.get(member);
    if (seen === undefined) {
      return;
    }
    if (term > seen.ackTerm) {
      seen.ackTerm = term;
      seen.ackIndex = index;
    } else if (term === seen.ackTerm && index > seen.ackIndex) {
      seen.ackIndex = index;
    }
  }

  /**
   * Rule 4: the voter's last entry of a term before the vote's (entries of the vote's term can
   * only have come from the candidate itself, once it won) is not more up to date than the
   * candidate's last entry as its request stated it.
   */
  private checkElectionRestriction(member: number, grant: Extract<Message, { type: 'VoteResponse' }>, written: WrittenLogView): void {
    const request = this.voteRequests.get(`${grant.to}:${grant.term}`);
    if (request === undefined) {
      return;
    }
    const floor = written.firstIndex() - 1;
    let index = written.lastIndex();
    while (index >= floor && written.term(index) >= grant.term) {
      index = (index - 1) as LogIndex;
    }
    if (index < floor) {
      return;
    }
    const term = written.term(index);
    if (term > request.lastLogTerm || (term === request.lastLogTerm && index > request.lastLogIndex)) {
      throw new SimViolation(
        ViolationKind.ElectionRestriction,
        `m${member} granted its vote in term ${grant.term} to ${grant.to}, whose log ends at ${request.lastLogIndex}/t${request.lastLogTerm}, while its own holds ${index}/t${term} (§5.4.1)`,
      );
    }
  }

  /**
   * An acknowledgement of term t promises the entries up to its index, durably — unless the
   * member has durably moved to a later term in the meantime: then a leader of that later term
   * exists that lacked the entries (it made the member drop them), so no quorum of term-t
   * acknowledgements can ever commit them (one of its members would have had to vote for that
   * leader while holding them). Seed 1558: acks of 8 and 9 queued in term 3, a term-4 leader's
   * Append truncating the log to 7 in the same Ready, the acks leaving after its fsync.
   */
  private checkAppendDurable(member: number, message: Extract<Message, { type: 'AppendResponse' }>, durable: DurableLogView): void {
    const hard = durable.hardState();
    const last = durable.lastIndex();
    if (hard.term > message.term || (hard.term === message.term && last >= message.index)) {
      return;
    }
    throw new SimViolation(
      ViolationKind.UndurablePromise,
      `m${member} acknowledged entries up to ${message.index} in term ${message.term} while its disk durably holds entries up to ${last} and term ${hard.term}`,
    );
  }

  /**
   * `member` serves a read that reached it at `arrivedMs`, when its core was in `term`.
   *
   * Why arrival and not now: a read is linearizable at any instant between its arrival and its
   * answer, and the core decides about a read as of its arrival even when it handles it later:
   * a paused member replays its queued inputs (missed ticks included) in arrival order, so a
   * lease is judged on the ticks that had arrived with the read; a ReadIndex heartbeat round
   * is sent after the read arrived, and a quorum acknowledging it means no higher term had
   * won a quorum of votes before that. What no correct member can do is serve a read that
   * arrived after a leader of a higher term was elected: it had no quorum left to confirm it
   * and, with leases, the voters that elected the new leader had already let its lease lapse
   * (clock drift stays within the lease's margin in this simulation).
   */
  readServed(member: number, term: number, arrivedMs: number): void {
    if (!this.enforce) {
      return;
    }
    this.stats.readsChecked++;
    const k = lastIndexBefore(this.electedAtMs, arrivedMs);
    const higher = k < 0 ? 0 : (this.maxTermUpTo[k] as number);
    if (higher > term) {
      throw new SimViolation(
        ViolationKind.StaleRead,
        `m${member} served a read of term ${term} that arrived at ${arrivedMs} ms, after a leader of term ${higher} was elected (at ${this.leaderSeenMs.get(higher) ?? '?'} ms)`,
      );
    }
  }

  /** When the leader of `term` first committed an entry of its own term (undefined: not yet). */
  ownTermCommitAt(term: number): number | undefined {
    return this.ownTermCommitMs.get(term);
  }

  /** When a leader of `term` was first observed (undefined: never). */
  leaderObservedAt(term: number): number | undefined {
    return this.leaderSeenMs.get(term);
  }
}

/** The term of the entry at `index`: in this Ready's entries, or in the written log. */
function termAt(index: number, ready: Ready, written: WrittenLogView): number | undefined {
  const first = ready.entries[0];
  if (first !== undefined && index >= first.index && index < first.index + ready.entries.length) {
    return ready.entries[index - first.index]?.term;
  }
  if (index < written.firstIndex() - 1 || index > written.lastIndex()) {
    return undefined;
  }
  return written.term(index as LogIndex);
}

/** The largest k with times[k] < at, or -1 (times never decrease). */
function lastIndexBefore(times: readonly number[], at: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((times[mid] as number) < at) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo - 1;
}
