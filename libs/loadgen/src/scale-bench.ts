/**
 * `npm run bench:scale`: the data-scale figures of a 3-member cluster (KeyVal, and etcd with
 * --target etcd or both) holding 1 M keys of 256 bytes:
 *
 *   load       the keys written in Txns of --txn-ops Puts each, --clients at a time (keys/s)
 *   RSS        each member's resident set once the keys are in (/proc/<pid>/status VmRSS)
 *   restart    a follower stopped (SIGTERM) and started again on its data: ms from the start
 *              until it answers a serializable Range with the right value
 *   new member a fourth member added (etcd's MemberAdd, then started with the existing
 *              cluster's flags): ms until it has applied everything the leader had committed
 *              when it was added, and whether the leader sent it a snapshot to get there
 *
 * Both systems run with --snapshot-count (2,000 by default), so the leader has snapshotted and
 * compacted its log long before the new member asks for it (the figures say whether it sent one).
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import { GrpcChannel, createClient, installLeanAsyncResourceBind } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { targetsOf, wholeNumber } from './bench-args';
import { findLeader, memberStatus, startCluster, type LocalCluster } from './bench-cluster';
import { describeDisk, probeDisk } from './disk-probe';

interface ScaleArgs {
  targets: ('keyval' | 'etcd')[];
  keys: number;
  valueBytes: number;
  txnOps: number;
  clients: number;
  snapshotCount: number;
}

const USAGE = 'flags: --target keyval|etcd|both --keys N --value-bytes N --txn-ops N --clients N --snapshot-count N';

export function parseScaleArgs(argv: readonly string[]): ScaleArgs {
  const args: ScaleArgs = { targets: ['keyval'], keys: 1_000_000, valueBytes: 256, txnOps: 100, clients: 32, snapshotCount: 2_000 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = argv[++i];
    switch (flag) {
      case '--target':
        args.targets = targetsOf(value);
        break;
      case '--keys':
        args.keys = wholeNumber(flag, value, 1);
        break;
      case '--value-bytes':
        args.valueBytes = wholeNumber(flag, value, 0);
        break;
      case '--txn-ops':
        args.txnOps = wholeNumber(flag, value, 1);
        if (args.txnOps > 128) throw new Error('--txn-ops takes at most 128 (etcd\'s default --max-txn-ops)');
        break;
      case '--clients':
        args.clients = wholeNumber(flag, value, 1);
        break;
      case '--snapshot-count':
        args.snapshotCount = wholeNumber(flag, value, 1);
        break;
      default:
        throw new Error(`unknown flag ${flag} (${USAGE})`);
    }
  }
  return args;
}

/** The key of index `i`, fixed width so ranges and sizes are the same for both systems. */
export const scaleKey = (i: number): Buffer => Buffer.from(`scale/${String(i).padStart(8, '0')}`);

/** A value that compresses as poorly as real data (a xorshift stream seeded by the index). */
export function scaleValue(i: number, bytes: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  let x = (i * 2654435761) >>> 0 || 1;
  for (let k = 0; k < bytes; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[k] = x & 0xff;
  }
  return out;
}

