import { MemoryStorage, NO_NODE, Role, nodeId } from '@keyval/raft';
import type { Entry, HardState, LogIndex, Message, NodeId, Ready, Term } from '@keyval/raft';
import { ProtocolChecker } from './protocol-checker';
import { SimViolation, ViolationKind } from './sim.errors';

const n = (i: number): NodeId => nodeId(i);

function ready(partial: Partial<Ready>): Ready {
  return {
    softState: undefined,
    hardState: undefined,
    entries: [],
    snapshot: undefined,
    committedEntries: [],
    earlyMessages: [],
    messages: [],
    readStates: [],
    failedReads: [],
    mustSync: false,
    ...partial,
  };
}

function entries(...terms: number[]): Entry[] {
  return terms.map((term, k) => ({ index: (k + 1) as LogIndex, term: term as Term, type: 0, data: new Uint8Array([k]) }));
}

function log(...terms: number[]): MemoryStorage {
  const storage = new MemoryStorage();
  storage.append(entries(...terms));
  return storage;
}

function durable(hard: Partial<HardState>, last: number): { hardState(): HardState; lastIndex(): LogIndex } {
  return { hardState: () => ({ term: 0 as Term, vote: NO_NODE, commit: 0 as LogIndex, ...hard }), lastIndex: () => last as LogIndex };
}

function hard(term: number, vote: number, commit: number): HardState {
  return { term: term as Term, vote: vote === 0 ? NO_NODE : n(vote), commit: commit as LogIndex };
}

function kindOf(fn: () => void): ViolationKind | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    if (error instanceof SimViolation) {
      return error.kind;
    }
    throw error;
  }
}

/** Member 1 becomes leader of term 3 at `atMs` (from a log with terms `terms`). */
function leaderOfTerm3(c: ProtocolChecker, written: MemoryStorage, atMs = 100): void {
  c.started(1, hard(2, 0, 1));
  c.readyTaken(1, ready({ hardState: hard(3, 1, 1) }), written, atMs - 10);
  c.readyTaken(1, ready({ softState: { leader: n(1), role: Role.Leader } }), written, atMs);
}

