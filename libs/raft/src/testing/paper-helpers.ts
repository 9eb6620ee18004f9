/**
 * Helpers for paper tests: build one member in an exact state through the public API (a
 * MemoryStorage holding a given log and hard state), drive it, and collect what it emits.
 */
import { SeededRandom } from '../config';
import type { RaftConfig } from '../config';
import { MemoryStorage } from '../memory-storage';
import type { Message } from '../messages';
import { RaftNode } from '../node';
import type { Ready } from '../ready';
import { EntryType, nodeId } from '../types';
import type { Entry, LogIndex, NodeId, Term } from '../types';

export const id = (i: number): NodeId => nodeId(i);
export const T = (t: number): Term => t as Term;
export const I = (i: number): LogIndex => i as LogIndex;

export interface NodeSetup {
  /** Terms of the log's entries at indexes 1..n. */
  readonly logTerms?: readonly number[];
  readonly term?: number;
  readonly vote?: number;
  readonly commit?: number;
  readonly learners?: readonly number[];
  readonly config?: Partial<RaftConfig>;
}

/** An entry whose payload names its index and term, so tests can tell entries apart. */
export function entry(index: number, term: number, data?: string): Entry {
  return { index: I(index), term: T(term), type: EntryType.Normal, data: new TextEncoder().encode(data ?? `e${index}t${term}`) };
}

export function newNode(self: number, voters: readonly number[], setup: NodeSetup = {}): { node: RaftNode; storage: MemoryStorage } {
  const storage = new MemoryStorage();
  storage.applySnapshot({ index: I(0), term: T(0), config: { voters: voters.map(id), learners: (setup.learners ?? []).map(id) } });
  storage.append((setup.logTerms ?? []).map((t, k) => entry(k + 1, t)));
  storage.setHardState({ term: T(setup.term ?? 0), vote: id(setup.vote ?? 0), commit: I(setup.commit ?? 0) });
  const node = new RaftNode(
    { id: id(self), electionTimeoutTicks: 10, heartbeatTicks: 1, random: new SeededRandom(self), preVote: false, checkQuorum: false, ...setup.config },
    storage,
  );
  return { node, storage };
}

/** Handles the node's next Ready in the documented order; returns it (or undefined if none). */
export function handle(node: RaftNode, storage: MemoryStorage): Ready | undefined {
  if (!node.hasReady()) {
    return undefined;
  }
  const ready = node.ready();
  if (ready.snapshot !== undefined) {
    storage.applySnapshot(ready.snapshot);
  }
  storage.append(ready.entries);
  if (ready.hardState !== undefined) {
    storage.setHardState(ready.hardState);
  }
  node.advance(ready);
  return ready;
}

/** Every message the node emits until it has no Ready left (early and persisted, in order). */
export function drain(node: RaftNode, storage: MemoryStorage): Message[] {
  const out: Message[] = [];
  for (let r = handle(node, storage); r !== undefined; r = handle(node, storage)) {
    out.push(...r.earlyMessages, ...r.messages);
  }
  return out;
}

/** Committed entries the node hands out until it has no Ready left. */
export function drainCommitted(node: RaftNode, storage: MemoryStorage): Entry[] {
  const out: Entry[] = [];
  for (let r = handle(node, storage); r !== undefined; r = handle(node, storage)) {
    out.push(...r.committedEntries);
  }
  return out;
}

export function tickN(node: RaftNode, n: number): void {
  for (let k = 0; k < n; k++) {
    node.tick();
  }
}

/** Makes member `self` leader of `voters` at term 1 by feeding it the votes it asks for. */
export function makeLeader(self: number, voters: readonly number[], setup: NodeSetup = {}): { node: RaftNode; storage: MemoryStorage } {
  const made = newNode(self, voters, setup);
  made.node.campaign();
  const requests = drain(made.node, made.storage);
  for (const req of requests) {
    if (req.type === 'Vote') {
      made.node.step({ type: 'VoteResponse', from: req.to, to: req.from, term: req.term, reject: false });
    }
  }
  return made;
}

export function appendResponse(from: number, to: number, term: number, index: number): Message {
  return { type: 'AppendResponse', from: id(from), to: id(to), term: T(term), index: I(index), reject: false, hintIndex: I(0), hintTerm: T(0) };
}

/**
 * A leader of term 1 (member 1 of `voters`, plus `learners`) whose no-op every other member
 * has acknowledged, with everything drained: the usual starting point of leader-side tests.
 */
export function steadyLeader(setup: NodeSetup & { voters?: readonly number[] } = {}): { node: RaftNode; storage: MemoryStorage } {
  const voters = setup.voters ?? [1, 2, 3];
  const made = makeLeader(1, voters, setup);
  drain(made.node, made.storage);
  for (const v of [...voters, ...(setup.learners ?? [])]) {
    if (v !== 1) {
      made.node.step(appendResponse(v, 1, 1, 1));
    }
  }
  drain(made.node, made.storage);
  return made;
}
