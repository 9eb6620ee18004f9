// A custom state machine plugged into @keyval/cluster: a ledger of accounts that refuses
// overdrafts, replicated by three RaftDrivers over the in-memory peer transport, each on an
// in-memory log store from @keyval/storage. Proves that a proposal resolves with the state
// machine's own result (a refusal included), that a follower's linearizable read sees every
// acknowledged write, and that the ledger survives the loss of its leader.
import { MemoryNetwork, RaftDriver } from '@keyval/cluster';
import type { DriverStateMachine } from '@keyval/cluster';
import { bootstrapEntries, EntryType, nodeId, ReadMode, SeededRandom } from '@keyval/raft';
import type { Entry, LogIndex, NodeId } from '@keyval/raft';
import { MemoryLogStore } from '@keyval/storage';

type Command = { readonly op: 'deposit'; readonly to: string; readonly amount: number } | { readonly op: 'transfer'; readonly from: string; readonly to: string; readonly amount: number };
/** What applying one command did: the state machine's answer to the proposer. */
type Result = { readonly ok: true; readonly balance: number } | { readonly ok: false; readonly reason: string } | null;

/** The custom state machine: deterministic, and it remembers what it applied last. */
class Ledger implements DriverStateMachine<Result> {
  readonly balances = new Map<string, number>();
  private applied = 0 as LogIndex;

  appliedIndex(): LogIndex {
    return this.applied;
  }

  async apply(entries: readonly Entry[]): Promise<Result[]> {
    return entries.map((entry) => {
      this.applied = entry.index;
      if (entry.type !== EntryType.Normal || entry.data.byteLength === 0) return null; // membership entries, a new leader's no-op
      const cmd = JSON.parse(new TextDecoder().decode(entry.data)) as Command;
      if (cmd.op === 'transfer') {
        const available = this.balances.get(cmd.from) ?? 0;
        if (available < cmd.amount) return { ok: false, reason: `${cmd.from} has ${available}, cannot send ${cmd.amount}` };
        this.balances.set(cmd.from, available - cmd.amount);
      }
      const balance = (this.balances.get(cmd.to) ?? 0) + cmd.amount;
      this.balances.set(cmd.to, balance);
      return { ok: true, balance };
    });
  }
}

interface Member { readonly id: NodeId; readonly driver: RaftDriver<Result>; readonly ledger: Ledger; readonly fatal: Error[] }

async function startMember(network: MemoryNetwork, id: NodeId, ids: readonly NodeId[]): Promise<Member> {
  const logStore = new MemoryLogStore();
  const boot = bootstrapEntries(ids);
  await logStore.save({ entries: boot.entries, hardState: boot.hardState });
  const ledger = new Ledger();
  const fatal: Error[] = [];
  const receiver = { driver: undefined as RaftDriver<Result> | undefined };
  const transport = network.transport(id, { deliver: (m) => receiver.driver?.deliver(m), receiveSnapshot: (o, c, p) => receiver.driver?.receiveSnapshot(o, c, p) ?? Promise.reject(new Error('not started')) });
  for (const peer of ids) transport.setPeer(peer, 'memory');
  const driver = new RaftDriver<Result>({
    raft: { id, electionTimeoutTicks: 20, heartbeatTicks: 2, preVote: true, checkQuorum: true, random: new SeededRandom(Number(id)) },
    tickMs: 10,
    logStore,
    stateMachine: ledger,
    transport,
    snapshotEveryEntries: 0,
    onFatal: (e) => fatal.push(e),
  });
  receiver.driver = driver;
  await driver.start();
  return { id, driver, ledger, fatal };
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 10))) {
    const found = probe();
    if (found !== undefined) return found;
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function one<T>(items: readonly T[], test: (item: T) => boolean): T {
  const found = items.find(test);
  if (found === undefined) throw new Error('no such member');
  return found;
}

const encode = (cmd: Command): Uint8Array => new TextEncoder().encode(JSON.stringify(cmd));
const failures: string[] = [];
function check(what: string, ok: boolean): void {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
}

async function main(): Promise<void> {
  const ids = [1, 2, 3].map((i) => nodeId(i));
  const network = new MemoryNetwork();
  const members = await Promise.all(ids.map((id) => startMember(network, id, ids)));
  try {
    const first = await waitFor('a leader', () => members.find((m) => m.driver.isLeader()));
    const propose = (on: Member, cmd: Command): Promise<Result> => on.driver.propose(encode(cmd), performance.now() + 5_000);
    check('a deposit resolves with the new balance', JSON.stringify(await propose(first, { op: 'deposit', to: 'alice', amount: 100 })) === '{"ok":true,"balance":100}');
    const refused = await propose(first, { op: 'transfer', from: 'alice', to: 'bob', amount: 500 });
    check('an overdraft is refused by the state machine, with its reason', refused?.ok === false && refused.reason === 'alice has 100, cannot send 500');
    await propose(first, { op: 'transfer', from: 'alice', to: 'bob', amount: 30 });

    const follower = one(members, (m) => m !== first);
    await follower.driver.readBarrier(ReadMode.Safe, performance.now() + 5_000); // linearizable read point, confirmed by the leader
    check('a follower read after the barrier sees every acknowledged write', follower.ledger.balances.get('alice') === 70 && follower.ledger.balances.get('bob') === 30);

    network.isolate(first.id); // the leader is cut off; the other two elect a new one
    const survivors = members.filter((m) => m !== first);
    const second = await waitFor('a new leader among the two others', () => survivors.find((m) => m.driver.isLeader()));
    await propose(second, { op: 'transfer', from: 'bob', to: 'carol', amount: 10 });
    const replica = one(survivors, (m) => m !== second);
    await waitFor('the other survivor to apply', () => (replica.ledger.balances.get('carol') === 10 ? true : undefined));
    network.heal();
    await waitFor('the old leader to catch up', () => (first.ledger.balances.get('carol') === 10 ? true : undefined));
    const views = members.map((m) => JSON.stringify([...m.ledger.balances].sort()));
    check(`all three ledgers agree after a leader change: ${views[0]}`, views.every((v) => v === views[0]));
    check('no member failed', members.every((m) => m.fatal.length === 0));
  } finally {
    for (const m of members) m.driver.stop();
  }
}

main().then(
  () => {
    console.log(failures.length === 0 ? 'PASS: a custom state machine replicated by @keyval/cluster' : `FAIL: ${failures.length} check(s) failed`);
    process.exit(failures.length === 0 ? 0 : 1);
  },
  (error: unknown) => {
    console.error('FAIL:', error);
    process.exit(1);
  },
);
