// The replicated counter with a write-ahead log and a real network: three processes on
// loopback, each a RaftDriver (@keyval/cluster) over a WalLogStore (@keyval/storage) and the
// gRPC peer transport. The parent starts them, sends increments to the leader, kills the
// leader with SIGKILL, increments through the new leader, restarts the killed member on its
// WAL; then kills all three and restarts them, so that the counters can only come from the
// WALs. An increment is sent again only when its outcome says nothing was applied
// (@keyval/outcome), never counted twice. `node wal-counter.js` runs it all.
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { GrpcPeerTransport, RaftDriver, type DriverStateMachine } from '@keyval/cluster';
import { bootstrapEntries, EntryType, nodeId, SeededRandom, type Entry, type LogIndex } from '@keyval/raft';
import { nothingApplied, outcomeOf } from '@keyval/outcome';
import { WalLogStore } from '@keyval/storage';

type Request = { readonly increment: number; readonly seq: number } | { readonly query: number };
type Reply = { readonly seq: number; readonly ok: boolean; readonly value?: number; readonly leader?: boolean; readonly retry?: boolean; readonly error?: string };

/** The counter: in memory, rebuilt on restart by re-applying the committed log from the WAL. */
class Counter implements DriverStateMachine<number> {
  value = 0;
  private applied = 0 as LogIndex;
  appliedIndex(): LogIndex {
    return this.applied;
  }
  async apply(entries: readonly Entry[]): Promise<number[]> {
    return entries.map((e) => {
      this.applied = e.index;
      if (e.type === EntryType.Normal && e.data.byteLength === 4) this.value += new DataView(e.data.buffer, e.data.byteOffset).getInt32(0);
      return this.value;
    });
  }
}

async function member(id: number, dir: string, ports: readonly number[]): Promise<void> {
  const ids = ports.map((_, k) => nodeId(k + 1));
  const fresh = !fs.existsSync(dir);
  const logStore = await WalLogStore.open(dir);
  if (fresh) await logStore.save({ ...bootstrapEntries(ids) });
  const counter = new Counter();
  const box: { driver?: RaftDriver<number> } = {};
  const transport = new GrpcPeerTransport({
    clusterId: 7n,
    self: nodeId(id),
    receiver: { deliver: (m) => box.driver?.deliver(m), receiveSnapshot: () => Promise.reject(new Error('no snapshots in this example')) },
  });
  ports.forEach((port, k) => transport.setPeer(nodeId(k + 1), `http://127.0.0.1:${port}`));
  await transport.listen(`127.0.0.1:${ports[id - 1]}`);
  const driver = new RaftDriver<number>({
    raft: { id: nodeId(id), electionTimeoutTicks: 20, heartbeatTicks: 2, preVote: true, checkQuorum: true, random: new SeededRandom(id * 7919 + Date.now()) },
    tickMs: 10,
    logStore,
    stateMachine: counter,
    transport,
    snapshotEveryEntries: 0,
    onFatal: (e) => {
      console.error(`member ${id}: ${e.message}`);
      process.exit(2);
    },
  });
  box.driver = driver;
  await driver.start();
  process.on('message', (req: Request) => {
    if ('query' in req) {
      process.send?.({ seq: req.query, ok: true, value: counter.value, leader: driver.isLeader() } satisfies Reply);
      return;
    }
    const data = new Uint8Array(4);
    new DataView(data.buffer).setInt32(0, req.increment);
    driver.propose(data, performance.now() + 3_000).then(
      (value) => process.send?.({ seq: req.seq, ok: true, value } satisfies Reply),
      (error: unknown) => process.send?.({ seq: req.seq, ok: false, retry: nothingApplied(outcomeOf(error).outcome), error: String(error) } satisfies Reply),
    );
  });
  process.send?.({ seq: -1, ok: true });
}

let seq = 0;
function ask(child: ChildProcess, request: (seq: number) => Request): Promise<Reply> {
  const mine = ++seq;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5_000);
    const listen = (reply: Reply): void => {
      if (reply.seq !== mine) return;
      clearTimeout(timer);
      child.off('message', listen);
      resolve(reply);
    };
    child.on('message', listen);
    child.send(request(mine));
  });
}

async function parent(): Promise<boolean> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'keyval-wal-counter-'));
  const ports = await Promise.all([0, 1, 2].map(() => freePort()));
  const children: (ChildProcess | undefined)[] = [];
  const stop = async (k: number): Promise<void> => {
    const child = children[k];
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise((resolve) => child.once('exit', resolve).kill('SIGKILL'));
  };
  const counters = async (): Promise<number[]> => {
    let values: number[] = [];
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      values = await Promise.all(children.map(async (c) => (await ask(c as ChildProcess, (s) => ({ query: s }))).value ?? -1));
      if (values.every((v) => v === 210)) break;
    }
    return values;
  };
  const start = async (id: number): Promise<void> => {
    const child = fork(__filename, ['member', String(id), path.join(root, `member-${id}`), ports.join(',')]);
    await new Promise<void>((resolve) => child.once('message', () => resolve()));
    children[id - 1] = child;
  };
  const leaderIndex = async (among: number[]): Promise<number> => {
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      for (const k of among) if ((await ask(children[k] as ChildProcess, (s) => ({ query: s }))).leader === true) return k;
    }
    throw new Error('no leader within 10 s');
  };
  const increment = async (among: number[], by: number): Promise<void> => {
    for (let attempt = 0; attempt < 10; attempt++) {
      const reply = await ask(children[await leaderIndex(among)] as ChildProcess, (s) => ({ increment: by, seq: s }));
      if (reply.ok) return;
      if (reply.retry !== true) throw new Error(`increment ${by} may have been applied: ${reply.error}`);
    }
    throw new Error(`increment ${by} not applied after 10 attempts`);
  };
  try {
    for (const id of [1, 2, 3]) await start(id);
    for (let i = 1; i <= 10; i++) await increment([0, 1, 2], i);
    const killed = await leaderIndex([0, 1, 2]);
    await stop(killed);
    console.log(`killed the leader, member ${killed + 1}, with SIGKILL`);
    const rest = [0, 1, 2].filter((k) => k !== killed);
    for (let i = 11; i <= 20; i++) await increment(rest, i);
    await start(killed + 1); // recovers its log from the WAL, then catches up
    const afterRestart = await counters();
    console.log(`counters after the leader's restart: ${afterRestart.join(', ')}`);
    for (const k of [0, 1, 2]) await stop(k);
    for (const id of [1, 2, 3]) await start(id); // every member from its WAL alone
    const afterAll = await counters();
    console.log(`counters after all three were killed and restarted: ${afterAll.join(', ')}`);
    return [...afterRestart, ...afterAll].every((v) => v === 210);
  } finally {
    for (const k of [0, 1, 2]) await stop(k);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

if (process.argv[2] === 'member') {
  void member(Number(process.argv[3]), process.argv[4] as string, (process.argv[5] as string).split(',').map(Number));
} else {
  parent().then(
    (ok) => {
      console.log(ok ? 'PASS: three processes on WALs kept every increment (sum 210) across a SIGKILL of the leader, then of all three' : 'FAIL: counters disagree');
      process.exit(ok ? 0 : 1);
    },
    (error: unknown) => {
      console.error('FAIL:', error);
      process.exit(1);
    },
  );
}
