// A replicated counter on @keyval/raft alone: three RaftNodes in one process, messages passed
// through an in-memory queue, each Ready handled in the order ready.ts documents. Proves that
// every member applies the same increments in the same order, across a change of leader.
import { bootstrapEntries, EntryType, MemoryStorage, nodeId, RaftNode, Role, SeededRandom } from '@keyval/raft';
import type { Message, NodeId } from '@keyval/raft';

interface Member { readonly node: RaftNode; readonly storage: MemoryStorage; counter: number; applied: number }
const ids = [1, 2, 3].map((i) => nodeId(i));
const members = new Map<NodeId, Member>();
for (const id of ids) {
  const storage = new MemoryStorage();
  const boot = bootstrapEntries(ids); // every member starts from the same three-voter configuration
  storage.append(boot.entries);
  storage.setHardState(boot.hardState);
  const node = new RaftNode({ id, electionTimeoutTicks: 10, heartbeatTicks: 1, random: new SeededRandom(Number(id)) }, storage);
  members.set(id, { node, storage, counter: 0, applied: 0 });
}
let inFlight: Message[] = [];

/** Handles every Ready and delivers every message until nothing moves. */
function settle(): void {
  for (let moved = true; moved; ) {
    moved = false;
    for (const m of members.values()) {
      while (m.node.hasReady()) {
        const ready = m.node.ready();
        inFlight.push(...ready.earlyMessages);
        m.storage.append(ready.entries); // "durable" before the messages that acknowledge it
        if (ready.hardState !== undefined) m.storage.setHardState(ready.hardState);
        inFlight.push(...ready.messages);
        for (const e of ready.committedEntries) {
          if (e.type === EntryType.Normal && e.data.byteLength > 0) {
            m.counter += new DataView(e.data.buffer, e.data.byteOffset).getInt32(0);
            m.applied++;
          }
        }
        m.node.advance(ready);
        moved = true;
      }
    }
    const batch = inFlight;
    inFlight = [];
    for (const msg of batch) members.get(msg.to)?.node.step(msg);
    moved ||= batch.length > 0;
  }
}

function leader(): Member {
  for (let tick = 0; tick < 1_000; tick++) {
    const found = [...members.values()].find((m) => m.node.status().role === Role.Leader);
    if (found !== undefined) return found;
    for (const m of members.values()) m.node.tick();
    settle();
  }
  throw new Error('no leader elected within 1,000 ticks');
}

function increment(by: number): void {
  const data = new Uint8Array(4);
  new DataView(data.buffer).setInt32(0, by);
  leader().node.propose(data);
  settle();
}

for (let i = 1; i <= 10; i++) increment(i);
const first = leader();
const [target] = [...members].filter(([, m]) => m !== first).map(([id]) => id);
first.node.transferLeadership(target); // TimeoutNow to a caught-up target, which wins an election
settle();
if (leader() === first) throw new Error('leadership did not move');
for (let i = 11; i <= 20; i++) increment(i);

const counters = [...members.values()].map((m) => `${m.counter} (${m.applied} increments)`);
console.log(`counters: ${counters.join(', ')}`);
const ok = [...members.values()].every((m) => m.counter === 210 && m.applied === 20);
console.log(ok ? 'PASS: three replicas applied the same 20 increments (sum 210) across a leader change' : 'FAIL: replicas disagree');
process.exitCode = ok ? 0 : 1;