/** VmRSS of `pid` in MiB, from /proc; undefined if gone. */
async function rssMiB(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/** Polls `check` every 20 ms until it answers true; the ms it took. Throws after `timeoutMs`. */
async function timeUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  for (;;) {
    try {
      if (await check()) return Math.round(performance.now() - started);
    } catch {
      // not yet
    }
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Writes keys [0, keys) in Txns of `txnOps` Puts, `clients` Txns in flight. */
async function load(endpoint: string, args: ScaleArgs): Promise<number> {
  const channel = new GrpcChannel(endpoint, { sessions: 1, maxSendMessageBytes: 8 << 20 });
  const kv = createClient(etcd.KVDefinition, channel);
  let next = 0;
  const started = performance.now();
  let reported = started;
  const worker = async (): Promise<void> => {
    while (next < args.keys) {
      const from = next;
      const to = Math.min(args.keys, from + args.txnOps);
      next = to;
      const success = [];
      for (let i = from; i < to; i++) success.push(etcd.RequestOp.fromPartial({ request: { $case: 'requestPut', value: { key: scaleKey(i), value: scaleValue(i, args.valueBytes) } } }));
      await kv.txn(etcd.TxnRequest.fromPartial({ success }), { timeoutMs: 30_000 });
      if (performance.now() - reported > 10_000) {
        reported = performance.now();
        process.stdout.write(`  ${next.toLocaleString('en-US')} keys written, ${Math.round(next / ((reported - started) / 1000)).toLocaleString('en-US')} keys/s\n`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: args.clients }, worker));
  } finally {
    channel.close();
  }
  return (performance.now() - started) / 1000;
}

async function scrape(metricsUrl: string | undefined): Promise<string> {
  if (metricsUrl === undefined) return '';
  const response = await fetch(metricsUrl);
  return response.text();
}

/** The sum of a counter family's samples in an exposition text (0 when absent). */
export function counterSum(text: string, family: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${family} `) || line.startsWith(`${family}{`)) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
    }
  }
  return sum;
}

async function runTarget(target: 'keyval' | 'etcd', args: ScaleArgs): Promise<void> {
  process.stdout.write(`\n# ${target}: ${args.keys.toLocaleString('en-US')} keys of ${args.valueBytes} bytes, Txns of ${args.txnOps} Puts, ${args.clients} in flight, --snapshot-count=${args.snapshotCount}\n`);
  const cluster: LocalCluster = await startCluster(target, { members: 3, snapshotCount: args.snapshotCount });
  try {
    const leader = await findLeader(cluster.endpoints);
    const seconds = await load(leader, args);
    process.stdout.write(`load: ${seconds.toFixed(1)} s, ${Math.round(args.keys / seconds).toLocaleString('en-US')} keys/s\n`);
    const rss = await Promise.all(cluster.processes.map(async (p) => `${p.name} ${(await rssMiB(cluster.pidOf(p.name)))?.toFixed(0) ?? '?'} MiB`));
    process.stdout.write(`RSS with the keys in: ${rss.join(', ')}\n`);

    // Restart a follower and time it back to serving.
    const leaderName = cluster.names.get(leader);
    const follower = [...cluster.names].find(([, name]) => name !== leaderName) as [string, string];
    const probe = args.keys - 1;
    const stopStarted = performance.now();
    await cluster.restart(follower[1]);
    const restartedAt = performance.now();
    const serving = await timeUntil(`${follower[1]} serving after a restart`, 120_000, async () => {
      const channel = new GrpcChannel(follower[0], { connectTimeoutMs: 200 });
      try {
        const r = await createClient(etcd.KVDefinition, channel).range(etcd.RangeRequest.fromPartial({ key: scaleKey(probe), serializable: true }), { timeoutMs: 1_000 });
        return r.kvs[0]?.value.equals(scaleValue(probe, args.valueBytes)) === true;
      } finally {
        channel.close();
      }
    });
    process.stdout.write(`restart of follower ${follower[1]}: stopped in ${Math.round(restartedAt - stopStarted)} ms, serving the keys ${serving} ms after it was started again; RSS then ${(await rssMiB(cluster.pidOf(follower[1])))?.toFixed(0) ?? '?'} MiB\n`);

    // Add a fourth member and time it to caught up.
    const leaderNow = await findLeader(cluster.endpoints);
    const committed = (await memberStatus(leaderNow, 2_000)).raftIndex;
    const before = await scrapeLeader(cluster, leaderNow);
    const addStarted = performance.now();
    // The leader refuses to add a voter while a member it needs for the new quorum is not
    // back in touch yet (the follower just restarted), as etcd does: retry that refusal.
    let endpoint: string | undefined;
    const addDeadline = performance.now() + 60_000;
    while (endpoint === undefined) {
      try {
        endpoint = await cluster.addMember('b4', leaderNow);
      } catch (error) {
        if (!/not enough started members|unhealthy cluster/.test(String(error)) || performance.now() > addDeadline) throw error;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const newMember = endpoint;
    const caughtUp = await timeUntil('the new member catching up', 300_000, async () => (await memberStatus(newMember, 1_000)).raftAppliedIndex >= committed);
    const after = await scrapeLeader(cluster, leaderNow);
    const snapshotFamily = target === 'keyval' ? 'keyval_install_snapshot_sent_total' : 'etcd_network_snapshot_send_success';
    const snapshots = counterSum(after, snapshotFamily) - counterSum(before, snapshotFamily);
    process.stdout.write(
      `new member b4: added and caught up to index ${committed} in ${Math.round(performance.now() - addStarted)} ms (${caughtUp} ms after it was started); snapshots sent by the leader meanwhile (${snapshotFamily}): ${snapshots}; its RSS ${(await rssMiB(cluster.pidOf('b4')))?.toFixed(0) ?? '?'} MiB\n`,
    );
  } finally {
    await cluster.stop();
  }
}

async function scrapeLeader(cluster: LocalCluster, leader: string): Promise<string> {
  try {
    return await scrape(cluster.metricsUrlOf(leader));
  } catch {
    return '';
  }
}

async function main(): Promise<void> {
  installLeanAsyncResourceBind();
  const args = parseScaleArgs(process.argv.slice(2));
  const cpus = os.cpus();
  process.stdout.write(`${cpus.length} cores (${cpus[0]?.model ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}\n${describeDisk(await probeDisk(os.tmpdir()))}\n`);
  for (const target of args.targets) {
    await runTarget(target, args);
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench:scale: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
