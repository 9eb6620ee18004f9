/**
 * Minimal reproductions of core bugs the simulation found, against @keyval/raft's public API.
 *
 * A case written as `it.failing` documents a bug that is NOT fixed yet: Jest reports it as
 * passing while the bug reproduces. When the core is fixed the case starts failing — then
 * change `it.failing` to `it` so it guards against regressions.
 */
import { MemoryStorage, RaftNode, Role, SeededRandom, bootstrapEntries, nodeId } from '@keyval/raft';
import type { Message, NodeId, RaftConfig } from '@keyval/raft';

interface Peer {
  readonly id: NodeId;
  readonly node: RaftNode;
  readonly storage: MemoryStorage;
}

/** A three-member cluster with synchronous persistence and a message queue the test filters. */
class MiniCluster {
  readonly peers = new Map<NodeId, Peer>();
  queue: Message[] = [];
  /** Every message emitted, dropped or not. */
  readonly sent: Message[] = [];
  drop: (m: Message) => boolean = () => false;

  constructor(overrides: Partial<RaftConfig>) {
    const ids = [1, 2, 3].map((i) => nodeId(i));
    for (const id of ids) {
      const storage = new MemoryStorage();
      const boot = bootstrapEntries(ids);
      storage.append(boot.entries);
      storage.setHardState(boot.hardState);
      const node = new RaftNode({ id, electionTimeoutTicks: 15, heartbeatTicks: 5, random: new SeededRandom(Number(id)), ...overrides }, storage);
      this.peers.set(id, { id, node, storage });
    }
  }

  peer(i: number): Peer {
    return this.peers.get(nodeId(i))!;
  }

  /** Handles Readies (persisting synchronously) and delivers messages until quiet. */
  settle(): void {
    for (let round = 0; round < 1000; round++) {
      let moved = false;
      for (const p of this.peers.values()) {
        while (p.node.hasReady()) {
          const rd = p.node.ready();
          if (rd.snapshot !== undefined) {
            p.storage.applySnapshot(rd.snapshot);
          }
          p.storage.append(rd.entries);
          if (rd.hardState !== undefined) {
            p.storage.setHardState(rd.hardState);
          }
          for (const m of [...rd.earlyMessages, ...rd.messages]) {
            this.sent.push(m);
            if (!this.drop(m)) {
              this.queue.push(m);
            }
          }
          p.node.advance(rd);
          moved = true;
        }
      }
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        this.peers.get(m.to)?.node.step(m);
        moved = true;
      }
      if (!moved) {
        return;
      }
    }
    throw new Error('did not settle');
  }

  tick(times: number): void {
    for (let t = 0; t < times; t++) {
      for (const p of this.peers.values()) {
        p.node.tick();
      }
      this.settle();
    }
  }
}

