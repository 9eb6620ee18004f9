/**
 * Paper tests for terms and leader election: Raft paper §5.1, §5.2 and §5.4.1. Each case names
 * the rule it checks and asserts the resulting state and the exact messages emitted.
 */
import type { Message } from './messages';
import { Role } from './ready';
import { SeededRandom } from './config';
import { I, T, drain, handle, id, makeLeader, newNode, tickN } from './testing/paper-helpers';

describe('§5.1 terms', () => {
  it.each([
    ['follower', Role.Follower],
    ['candidate', Role.Candidate],
    ['leader', Role.Leader],
  ])('a %s that sees a higher term adopts it and becomes a follower', (_name, role) => {
    const made = role === Role.Leader ? makeLeader(1, [1, 2, 3]) : newNode(1, [1, 2, 3]);
    if (role === Role.Candidate) {
      made.node.campaign();
    }
    drain(made.node, made.storage);
    expect(made.node.status().role).toBe(role);
    made.node.step({ type: 'Append', from: id(2), to: id(1), term: T(5), prevLogIndex: I(0), prevLogTerm: T(0), entries: [], commit: I(0) });
    const st = made.node.status();
    expect(st.role).toBe(Role.Follower);
    expect(st.term).toBe(5);
    expect(st.leader).toBe(id(2));
  });

  it('ignores a request from an older term, changing nothing', () => {
    const { node, storage } = newNode(1, [1, 2, 3], { term: 3 });
    node.step({ type: 'Vote', from: id(2), to: id(1), term: T(2), lastLogIndex: I(5), lastLogTerm: T(2), transfer: false });
    expect(drain(node, storage)).toEqual([]);
    expect(node.status()).toMatchObject({ term: 3, vote: id(0), role: Role.Follower });
  });

  it('with check-quorum, answers a stale leader so it learns the newer term', () => {
    const { node, storage } = newNode(1, [1, 2, 3], { term: 3, config: { checkQuorum: true } });
    node.step({ type: 'Heartbeat', from: id(2), to: id(1), term: T(2), commit: I(0), round: 1 });
    expect(drain(node, storage)).toEqual([
      { type: 'AppendResponse', from: id(1), to: id(2), term: T(3), index: I(0), reject: false, hintIndex: I(0), hintTerm: T(0) },
    ]);
  });
});

