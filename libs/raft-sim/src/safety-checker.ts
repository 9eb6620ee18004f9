/**
 * The safety invariants of Raft (§5.2–§5.4, Figure 3), checked as the simulation runs:
 *
 * - Election safety: at most one leader per term.
 * - Leader append-only: a leader never overwrites or deletes entries of its own log in its term.
 * - Log matching: if two logs hold an entry with the same index and term, they are identical up
 *   to it. Checked inductively at every write (an (index, term) always has the same payload and
 *   the same predecessor term) and pairwise over whole logs (volatile and durable) periodically.
 * - Leader completeness: every entry committed in a term before T is in the log of the leader of
 *   term T (or covered by its snapshot). "Committed in term t" is approximated from above by what
 *   the leader of term t knew to be committed, so the check never blames a stale leader for
 *   entries committed in later terms.
 * - State machine safety: no two members apply different entries at one index; members at the
 *   same applied index have the same chain digest (the same entries up to it).
 *
 * A failed check throws SimViolation with a readable description.
 */
import type { Entry, LogIndex, MemoryStorage, Term } from '@keyval/raft';
import { hashData } from './hash';
import { SimViolation, ViolationKind } from './sim.errors';

/** Terms above this are refused (the (index, term) key packs the term into 16 bits). */
export const MAX_TERM = 65_535;

/** A log as the checkers see it: a member's volatile or durable store. */
export interface NamedLog {
  readonly name: string;
  readonly log: MemoryStorage;
}

