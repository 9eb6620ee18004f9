/**
 * `npm run bench`: starts a 3-member cluster on loopback (KeyVal, and etcd with --target
 * etcd or both, when `etcd` is installed), then drives Puts of 256-byte values at the leader
 * with 1, 16, 64 and 256 concurrent clients and prints writes/s and latency percentiles.
 * `--endpoints` measures an existing cluster instead. `--gateway` also starts the gateway
 * (`apps/gateway`) in front of the KeyVal cluster and runs every level twice, direct to the
 * leader and through the gateway, printing the gateway's share of the direct throughput.
 *
 * Before the first level each target gets a warm-up it is not measured on (`--warmup N`
 * operations at 64 clients, 20,000 by default, 0 for none): KeyVal's code is compiled by the
 * JIT as it runs, and both systems' caches fill, so the figures are of a running system, not
 * of its first seconds. The warm-up is the same for both targets and is printed.
 *
 * The clients share one HTTP/2 connection per endpoint (`--connections N` for more), as an
 * etcd client (clientv3, the etcd3 npm package) and etcd's own benchmark tool (`--conns 1`)
 * do by default.
 *
 * Beside the figures: the disk's fdatasync latency where the data directories live (it
 * changes from day to day and write latency follows it), and after each level the CPU each
 * process spent per operation (`/proc/<pid>/stat`: every member, the gateway, and this
 * load generator).
 */
import * as os from 'node:os';
import { installLeanAsyncResourceBind } from '@keyval/grpc';
import { findLeader, startCluster, startGateway } from './bench-cluster';
import type { RunningCluster } from './bench-cluster';
import { describeDisk, probeDisk } from './disk-probe';
import { runLoad } from './load';
import { startCpuWindow } from './process-cpu';
import type { LoadResult, Workload } from './load';

interface BenchArgs {
  targets: ('keyval' | 'etcd')[];
  clients: number[];
  operations: number;
  durationMs: number;
  valueBytes: number;
  endpoints: string[] | undefined;
  workload: Workload;
  leaseReads: boolean;
  gateway: boolean;
  warmupOperations: number;
  connections: number;
}

/** `text` if it is one of `choices`, or throws naming the flag. */
function oneOf<T extends string>(flag: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new Error(`${flag} takes ${choices.join(', ')}, not ${JSON.stringify(text)}`);
  }
  return text as T;
}

/** Parses a whole number of at least `min`, or throws naming the flag. */
function wholeNumber(flag: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new Error(`${flag} takes a whole number of at least ${min}, not ${JSON.stringify(text)}`);
  }
  return n;
}

function parseArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = { targets: ['keyval'], clients: [1, 16, 64, 256], operations: 20_000, durationMs: 15_000, valueBytes: 256, endpoints: undefined, workload: 'put', leaseReads: false, gateway: false, warmupOperations: 20_000, connections: 1 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--target':
        args.targets = oneOf('--target', value(), ['keyval', 'etcd', 'both'] as const) === 'both' ? ['keyval', 'etcd'] : [argv[i] as 'keyval' | 'etcd'];
        break;
      case '--clients':
        args.clients = value()
          .split(',')
          .map((c) => wholeNumber('--clients', c, 1));
        break;
      case '--ops':
        args.operations = wholeNumber('--ops', value(), 1);
        break;
      case '--duration':
        args.durationMs = wholeNumber('--duration', value(), 1) * 1000;
        break;
      case '--value-bytes':
        args.valueBytes = wholeNumber('--value-bytes', value(), 0);
        break;
      case '--endpoints':
        args.endpoints = value().split(',');
        break;
      case '--workload':
        args.workload = oneOf('--workload', value(), ['put', 'get', 'mixed'] as const);
        break;
      case '--lease-reads':
        args.leaseReads = true;
        break;
      case '--gateway':
        args.gateway = true;
        break;
      case '--warmup':
        args.warmupOperations = wholeNumber('--warmup', value(), 0);
        break;
      case '--connections':
        args.connections = wholeNumber('--connections', value(), 1);
        break;
      default:
        throw new Error(`unknown flag ${flag} (flags: --target keyval|etcd|both --clients 1,16,64,256 --ops N --duration S --value-bytes N --workload put|get|mixed --endpoints a,b,c --lease-reads --gateway --warmup N --connections N)`);
    }
  }
  return args;
}