describe('§5.2 leader election', () => {
  it('starts as a follower with no leader', () => {
    const { node } = newNode(1, [1, 2, 3]);
    expect(node.status()).toMatchObject({ role: Role.Follower, term: 0, leader: id(0) });
  });

  it('a leader sends a heartbeat to every follower each heartbeat interval', () => {
    const { node, storage } = makeLeader(1, [1, 2, 3]);
    drain(node, storage);
    node.tick();
    const beats = drain(node, storage).filter((m) => m.type === 'Heartbeat');
    expect(beats).toEqual([
      { type: 'Heartbeat', from: id(1), to: id(2), term: T(1), commit: I(0), round: 1 },
      { type: 'Heartbeat', from: id(1), to: id(3), term: T(1), commit: I(0), round: 1 },
    ]);
  });

  it('a follower that times out becomes candidate: increments term, votes for itself, asks every voter', () => {
    const { node, storage } = newNode(1, [1, 2, 3], { logTerms: [1], term: 1 });
    tickN(node, 20);
    const ready = handle(node, storage)!;
    expect(node.status()).toMatchObject({ role: Role.Candidate, term: 2, vote: id(1) });
    expect(ready.hardState).toEqual({ term: T(2), vote: id(1), commit: I(0) });
    expect(ready.mustSync).toBe(true);
    // Vote requests carry the candidate's own vote, so they wait for the hard state to be durable.
    expect(ready.earlyMessages).toEqual([]);
    expect(ready.messages).toEqual([
      { type: 'Vote', from: id(1), to: id(2), term: T(2), lastLogIndex: I(1), lastLogTerm: T(1), transfer: false },
      { type: 'Vote', from: id(1), to: id(3), term: T(2), lastLogIndex: I(1), lastLogTerm: T(1), transfer: false },
    ]);
  });

  it('a candidate that times out starts a new election in the next term', () => {
    const { node, storage } = newNode(1, [1, 2, 3]);
    node.campaign();
    drain(node, storage);
    tickN(node, 20);
    expect(node.status()).toMatchObject({ role: Role.Candidate, term: 2 });
  });

  it.each([
    // [voters, granted, rejected, expected role]
    [1, [], [], Role.Leader],
    [3, [2, 3], [], Role.Leader],
    [3, [2], [], Role.Leader],
    [5, [2, 3, 4, 5], [], Role.Leader],
    [5, [2, 3], [], Role.Leader],
    [3, [], [2, 3], Role.Follower],
    [5, [], [2, 3, 4], Role.Follower],
    [5, [2], [3, 4], Role.Candidate],
    [3, [], [], Role.Candidate],
  ])('wins with a majority, loses once a majority refuses (%i voters, granted %j, refused %j)', (size, granted, rejected, expected) => {
    const voters = Array.from({ length: size }, (_, k) => k + 1);
    const { node, storage } = newNode(1, voters);
    node.campaign();
    drain(node, storage);
    for (const from of granted) {
      node.step({ type: 'VoteResponse', from: id(from), to: id(1), term: T(1), reject: false });
    }
    for (const from of rejected) {
      node.step({ type: 'VoteResponse', from: id(from), to: id(1), term: T(1), reject: true });
    }
    expect(node.status().role).toBe(expected);
    expect(node.status().term).toBe(1);
  });

  it.each([
    // [vote already cast, candidate, granted]
    [0, 2, true],
    [0, 3, true],
    [2, 2, true],
    [3, 3, true],
    [2, 3, false],
    [3, 2, false],
  ])('votes for at most one candidate per term, first come first served (voted for %i, asked by %i)', (votedFor, candidate, granted) => {
    const { node, storage } = newNode(1, [1, 2, 3], { term: 1, vote: votedFor });
    node.step({ type: 'Vote', from: id(candidate), to: id(1), term: T(1), lastLogIndex: I(0), lastLogTerm: T(0), transfer: false });
    const ready = handle(node, storage)!;
    expect(ready.earlyMessages).toEqual([]);
    expect(ready.messages).toEqual([{ type: 'VoteResponse', from: id(1), to: id(candidate), term: T(1), reject: !granted }]);
    expect(node.status().vote).toBe(id(granted ? candidate : votedFor));
    if (granted && votedFor === 0) {
      // The vote must be durable before the response leaves.
      expect(ready.hardState).toEqual({ term: T(1), vote: id(candidate), commit: I(0) });
      expect(ready.mustSync).toBe(true);
    }
  });

  it.each([1, 2])('a candidate that hears from a leader of its term (or newer, +%i) becomes its follower', (delta) => {
    const { node, storage } = newNode(1, [1, 2, 3]);
    node.campaign();
    drain(node, storage);
    const term = T(1 + delta - 1);
    node.step({ type: 'Append', from: id(2), to: id(1), term, prevLogIndex: I(0), prevLogTerm: T(0), entries: [], commit: I(0) });
    expect(node.status()).toMatchObject({ role: Role.Follower, term, leader: id(2) });
  });

  it('randomizes election timeouts over [T, 2T)', () => {
    const seen = new Set<number>();
    for (let seed = 0; seed < 200; seed++) {
      const { node } = newNode(1, [1, 2, 3], { config: { random: { nextInt: (bound: number) => seed % bound } } });
      let ticks = 0;
      while (node.status().role === Role.Follower) {
        node.tick();
        ticks++;
      }
      seen.add(ticks);
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  });

  it('followers with different seeds rarely time out together (split votes are rare)', () => {
    let conflicts = 0;
    for (let round = 0; round < 1000; round++) {
      const first: number[] = [];
      for (const who of [1, 2, 3]) {
        const { node } = newNode(who, [1, 2, 3], { config: { random: new SeededRandom(round * 10 + who) } });
        let ticks = 0;
        while (node.status().role === Role.Follower) {
          node.tick();
          ticks++;
        }
        first.push(ticks);
      }
      const min = Math.min(...first);
      if (first.filter((t) => t === min).length > 1) {
        conflicts++;
      }
    }
    expect(conflicts).toBeLessThan(400);
  });

  it('a new leader appends a no-op of its term and replicates it to every follower (§8)', () => {
    const { node, storage } = makeLeader(1, [1, 2, 3], { logTerms: [1], term: 1 });
    const ready = handle(node, storage)!;
    expect(node.status()).toMatchObject({ role: Role.Leader, term: 2 });
    expect(ready.entries).toEqual([{ index: I(2), term: T(2), type: 0, data: new Uint8Array(0) }]);
    const appends = ready.earlyMessages.filter((m: Message) => m.type === 'Append');
    expect(appends).toEqual([
      { type: 'Append', from: id(1), to: id(2), term: T(2), prevLogIndex: I(1), prevLogTerm: T(1), entries: [ready.entries[0]], commit: I(0) },
      { type: 'Append', from: id(1), to: id(3), term: T(2), prevLogIndex: I(1), prevLogTerm: T(1), entries: [ready.entries[0]], commit: I(0) },
    ]);
  });
});

describe('§5.4.1 election restriction', () => {
  it('a candidate advertises its last log index and term', () => {
    const { node, storage } = newNode(1, [1, 2, 3], { logTerms: [1, 1, 2], term: 2 });
    node.campaign();
    const votes = drain(node, storage);
    expect(votes).toEqual([
      { type: 'Vote', from: id(1), to: id(2), term: T(3), lastLogIndex: I(3), lastLogTerm: T(2), transfer: false },
      { type: 'Vote', from: id(1), to: id(3), term: T(3), lastLogIndex: I(3), lastLogTerm: T(2), transfer: false },
    ]);
  });

  it.each([
    // voter log [1,1] (last index 2, last term 1) against candidate (lastIndex, lastTerm)
    [1, 1, false], // shorter log, same term
    [2, 1, true], // same
    [3, 1, true], // longer
    [1, 2, true], // newer term wins regardless of length
    [3, 0, false], // older term loses regardless of length
  ])('grants only to a log at least as up to date (candidate last index %i, term %i)', (lastIndex, lastTerm, granted) => {
    const { node, storage } = newNode(1, [1, 2, 3], { logTerms: [1, 1], term: 2 });
    node.step({ type: 'Vote', from: id(2), to: id(1), term: T(3), lastLogIndex: I(lastIndex), lastLogTerm: T(lastTerm), transfer: false });
    expect(drain(node, storage)).toEqual([{ type: 'VoteResponse', from: id(1), to: id(2), term: T(3), reject: !granted }]);
  });

  it('a leader elected with a shorter log cannot exist: the up-to-date voter refuses', () => {
    // Member 1 holds entry 2 of term 2; member 3 asks with only entry 1.
    const { node, storage } = newNode(1, [1, 2, 3], { logTerms: [1, 2], term: 2 });
    node.step({ type: 'Vote', from: id(3), to: id(1), term: T(3), lastLogIndex: I(1), lastLogTerm: T(1), transfer: false });
    expect(drain(node, storage)).toEqual([{ type: 'VoteResponse', from: id(1), to: id(3), term: T(3), reject: true }]);
  });
});