describe('ProtocolChecker', () => {
  describe('commit rule (§5.4.2)', () => {
    it('refuses a leader commit that lands on an entry of an earlier term', () => {
      const c = new ProtocolChecker();
      const written = log(1, 2, 2, 3);
      leaderOfTerm3(c, written);
      expect(kindOf(() => c.readyTaken(1, ready({ hardState: hard(3, 1, 3) }), written, 120))).toBe(ViolationKind.CommitRule);
    });

    it('accepts a commit on an entry of its own term and records when it happened', () => {
      const c = new ProtocolChecker();
      const written = log(1, 2, 2, 3);
      leaderOfTerm3(c, written);
      c.readyTaken(1, ready({ hardState: hard(3, 1, 4) }), written, 130);
      expect(c.ownTermCommitAt(3)).toBe(130);
      expect(c.leaderObservedAt(3)).toBe(100);
    });

    it('finds the committed entry in the Ready itself when the log has not got it yet', () => {
      const c = new ProtocolChecker();
      const written = log(1, 2);
      leaderOfTerm3(c, written);
      const fresh: Entry = { index: 3 as LogIndex, term: 2 as Term, type: 0, data: new Uint8Array(0) };
      expect(kindOf(() => c.readyTaken(1, ready({ hardState: hard(3, 1, 3), entries: [fresh] }), written, 120))).toBe(ViolationKind.CommitRule);
    });

    it('does not judge a commit learned as a follower, nor one in the Ready that makes it leader', () => {
      const c = new ProtocolChecker();
      const written = log(1, 2, 2);
      c.started(1, hard(2, 0, 0));
      c.readyTaken(1, ready({ hardState: hard(2, 0, 3) }), written, 10);
      c.readyTaken(1, ready({ hardState: hard(3, 1, 3), softState: { leader: n(1), role: Role.Leader } }), written, 20);
      expect(c.ownTermCommitAt(3)).toBeUndefined();
    });
  });

  describe('durable promises (§5.2, §5.3)', () => {
    const grant: Message = { type: 'VoteResponse', from: n(2), to: n(1), term: 4 as Term, reject: false };

    it('refuses a vote grant whose vote is not durable, and accepts one that is', () => {
      const c = new ProtocolChecker();
      c.started(2, hard(3, 0, 0));
      expect(kindOf(() => c.messageSent(2, grant, durable({ term: 3 as Term }, 0), log()))).toBe(ViolationKind.UndurablePromise);
      expect(kindOf(() => c.messageSent(2, grant, durable({ term: 4 as Term, vote: n(3) }, 0), log()))).toBe(ViolationKind.UndurablePromise);
      expect(kindOf(() => c.messageSent(2, grant, durable({ term: 4 as Term, vote: n(1) }, 0), log()))).toBeUndefined();
      expect(kindOf(() => c.messageSent(2, grant, durable({ term: 5 as Term }, 0), log()))).toBeUndefined();
    });

    it('does not hold a refusal to anything', () => {
      const c = new ProtocolChecker();
      expect(kindOf(() => c.messageSent(2, { ...grant, reject: true }, durable({}, 0), log()))).toBeUndefined();
    });

    it('refuses a vote request whose own vote is not durable', () => {
      const c = new ProtocolChecker();
      const request: Message = { type: 'Vote', from: n(1), to: n(2), term: 4 as Term, lastLogIndex: 0 as LogIndex, lastLogTerm: 0 as Term, transfer: false };
      expect(kindOf(() => c.messageSent(1, request, durable({ term: 3 as Term }, 0), log()))).toBe(ViolationKind.UndurablePromise);
      expect(kindOf(() => c.messageSent(1, request, durable({ term: 4 as Term, vote: n(1) }, 0), log()))).toBeUndefined();
    });

    it('refuses an append acknowledgement beyond the durable log', () => {
      const c = new ProtocolChecker();
      c.started(2, hard(4, 0, 0));
      const ack: Message = { type: 'AppendResponse', from: n(2), to: n(1), term: 4 as Term, index: 7 as LogIndex, reject: false, hintIndex: 0 as LogIndex, hintTerm: 0 as Term };
      expect(kindOf(() => c.messageSent(2, ack, durable({ term: 4 as Term }, 6), log()))).toBe(ViolationKind.UndurablePromise);
      expect(kindOf(() => c.messageSent(2, ack, durable({ term: 3 as Term }, 7), log()))).toBe(ViolationKind.UndurablePromise);
      expect(kindOf(() => c.messageSent(2, ack, durable({ term: 4 as Term }, 7), log()))).toBeUndefined();
    });

    it('does not blame an acknowledgement overtaken by a later term in the same Ready (seed 1558)', () => {
      const c = new ProtocolChecker();
      c.started(2, hard(3, 0, 0));
      const ack: Message = { type: 'AppendResponse', from: n(2), to: n(1), term: 3 as Term, index: 9 as LogIndex, reject: false, hintIndex: 0 as LogIndex, hintTerm: 0 as Term };
      expect(kindOf(() => c.messageSent(2, ack, durable({ term: 4 as Term }, 7), log()))).toBeUndefined();
    });
  });

  describe('acknowledgements stand (§5.3)', () => {
    const ack = (index: number, term = 4): Message => ({ type: 'AppendResponse', from: n(2), to: n(1), term: term as Term, index: index as LogIndex, reject: false, hintIndex: 0 as LogIndex, hintTerm: 0 as Term });

    it('refuses a Ready that cuts the log below what was acknowledged in the same term', () => {
      const c = new ProtocolChecker();
      const written = log(1, 4, 4, 4, 4);
      c.started(2, hard(4, 0, 0));
      c.messageSent(2, ack(5), durable({ term: 4 as Term }, 5), written);
      const rewrite = entries(1, 4, 4).slice(1);
      expect(kindOf(() => c.readyTaken(2, ready({ entries: rewrite }), written, 50))).toBe(ViolationKind.AckRetracted);
    });

    it('lets a leader of a later term repair the log', () => {
      const c = new ProtocolChecker();
      const written = log(1, 4, 4, 4, 4);
      c.started(2, hard(4, 0, 0));
      c.messageSent(2, ack(5), durable({ term: 4 as Term }, 5), written);
      const repair: Entry[] = [{ index: 3 as LogIndex, term: 5 as Term, type: 0, data: new Uint8Array(0) }];
      expect(kindOf(() => c.readyTaken(2, ready({ hardState: hard(5, 0, 0), entries: repair }), written, 50))).toBeUndefined();
    });
  });

  describe('election restriction (§5.4.1)', () => {
    const request = (lastLogIndex: number, lastLogTerm: number): Message => ({ type: 'Vote', from: n(1), to: n(2), term: 6 as Term, lastLogIndex: lastLogIndex as LogIndex, lastLogTerm: lastLogTerm as Term, transfer: false });
    const grant: Message = { type: 'VoteResponse', from: n(2), to: n(1), term: 6 as Term, reject: false };
    const voted = durable({ term: 6 as Term, vote: n(1) }, 10);

    it('refuses a grant to a longer log with an older last term', () => {
      const c = new ProtocolChecker();
      c.messageSent(1, request(5, 3), durable({ term: 6 as Term, vote: n(1) }, 5), log());
      expect(kindOf(() => c.messageSent(2, grant, voted, log(1, 3, 4)))).toBe(ViolationKind.ElectionRestriction);
    });

    it('accepts a grant to a log at least as up to date, ignoring entries of the vote term', () => {
      const c = new ProtocolChecker();
      c.messageSent(1, request(3, 4), durable({ term: 6 as Term, vote: n(1) }, 3), log());
      expect(kindOf(() => c.messageSent(2, grant, voted, log(1, 3, 4)))).toBeUndefined();
      expect(kindOf(() => c.messageSent(2, grant, voted, log(1, 3, 4, 6, 6)))).toBeUndefined();
      expect(kindOf(() => c.messageSent(2, grant, voted, log(1, 3, 4, 4)))).toBe(ViolationKind.ElectionRestriction);
    });
  });

  describe('fresh reads (§6.4)', () => {
    it('refuses a read of term 3 that arrived after a leader of term 4 was elected, not one that arrived before', () => {
      const c = new ProtocolChecker();
      const written = log(1, 2);
      leaderOfTerm3(c, written, 100);
      c.started(2, hard(3, 0, 0));
      c.readyTaken(2, ready({ hardState: hard(4, 2, 0) }), written, 490);
      c.readyTaken(2, ready({ softState: { leader: n(2), role: Role.Leader } }), written, 500);
      expect(kindOf(() => c.readServed(1, 3, 499))).toBeUndefined();
      expect(kindOf(() => c.readServed(1, 3, 500))).toBeUndefined();
      expect(kindOf(() => c.readServed(1, 3, 501))).toBe(ViolationKind.StaleRead);
      expect(kindOf(() => c.readServed(2, 4, 900))).toBeUndefined();
    });
  });

  it('reports nothing when not enforcing (classic checks), yet records elections and commits', () => {
    const c = new ProtocolChecker(false);
    const written = log(1, 2, 2, 3);
    leaderOfTerm3(c, written);
    expect(kindOf(() => c.readyTaken(1, ready({ hardState: hard(3, 1, 3) }), written, 120))).toBeUndefined();
    expect(kindOf(() => c.messageSent(2, { type: 'VoteResponse', from: n(2), to: n(1), term: 4 as Term, reject: false }, durable({}, 0), log()))).toBeUndefined();
    expect(kindOf(() => c.readServed(1, 1, 1000))).toBeUndefined();
    c.readyTaken(1, ready({ hardState: hard(3, 1, 4) }), written, 130);
    expect(c.ownTermCommitAt(3)).toBe(130);
  });
});