describe('regressions found by the simulation', () => {
  /**
   * FIXED (raft-leader.ts sendWindowProbe: a heartbeat answer from a follower whose window is
   * full probes at its next index outside the window). Was: sim seeds 285 and 969 (`npm run sim -- --seed 285 --no-lincheck`, found with
   * --seeds 1000). A follower in Replicate state whose in-flight Appends are all lost is never
   * sent entries again: the inflight window stays full (only AppendResponses free it), a
   * heartbeat response calls maybeSendAppend but that returns at once because the progress is
   * paused, and nothing else moves it back to Probe. With maxInflightMessages = 1 a single lost
   * Append is enough; with the default 256 it takes 256 losses in a row, or a follower that
   * restarts and drops what was in flight. In the seeds the stuck follower was needed for a
   * quorum, so the cluster stopped committing for good, even after the network healed.
   * etcd frees the window on a heartbeat response (older versions: Inflights.FreeFirstOne;
   * newer: MsgAppFlowPaused reset and an append re-sent).
   */
  it('a follower whose in-flight Append was lost catches up once the network is healthy (lost Append, window 1)', () => {
    const c = new MiniCluster({ maxInflightMessages: 1 });
    c.peer(1).node.campaign();
    c.settle();
    expect(c.peer(1).node.status().role).toBe(Role.Leader);
    c.peer(1).node.propose(new Uint8Array([1]));
    c.settle();
    expect(c.peer(2).node.status().progress).toBeUndefined();
    expect(c.peer(1).node.status().progress?.get(nodeId(2))?.state).toBe('replicate');
    // Lose the next Append to member 2 (once).
    let lost = false;
    c.drop = (m) => {
      if (!lost && m.type === 'Append' && m.to === nodeId(2) && m.entries.length > 0) {
        lost = true;
        return true;
      }
      return false;
    };
    c.peer(1).node.propose(new Uint8Array([2]));
    c.settle();
    expect(lost).toBe(true);
    // The network is healthy from now on: heartbeats flow for many election timeouts.
    c.tick(200);
    const leaderLast = c.peer(1).storage.lastIndex();
    expect(c.peer(2).storage.lastIndex()).toBe(leaderLast);
  });

  /**
   * FIXED (sendWindowProbe falls back to probing, hence a snapshot, when the entry before
   * next is compacted). Was: sim seeds 13687 and 38285 (`npm run sim -- --seed 13687 --no-lincheck`; first
   * found as seed 3722 with --seeds 10000 after the fix above, which a later core change steers
   * around). The window probe of that fix needs the term of the
   * entry before the follower's `next`; when the leader has compacted that entry,
   * sendWindowProbe returns without sending anything, and because the window is full
   * maybeSendAppend (which would fall back to a snapshot) is never called either. The follower
   * waits forever for a snapshot. In the seed the leader had removed itself, so {1,3} was the
   * quorum and nothing committed again, even with every fault healed.
   */
  it('a follower whose in-flight Append was lost gets a snapshot when the leader has compacted past it', () => {
    const c = new MiniCluster({ maxInflightMessages: 1 });
    c.peer(1).node.campaign();
    c.settle();
    c.peer(1).node.propose(new Uint8Array([1]));
    c.settle();
    let lost = false;
    c.drop = (m) => {
      if (!lost && m.type === 'Append' && m.to === nodeId(2) && m.entries.length > 0) {
        lost = true;
        return true;
      }
      return false;
    };
    for (let k = 0; k < 5; k++) {
      c.peer(1).node.propose(new Uint8Array([10 + k]));
      c.settle();
    }
    expect(lost).toBe(true);
    // The leader snapshots and compacts past what member 2 has.
    const leader = c.peer(1);
    const last = leader.storage.lastIndex();
    leader.storage.compact({ index: last, term: leader.storage.term(last), config: leader.node.configAt(last) });
    const before = c.sent.length;
    c.tick(200);
    expect(c.sent.slice(before).some((m) => m.type === 'Snapshot' && m.to === nodeId(2))).toBe(true);
  });
});

describe('found while building the stale-read check (not yet by a seed)', () => {
  /**
   * Fixed in libs/raft (leaseValid, leaseForfeited). A leader that aborted a transfer (the
   * target did not take over within an election timeout) served lease reads again, but the
   * TimeoutNow it sent may still be in flight. When it arrives, the target campaigns with the
   * transfer flag, the voters set their lease guard aside as a transfer asks them to (§3.10),
   * and a new leader is elected while the old one's lease — renewed by heartbeat rounds after
   * the abort — still held: until the old leader heard of the new term it served lease reads
   * that could miss the new leader's writes. Now a leader that sent TimeoutNow holds no lease
   * for the rest of its term. Needs the TimeoutNow delayed past an election timeout (150 ms
   * here) and lease reads on.
   */
  it('a leader whose transfer was aborted holds no valid lease once a late TimeoutNow has elected its target', () => {
    const c = new MiniCluster({ preVote: true, checkQuorum: true, leaseReads: true });
    let leader: Peer | undefined;
    for (let t = 0; t < 200 && leader === undefined; t++) {
      c.tick(1);
      leader = [...c.peers.values()].find((p) => p.node.status().role === Role.Leader);
    }
    expect(leader).toBeDefined();
    const old = leader!;
    const target = [...c.peers.values()].find((p) => p !== old)!;
    const third = [...c.peers.values()].find((p) => p !== old && p !== target)!;
    c.tick(10);
    // The TimeoutNow is held back; the transfer aborts after an election timeout. The leader's
    // heartbeat rounds are acknowledged, but they no longer renew a lease in this term.
    const held: Message[] = [];
    c.drop = (m) => m.type === 'TimeoutNow' && held.push(m) > 0;
    old.node.transferLeadership(target.id);
    c.settle();
    expect(held.length).toBe(1);
    c.tick(20);
    expect(old.node.status().leadTransferee).toBeUndefined();
    expect(old.node.status().role).toBe(Role.Leader);
    expect(old.node.hasValidLease()).toBe(false);
    // The late TimeoutNow arrives; the old leader hears nothing more.
    c.drop = (m) => m.to === old.id;
    target.node.step(held[0]!);
    c.settle();
    expect(target.node.status().role).toBe(Role.Leader);
    expect(target.node.status().term).toBeGreaterThan(old.node.status().term);
    expect(third.node.status().leader).toBe(target.id);
    // The old leader still leads its term; it must not consider its lease valid any more.
    expect(old.node.status().role).toBe(Role.Leader);
    expect(old.node.hasValidLease()).toBe(false);
  });
});