/** "cpu µs/op: b1 (leader) 72, b2 43, b3 44, load generator 39". */
function cpuRow(spent: Map<string, number>, operations: number, leaderName: string | undefined): string {
  const parts = [...spent].map(([name, seconds]) => `${name}${name === leaderName ? ' (leader)' : ''} ${Math.round((seconds * 1e6) / Math.max(1, operations))}`);
  return `        cpu µs/op: ${parts.join(', ')}`;
}

function row(label: string, clients: number, r: LoadResult): string {
  const f = (n: number): string => n.toFixed(2).padStart(8);
  return `${label.padEnd(7)} ${String(clients).padStart(7)} ${Math.round(r.opsPerSecond).toString().padStart(9)} ${f(r.p50Ms)} ${f(r.p90Ms)} ${f(r.p99Ms)} ${f(r.maxMs)} ${String(r.errors).padStart(6)}`;
}

async function main(): Promise<void> {
  installLeanAsyncResourceBind();
  const args = parseArgs(process.argv.slice(2));
  process.stdout.write(`workload ${args.workload}, ${args.valueBytes}-byte values, up to ${args.operations} ops or ${args.durationMs / 1000} s per level; ${os.cpus().length} cores, Node ${process.version}\n`);
  if (args.endpoints === undefined) {
    process.stdout.write(`${describeDisk(await probeDisk(os.tmpdir()))}\n`);
  }
  process.stdout.write('target   clients     ops/s   p50 ms   p90 ms   p99 ms   max ms errors\n');
  for (const target of args.endpoints === undefined ? args.targets : ['keyval' as const]) {
    const cluster: RunningCluster = args.endpoints === undefined ? await startCluster(target, args.leaseReads) : { endpoints: args.endpoints, processes: [], names: new Map(), stop: async () => undefined };
    const gateway = args.gateway && target === 'keyval' ? await startGateway(cluster.endpoints) : undefined;
    try {
      const leader = await findLeader(cluster.endpoints);
      const through = gateway === undefined ? undefined : await findLeader(gateway.endpoints);
      const load = (endpoint: string, clients: number, operations: number): Promise<LoadResult> =>
        runLoad({
          endpoints: [endpoint],
          workload: args.workload,
          clients,
          operations,
          durationMs: args.durationMs,
          valueBytes: args.valueBytes,
          keySpace: 10_000,
          readRatio: 0.5,
          serializable: false,
          timeoutMs: 10_000,
          connections: Math.min(args.connections, clients),
        });
      const watched = [...cluster.processes, ...(gateway?.processes ?? [])];
      const measure = async (label: string, endpoint: string, clients: number): Promise<LoadResult> => {
        const cpu = await startCpuWindow(watched);
        const result = await load(endpoint, clients, args.operations);
        const spent = await cpu.stop();
        process.stdout.write(`${row(label, clients, result)}${result.firstError === undefined ? '' : `  first error: ${result.firstError}`}\n`);
        process.stdout.write(`${cpuRow(spent, result.operations, cluster.names.get(leader))}\n`);
        return result;
      };
      if (args.warmupOperations > 0) {
        const warm = await load(leader, 64, args.warmupOperations);
        process.stdout.write(`# ${target} warm-up, not measured: ${args.warmupOperations} ops at 64 clients, ${Math.round(warm.opsPerSecond)} ops/s, ${warm.errors} errors\n`);
      }
      for (const clients of args.clients) {
        const direct = await measure(target, leader, clients);
        if (through !== undefined) {
          const viaGateway = await measure('gateway', through, clients);
          const p99 = viaGateway.p99Ms - direct.p99Ms;
          process.stdout.write(`        gateway/direct: ${((100 * viaGateway.opsPerSecond) / direct.opsPerSecond).toFixed(0)}% of the throughput, p99 ${p99 >= 0 ? '+' : ''}${p99.toFixed(2)} ms\n`);
        }
      }
    } finally {
      await gateway?.stop();
      await cluster.stop();
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
