/**
 * A small deterministic in-memory cluster for the core's own tests: every member is a
 * RaftNode over a MemoryStorage; Readies are handled in the documented order; messages go
 * through a queue the test controls (drop, partition, deliver). No timers, no randomness
 * beyond the seeded generators.
 */
import { SeededRandom } from '../config';
import type { RaftConfig } from '../config';
import { MemoryStorage } from '../memory-storage';
import type { Message } from '../messages';
import { RaftNode } from '../node';
import type { Ready, ReadState } from '../ready';
import { bootstrapEntries } from '../bootstrap';
import { EntryType, nodeId } from '../types';
import type { Entry, NodeId } from '../types';

export interface TestMember {
  readonly id: NodeId;
  node: RaftNode;
  readonly storage: MemoryStorage;
  /** Application entries applied, in order (no-ops and conf changes excluded). */
  readonly applied: Entry[];
  readonly readStates: ReadState[];
  readonly failedReads: string[];
}

export type MessageFilter = (m: Message) => boolean;

export class TestCluster {
  readonly members = new Map<NodeId, TestMember>();
  /** Messages sent and not yet delivered. */
  queue: Message[] = [];
  /** Every message ever sent, for assertions. */
  readonly sent: Message[] = [];
  /** Returns false to drop a message. */
  filter: MessageFilter = () => true;

  constructor(
    readonly ids: readonly number[],
    readonly overrides: Partial<RaftConfig> = {},
    bootstrapVoters: readonly number[] = ids,
  ) {
    const voters = bootstrapVoters.map((i) => nodeId(i));
    for (const i of ids) {
      const storage = new MemoryStorage();
      if (bootstrapVoters.includes(i)) {
        const boot = bootstrapEntries(voters);
        storage.append(boot.entries);
        storage.setHardState(boot.hardState);
      }
      this.add(i, storage);
    }
  }

  add(i: number, storage: MemoryStorage = new MemoryStorage()): TestMember {
    const id = nodeId(i);
    const member: TestMember = { id, node: this.newNode(id, storage), storage, applied: [], readStates: [], failedReads: [] };
    this.members.set(id, member);
    return member;
  }

  private newNode(id: NodeId, storage: MemoryStorage): RaftNode {
    return new RaftNode(
      { id, electionTimeoutTicks: 10, heartbeatTicks: 1, random: new SeededRandom(Number(id) * 7919), ...this.overrides },
      storage,
    );
  }

  member(i: number): TestMember {
    const m = this.members.get(nodeId(i));
    if (m === undefined) {
      throw new Error(`no member ${i}`);
    }
    return m;
  }

  /** Simulates a crash and restart: a new RaftNode over the same (fully synced) storage. */
  restart(i: number): void {
    const m = this.member(i);
    m.node = this.newNode(m.id, m.storage);
    m.applied.length = 0;
    this.queue = this.queue.filter((msg) => msg.to !== m.id && msg.from !== m.id);
  }

  /** Handles one Ready of member i in the documented order. Returns false if it had none. */
  handleReady(i: number): boolean {
    const m = this.member(i);
    if (!m.node.hasReady()) {
      return false;
    }
    const ready: Ready = m.node.ready();
    this.emit(ready.earlyMessages);
    if (ready.snapshot !== undefined) {
      m.storage.applySnapshot(ready.snapshot);
    }
    m.storage.append(ready.entries);
    if (ready.hardState !== undefined) {
      m.storage.setHardState(ready.hardState);
    }
    this.emit(ready.messages);
    for (const entry of ready.committedEntries) {
      if (entry.type === EntryType.Normal && entry.data.byteLength > 0) {
        m.applied.push(entry);
      }
    }
    m.readStates.push(...ready.readStates);
    m.failedReads.push(...ready.failedReads);
    m.node.advance(ready);
    return true;
  }

  private emit(messages: readonly Message[]): void {
    for (const msg of messages) {
      this.sent.push(msg);
      if (this.filter(msg)) {
        this.queue.push(msg);
      }
    }
  }

  /** Handles readies and delivers messages until nothing moves (bounded). */
  settle(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      let moved = false;
      for (const id of this.members.keys()) {
        while (this.handleReady(Number(id))) {
          moved = true;
        }
      }
      const batch = this.queue;
      this.queue = [];
      for (const msg of batch) {
        const to = this.members.get(msg.to);
        if (to !== undefined) {
          to.node.step(msg);
          moved = true;
        }
      }
      if (!moved) {
        return;
      }
    }
    throw new Error('cluster did not settle');
  }

  tickAll(times = 1): void {
    for (let t = 0; t < times; t++) {
      for (const m of this.members.values()) {
        m.node.tick();
      }
      this.settle();
    }
  }

  /** Ticks until some member is leader (bounded); returns its id. */
  electLeader(maxTicks = 500): NodeId {
    for (let t = 0; t < maxTicks; t++) {
      const leader = this.leader();
      if (leader !== undefined) {
        return leader;
      }
      this.tickAll();
    }
    throw new Error('no leader elected');
  }

  leader(): NodeId | undefined {
    let found: NodeId | undefined;
    let foundTerm = -1;
    for (const m of this.members.values()) {
      const st = m.node.status();
      if (st.role === 'leader' && st.term > foundTerm) {
        found = m.id;
        foundTerm = st.term;
      }
    }
    return found;
  }

  /** Drops every message to or from the given members (a symmetric partition of them from the rest). */
  isolate(...ids: number[]): void {
    const cut = new Set(ids.map((i) => nodeId(i)));
    this.filter = (msg) => cut.has(msg.from) === cut.has(msg.to);
  }

  heal(): void {
    this.filter = () => true;
  }
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}
