/**
 * `npm run bench:lease`: lease keepalives per second. Starts a 3-member cluster on loopback
 * (KeyVal, or etcd with --target etcd|both), grants `--leases` leases (default 1,000, TTL 60 s)
 * on the leader, opens `--streams` LeaseKeepAlive streams (default 10) on `--on leader|followers|all`
 * members (a follower relays its streams to the leader), and for `--duration` seconds (default
 * 20) keeps `--window` keepalives in flight on each stream (default 64), round-robin over the
 * leases. Prints keepalives answered per second, the answer delay (p50, p99, max) and
 * keepalives answered TTL 0 (a lease not found: should be 0).
 */
import * as os from 'node:os';
import { GrpcChannel, bidiStreamingCall, createClient, installLeanAsyncResourceBind } from '@keyval/grpc';
import type { MethodDefinition } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { targetsOf, wholeNumber } from './bench-args';
import { findLeader, startCluster } from './bench-cluster';
import { LatencyRecorder } from './latency';

interface LeaseBenchArgs {
  targets: ('keyval' | 'etcd')[];
  leases: number;
  streams: number;
  window: number;
  durationMs: number;
  on: 'all' | 'leader' | 'followers';
}

const FLAGS = '--target keyval|etcd|both --leases N --streams N --window N --duration S --on all|leader|followers';

function parseArgs(argv: readonly string[]): LeaseBenchArgs {
  const args: LeaseBenchArgs = { targets: ['keyval'], leases: 1000, streams: 10, window: 64, durationMs: 20_000, on: 'leader' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    switch (flag) {
      case '--target':
        args.targets = targetsOf(value);
        break;
      case '--leases':
        args.leases = wholeNumber(flag, value, 1);
        break;
      case '--streams':
        args.streams = wholeNumber(flag, value, 1);
        break;
      case '--window':
        args.window = wholeNumber(flag, value, 1);
        break;
      case '--duration':
        args.durationMs = wholeNumber(flag, value, 1) * 1000;
        break;
      case '--on':
        if (value !== 'all' && value !== 'leader' && value !== 'followers') throw new Error(`--on takes all, leader or followers, not ${JSON.stringify(value)}`);
        args.on = value;
        break;
      default:
        throw new Error(`unknown flag ${String(flag)} (flags: ${FLAGS})`);
    }
  }
  return args;
}

const KEEPALIVE: MethodDefinition<etcd.LeaseKeepAliveRequest, etcd.LeaseKeepAliveResponse, true, true> = {
  name: 'LeaseKeepAlive',
  requestType: etcd.LeaseKeepAliveRequest,
  responseType: etcd.LeaseKeepAliveResponse,
  requestStream: true,
  responseStream: true,
};
const KEEPALIVE_PATH = '/etcdserverpb.Lease/LeaseKeepAlive';

async function runTarget(target: 'keyval' | 'etcd', args: LeaseBenchArgs): Promise<void> {
  const cluster = await startCluster(target);
  const channels: GrpcChannel[] = [];
  try {
    const leader = await findLeader(cluster.endpoints);
    const leaderChannel = new GrpcChannel(leader);
    channels.push(leaderChannel);
    const leaseClient = createClient(etcd.LeaseDefinition, leaderChannel);
    const ids: bigint[] = [];
    for (let i = 0; i < args.leases; i++) {
      ids.push((await leaseClient.leaseGrant({ TTL: 60n, ID: 0n }, { timeoutMs: 10_000 })).ID);
    }
    const members = args.on === 'all' ? cluster.endpoints : args.on === 'leader' ? [leader] : cluster.endpoints.filter((e) => e !== leader);
    const delays = new LatencyRecorder();
    let answered = 0;
    let notFound = 0;
    const started = performance.now();
    const deadline = started + args.durationMs;
    await Promise.all(
      Array.from({ length: args.streams }, async (_, s) => {
        const channel = new GrpcChannel(members[s % members.length] as string);
        channels.push(channel);
        const call = bidiStreamingCall(channel, KEEPALIVE_PATH, KEEPALIVE, {});
        // Answers come in request order on one stream: a FIFO of send times.
        const sentAt: number[] = [];
        let next = s;
        const send = async (): Promise<void> => {
          sentAt.push(performance.now());
          await call.send({ ID: ids[next % ids.length] as bigint });
          next += args.streams;
        };
        for (let w = 0; w < args.window; w++) await send();
        for await (const response of call.responses) {
          delays.record(performance.now() - (sentAt.shift() as number));
          answered++;
          if (response.TTL === 0n) notFound++;
          if (performance.now() < deadline) {
            await send();
          } else if (sentAt.length === 0) {
            break;
          }
        }
        call.cancel();
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const f = (n: number): string => n.toFixed(2);
    process.stdout.write(
      `${target.padEnd(6)} ${args.leases} leases, ${args.streams} streams × ${args.window} in flight on ${args.on}: ${Math.round(answered / seconds)} keepalives/s; ` +
        `delay p50 ${f(delays.quantile(0.5))} ms, p99 ${f(delays.quantile(0.99))} ms, max ${f(delays.quantile(1))} ms; answered TTL 0: ${notFound}\n`,
    );
  } finally {
    channels.forEach((channel) => channel.close());
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  installLeanAsyncResourceBind();
  const args = parseArgs(process.argv.slice(2));
  process.stdout.write(`lease keepalives: ${args.durationMs / 1000} s per target; ${os.cpus().length} cores, Node ${process.version}\n`);
  for (const target of args.targets) {
    await runTarget(target, args);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:lease: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