export class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, number>();
  /** The highest commit index the leader of each term was seen to know. */
  private readonly commitByTerm = new Map<number, number>();
  /** (index, term) → payload hash and predecessor term, for every entry ever written. */
  private readonly entryHash = new Map<number, number>();
  private readonly entryPred = new Map<number, number>();
  /** appliedTerm[i], appliedHash[i], appliedChain[i]: what was applied at index i (by anyone). */
  private readonly appliedTerm: number[] = [0];
  private readonly appliedHash: number[] = [0];
  private readonly appliedChain: number[] = [0];
  /** Counters for the summary. */
  readonly stats = { leaders: 0, writesChecked: 0, appliesChecked: 0, pairwiseChecks: 0 };

  /** The highest index anyone has applied. */
  get appliedHigh(): number {
    return this.appliedTerm.length - 1;
  }

  appliedTermAt(index: number): number | undefined {
    return this.appliedTerm[index];
  }

  /** Election safety (§5.2). */
  onLeader(member: number, term: number): void {
    this.stats.leaders++;
    const other = this.leaderOfTerm.get(term);
    if (other !== undefined && other !== member) {
      throw new SimViolation(ViolationKind.ElectionSafety, `members ${other} and ${member} were both leader in term ${term}`);
    }
    this.leaderOfTerm.set(term, member);
  }

  /** The leader of `term` knows entries up to `commit` are committed. */
  onLeaderCommit(term: number, commit: number): void {
    if (commit > (this.commitByTerm.get(term) ?? 0)) {
      this.commitByTerm.set(term, commit);
    }
  }

  /** The highest index known committed by a leader of a term before `term`. */
  committedBefore(term: number): number {
    let high = 0;
    for (const [t, commit] of this.commitByTerm) {
      if (t < term && commit > high) {
        high = commit;
      }
    }
    return high;
  }

  leaderOf(term: number): number | undefined {
    return this.leaderOfTerm.get(term);
  }

  /**
   * Inductive log matching: called after `entries` were written to `log` (a member's
   * volatile store). Every (index, term) must always carry the same payload and follow the
   * same predecessor term.
   */
  onWrite(member: number, log: MemoryStorage, entries: readonly Entry[]): void {
    for (const entry of entries) {
      this.stats.writesChecked++;
      if (entry.term > MAX_TERM) {
        throw new SimViolation(ViolationKind.LogMatching, `term ${entry.term} exceeds the checker's limit ${MAX_TERM}`);
      }
      const key = entry.index * (MAX_TERM + 1) + entry.term;
      const pred = entry.index === 1 ? 0 : log.term((entry.index - 1) as LogIndex);
      const hash = hashData(entry.data);
      const knownHash = this.entryHash.get(key);
      if (knownHash === undefined) {
        this.entryHash.set(key, hash);
        this.entryPred.set(key, pred);
        continue;
      }
      if (knownHash !== hash) {
        throw new SimViolation(ViolationKind.LogMatching, `member ${member} wrote entry ${entry.index}/t${entry.term} with a payload different from another copy of ${entry.index}/t${entry.term}`);
      }
      const knownPred = this.entryPred.get(key);
      if (knownPred !== pred) {
        throw new SimViolation(
          ViolationKind.LogMatching,
          `member ${member} has entry ${entry.index}/t${entry.term} after an entry of term ${pred}, but another log has it after term ${String(knownPred)}`,
        );
      }
    }
  }

  /**
   * Leader append-only (§5.3): `member` was leader of `term` when its previous Ready was taken
   * and still is, so everything it writes now was appended by it in this term.
   */
  checkLeaderAppend(member: number, term: number, lastBefore: number, entries: readonly Entry[], hasSnapshot: boolean): void {
    if (hasSnapshot) {
      throw new SimViolation(ViolationKind.LeaderAppendOnly, `leader ${member} of term ${term} installed a snapshot, replacing its log`);
    }
    const first = entries[0];
    if (first !== undefined && first.index !== lastBefore + 1) {
      throw new SimViolation(
        ViolationKind.LeaderAppendOnly,
        `leader ${member} of term ${term} wrote entries from ${first.index} but its log ended at ${lastBefore}: it overwrote its own entries`,
      );
    }
    for (const entry of entries) {
      if (entry.term !== term) {
        throw new SimViolation(ViolationKind.LeaderAppendOnly, `leader ${member} of term ${term} appended entry ${entry.index} with term ${entry.term}`);
      }
    }
  }

  /**
   * Leader completeness (§5.4): every entry committed in a term before `term` is in the log of
   * `member`, the leader of `term`, or covered by its snapshot. Called at the leader's first
   * Ready after its election, when its volatile log holds everything its core has.
   */
  checkLeaderCompleteness(member: number, term: number, log: MemoryStorage): void {
    const committed = this.committedBefore(term);
    const snapshotIndex = log.snapshotMeta().index;
    const last = log.lastIndex();
    if (committed > last) {
      throw new SimViolation(
        ViolationKind.LeaderCompleteness,
        `leader ${member} of term ${term} has a log ending at ${last}, but entries up to ${committed} were committed in earlier terms`,
      );
    }
    const high = Math.min(committed, this.appliedHigh);
    for (let i = snapshotIndex + 1; i <= high; i++) {
      const expected = this.appliedTerm[i];
      const actual = log.term(i as LogIndex);
      if (expected !== actual) {
        throw new SimViolation(
          ViolationKind.LeaderCompleteness,
          `leader ${member} of term ${term} has term ${actual} at index ${i}, but the committed entry applied there has term ${String(expected)}`,
        );
      }
    }
  }

  /** State machine safety: `member` applied `entry`, reaching chain digest `chain`. */
  onApply(member: number, entry: Entry, chain: number): void {
    this.stats.appliesChecked++;
    const i = entry.index;
    const hash = hashData(entry.data);
    if (i < this.appliedTerm.length) {
      if (this.appliedTerm[i] !== entry.term || this.appliedHash[i] !== hash) {
        throw new SimViolation(
          ViolationKind.StateMachineSafety,
          `member ${member} applied ${i}/t${entry.term}, but ${i}/t${String(this.appliedTerm[i])} with another payload was applied there before`,
        );
      }
      if (this.appliedChain[i] !== chain) {
        throw new SimViolation(ViolationKind.StateMachineSafety, `member ${member} reached index ${i} through different entries than another member (chain digest differs)`);
      }
      return;
    }
    if (i !== this.appliedTerm.length) {
      throw new SimViolation(ViolationKind.StateMachineSafety, `member ${member} applied index ${i} before anyone applied ${this.appliedTerm.length}`);
    }
    this.appliedTerm.push(entry.term);
    this.appliedHash.push(hash);
    this.appliedChain.push(chain);
  }

  /** A member restored its state machine from an image at `index` with chain digest `chain`. */
  onRestore(member: number, index: number, term: number, chain: number): void {
    if (index === 0) {
      return;
    }
    if (index >= this.appliedTerm.length) {
      throw new SimViolation(ViolationKind.StateMachineSafety, `member ${member} restored an image at ${index}, beyond anything applied (${this.appliedHigh})`);
    }
    if (this.appliedTerm[index] !== term || this.appliedChain[index] !== chain) {
      throw new SimViolation(ViolationKind.StateMachineSafety, `member ${member} restored an image at ${index}/t${term} that differs from what was applied there`);
    }
  }

  /** Pairwise log matching over whole logs (volatile and durable copies of every member). */
  checkLogsPairwise(logs: readonly NamedLog[]): void {
    for (let a = 0; a < logs.length; a++) {
      for (let b = a + 1; b < logs.length; b++) {
        this.stats.pairwiseChecks++;
        checkPair(logs[a] as NamedLog, logs[b] as NamedLog);
      }
    }
  }
}

/** Log matching for two logs: below the highest index where their terms agree, they are identical. */
export function checkPair(a: NamedLog, b: NamedLog): void {
  const lo = Math.max(a.log.firstIndex(), b.log.firstIndex());
  const hi = Math.min(a.log.lastIndex(), b.log.lastIndex());
  let agree = -1;
  for (let i = hi; i >= lo; i--) {
    if (entryAt(a.log, i).term === entryAt(b.log, i).term) {
      agree = i;
      break;
    }
  }
  for (let i = lo; i <= agree; i++) {
    const x = entryAt(a.log, i);
    const y = entryAt(b.log, i);
    if (x.term !== y.term || x.type !== y.type || hashData(x.data) !== hashData(y.data)) {
      throw new SimViolation(
        ViolationKind.LogMatching,
        `${a.name} and ${b.name} agree at ${agree}/t${(entryAt(a.log, agree) as { term: Term }).term} but differ at ${i} (t${x.term} vs t${y.term})`,
      );
    }
  }
}

function entryAt(log: MemoryStorage, index: number): Entry {
  return log.allEntries()[index - log.snapshotMeta().index - 1] as Entry;
}
