/**
 * `npm run bench`: starts local clusters on loopback (KeyVal, and etcd with --target etcd or
 * both, when `etcd` is installed) and drives them with 1, 16, 64 and 256 concurrent clients,
 * printing ops/s and latency percentiles per level, the CPU each process spent per operation
 * (`/proc/<pid>/stat`: every member, the gateway, this load generator), and what the disk did
 * meanwhile (a probe fdatasyncs 4 KiB every 20 ms in its own process; a level whose window saw
 * sync spikes is marked). `--endpoints` measures an existing cluster instead.
 *
 *   --workload put,get,serializable-get   Puts of --value-bytes values; linearizable or
 *                                         serializable Ranges of one key (the warm-up wrote them)
 *   --members 3,5,7                       every level for each cluster size
 *   --repeat N                            the whole run N times, alternating which target goes
 *                                         first (interleaved pairs)
 *   --json FILE / --charts DIR            every figure as JSON; SVG charts (ops/s and p99 by
 *                                         clients, KeyVal beside etcd) per workload and size
 *   --gateway                             every level also through the gateway
 *   --rate N                              paced: N ops/s in all per level (the CPU per operation
 *                                         of a lightly loaded cluster)
 *   --idle S                              first, each process's CPU over S s without load (% of a core)
 *   --tls                                 mutual TLS on every connection (a throwaway CA, ECDSA
 *                                         P-256): the clients, the gateway and member to member,
 *                                         with the same etcd flags for KeyVal and etcd; run it
 *                                         beside a run without to see what TLS costs
 *
 * Before the first level each target gets a warm-up it is not measured on (`--warmup N` Puts
 * at 64 clients, 20,000 by default): KeyVal's code is compiled by the JIT as it runs, and both
 * systems' caches fill, so the figures are of a running system, not of its first seconds.
 *
 * The clients share one HTTP/2 connection per endpoint (`--connections N` for more), as an
 * etcd client (clientv3, the etcd3 npm package) and etcd's own benchmark tool (`--conns 1`)
 * do by default.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { installLeanAsyncResourceBind } from '@keyval/grpc';
import { oneOf, targetsOf, wholeNumber } from './bench-args';
import { BenchPki, findLeader, startCluster, startGateway, type RunningCluster } from './bench-cluster';
import { renderLineChart } from './bench-chart';
import { describeDiskWindow, DiskMonitor, type DiskWindow } from './disk-monitor';
import { runLoad } from './load';
import type { LoadResult } from './load';
import { startCpuWindow } from './process-cpu';

type Target = 'keyval' | 'etcd';
type BenchWorkload = 'put' | 'get' | 'serializable-get' | 'mixed';
const WORKLOADS = ['put', 'get', 'serializable-get', 'mixed'] as const;

interface BenchArgs {
  targets: Target[];
  clients: number[];
  workloads: BenchWorkload[];
  members: number[];
  repeat: number;
  operations: number;
  durationMs: number;
  valueBytes: number;
  endpoints: string[] | undefined;
  leaseReads: boolean;
  gateway: boolean;
  warmupOperations: number;
  connections: number;
  json: string | undefined;
  charts: string | undefined;
  rate: number | undefined;
  idleSeconds: number;
  /** Mutual TLS everywhere (clients, gateway, peers), with a throwaway CA. */
  tls: boolean;
}

/** One measured level. */
export interface LevelResult {
  readonly target: Target;
  readonly via: 'direct' | 'gateway';
  readonly members: number;
  readonly workload: BenchWorkload;
  readonly clients: number;
  readonly repetition: number;
  readonly opsPerSecond: number;
  readonly operations: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Process name → CPU µs per operation; the leader's name is `leader`. */
  readonly cpuMicrosPerOp: Record<string, number>;
  readonly leader: string | undefined;
  readonly disk: DiskWindow;
}

const USAGE =
  'flags: --target keyval|etcd|both --clients 1,16,64,256 --workload put,get,serializable-get,mixed --members 3,5,7 --repeat N --ops N --duration S --value-bytes N --endpoints a,b,c --lease-reads --gateway --warmup N --connections N --json FILE --charts DIR --rate N --idle S --tls';

export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = {
    targets: ['keyval'],
    clients: [1, 16, 64, 256],
    workloads: ['put'],
    members: [3],
    repeat: 1,
    operations: 20_000,
    durationMs: 15_000,
    valueBytes: 256,
    endpoints: undefined,
    leaseReads: false,
    gateway: false,
    warmupOperations: 20_000,
    connections: 1,
    json: undefined,
    charts: undefined,
    rate: undefined,
    idleSeconds: 0,
    tls: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--target':
        args.targets = targetsOf(value());
        break;
      case '--clients':
        args.clients = value()
          .split(',')
          .map((c) => wholeNumber('--clients', c, 1));
        break;
      case '--workload':
        args.workloads = value()
          .split(',')
          .map((w) => oneOf('--workload', w, WORKLOADS));
        break;
      case '--members':
        args.members = value()
          .split(',')
          .map((m) => wholeNumber('--members', m, 1));
        break;
      case '--repeat':
        args.repeat = wholeNumber('--repeat', value(), 1);
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
      case '--json':
        args.json = value();
        break;
      case '--charts':
        args.charts = value();
        break;
      case '--rate':
        args.rate = wholeNumber('--rate', value(), 1);
        break;
      case '--idle':
        args.idleSeconds = wholeNumber('--idle', value(), 1);
        break;
      case '--tls':
        args.tls = true;
        break;
      default:
        throw new Error(`unknown flag ${flag} (${USAGE})`);
    }
  }
  if (args.endpoints !== undefined && (args.targets.includes('etcd') || args.members.length > 1 || args.members[0] !== 3)) {
    throw new Error('--endpoints measures the cluster it names: --target etcd/both and --members do not apply');
  }
  return args;
}

const fixed = (n: number): string => n.toFixed(2).padStart(8);

function row(label: string, clients: number, r: LoadResult): string {
  return `${label.padEnd(7)} ${String(clients).padStart(7)} ${Math.round(r.opsPerSecond).toString().padStart(9)} ${fixed(r.p50Ms)} ${fixed(r.p90Ms)} ${fixed(r.p99Ms)} ${fixed(r.maxMs)} ${String(r.errors).padStart(6)}`;
}

/** Median of the finite values; NaN without any. */
function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

const LABELS: Record<BenchWorkload, string> = { put: 'Put', get: 'linearizable Range', 'serializable-get': 'serializable Range', mixed: 'mixed Put/Range' };

/** The SVG charts of `results`: ops/s and p99 by clients, one line per target (median of repetitions). */
export function chartsOf(results: readonly LevelResult[], clients: readonly number[]): { file: string; svg: string }[] {
  const charts: { file: string; svg: string }[] = [];
  const keys = [...new Set(results.map((r) => `${r.workload}|${r.members}`))];
  for (const key of keys) {
    const [workload, members] = key.split('|') as [BenchWorkload, string];
    const here = results.filter((r) => r.workload === workload && String(r.members) === members);
    const lines = [...new Set(here.map((r) => `${r.target}|${r.via}`))];
    const name = (line: string): string => {
      const [target, via] = line.split('|');
      return `${target === 'keyval' ? 'KeyVal' : 'etcd'}${via === 'gateway' ? ' via gateway' : ''}`;
    };
    for (const [metric, yLabel, pick] of [
      ['throughput', 'ops/s', (r: LevelResult) => r.opsPerSecond],
      ['p99', 'p99 latency, ms', (r: LevelResult) => r.p99Ms],
    ] as const) {
      const series = lines.map((line) => ({
        name: name(line),
        values: clients.map((c) => median(here.filter((r) => `${r.target}|${r.via}` === line && r.clients === c).map(pick))),
      }));
      charts.push({
        file: `${workload}-${members}-members-${metric}.svg`,
        svg: renderLineChart({ title: `${LABELS[workload]}, ${members} members: ${metric === 'throughput' ? 'ops/s' : 'p99 latency'} by clients`, x: clients, xLabel: 'concurrent clients', yLabel, series }),
      });
    }
  }
  return charts;
}

async function main(): Promise<void> {
  installLeanAsyncResourceBind();
  const args = parseBenchArgs(process.argv.slice(2));
  const cpus = os.cpus();
  process.stdout.write(`${args.workloads.join(', ')}; ${args.valueBytes}-byte values, up to ${args.operations} ops or ${args.durationMs / 1000} s per level; ${cpus.length} cores (${cpus[0]?.model ?? 'unknown'}), Node ${process.version}\n`);
  const disk = args.endpoints === undefined ? DiskMonitor.start(os.tmpdir()) : undefined;
  const results: LevelResult[] = [];
  const startedAt = new Date().toISOString();
  const pki = args.tls ? await BenchPki.create() : undefined;
  if (pki !== undefined) {
    process.stdout.write('mutual TLS on every connection (clients, gateway, peers), ECDSA P-256 certificates\n');
  }
  try {
    for (let repetition = 1; repetition <= args.repeat; repetition++) {
      // Interleaved pairs: keyval, etcd, then etcd, keyval...
      const targets = repetition % 2 === 1 ? args.targets : [...args.targets].reverse();
      for (const members of args.members) {
        for (const target of targets) {
          await runTarget(args, target, members, repetition, disk, results, pki);
        }
      }
    }
  } finally {
    await disk?.stop();
    await pki?.remove();
  }
  if (args.json !== undefined) {
    const machine = { cores: cpus.length, cpu: cpus[0]?.model, memoryBytes: os.totalmem(), node: process.version, kernel: os.release() };
    await fs.writeFile(args.json, `${JSON.stringify({ startedAt, finishedAt: new Date().toISOString(), machine, args, results }, null, 2)}\n`);
    process.stdout.write(`figures written to ${args.json}\n`);
  }
  if (args.charts !== undefined) {
    await fs.mkdir(args.charts, { recursive: true });
    for (const chart of chartsOf(results, args.clients)) {
      await fs.writeFile(path.join(args.charts, chart.file), chart.svg);
    }
    process.stdout.write(`charts written to ${args.charts}\n`);
  }
}

async function runTarget(args: BenchArgs, target: Target, members: number, repetition: number, disk: DiskMonitor | undefined, results: LevelResult[], pki: BenchPki | undefined): Promise<void> {
  const cluster: RunningCluster =
    args.endpoints === undefined ? await startCluster(target, { members, leaseReads: args.leaseReads, ...(pki === undefined ? {} : { pki }) }) : { endpoints: args.endpoints, processes: [], names: new Map(), stop: async () => undefined };
  const gateway = args.gateway && target === 'keyval' ? await startGateway(cluster.endpoints, pki) : undefined;
  try {
    const leader = await findLeader(cluster.endpoints, pki);
    const leaderName = cluster.names.get(leader);
    const through = gateway === undefined ? undefined : await findLeader(gateway.endpoints, pki);
    const watched = [...cluster.processes, ...(gateway?.processes ?? [])];
    process.stdout.write(`\n# ${target}, ${members} members${args.repeat > 1 ? `, repetition ${repetition}` : ''}\n`);
    if (args.idleSeconds > 0) {
      const idle = await startCpuWindow(watched);
      await new Promise((r) => setTimeout(r, args.idleSeconds * 1000));
      const spent = await idle.stop();
      spent.delete('load generator');
      process.stdout.write(`idle for ${args.idleSeconds} s, % of a core: ${[...spent].map(([name, seconds]) => `${name === leaderName ? 'leader' : name} ${((100 * seconds) / args.idleSeconds).toFixed(1)}`).join(', ')}\n`);
    }
    const load = (endpoint: string, workload: BenchWorkload, clients: number, operations: number, paced: boolean): Promise<LoadResult> =>
      runLoad({
        endpoints: [endpoint],
        workload: workload === 'serializable-get' ? 'get' : workload,
        serializable: workload === 'serializable-get',
        clients,
        operations,
        durationMs: args.durationMs,
        valueBytes: args.valueBytes,
        keySpace: 10_000,
        readRatio: 0.5,
        timeoutMs: 10_000,
        connections: Math.min(args.connections, clients),
        tls: pki?.tlsFor(endpoint),
        ...(args.rate === undefined || !paced ? {} : { ratePerSecond: args.rate }),
      });
    if (args.warmupOperations > 0) {
      const warm = await load(leader, 'put', 64, args.warmupOperations, false);
      process.stdout.write(`warm-up, not measured: ${args.warmupOperations} Puts at 64 clients, ${Math.round(warm.opsPerSecond)} ops/s, ${warm.errors} errors\n`);
    }
    for (const workload of args.workloads) {
      process.stdout.write(`${workload}${args.rate === undefined ? '' : `, paced at ${args.rate} ops/s`}\ntarget   clients     ops/s   p50 ms   p90 ms   p99 ms   max ms errors\n`);
      for (const clients of args.clients) {
        const measure = async (via: 'direct' | 'gateway', endpoint: string): Promise<LevelResult> => {
          const cpu = await startCpuWindow(watched);
          const from = disk?.now() ?? 0;
          const r = await load(endpoint, workload, clients, args.operations, true);
          const spent = await cpu.stop();
          const window = disk?.window(from, disk.now()) ?? { samples: 0, p50Ms: Number.NaN, p99Ms: Number.NaN, maxMs: Number.NaN, spikes: 0 };
          const micros = Object.fromEntries([...spent].map(([name, seconds]) => [name === leaderName ? 'leader' : name, Math.round((seconds * 1e6) / Math.max(1, r.operations))]));
          process.stdout.write(`${row(via === 'gateway' ? 'gateway' : target, clients, r)}${r.firstError === undefined ? '' : `  first error: ${r.firstError}`}\n`);
          process.stdout.write(`        cpu µs/op: ${Object.entries(micros).map(([n, us]) => `${n} ${us}`).join(', ')}\n        ${describeDiskWindow(window)}\n`);
          const result: LevelResult = { target, via, members, workload, clients, repetition, ...r, cpuMicrosPerOp: micros, leader: leaderName, disk: window };
          results.push(result);
          return result;
        };
        const direct = await measure('direct', leader);
        if (through !== undefined) {
          const viaGateway = await measure('gateway', through);
          const p99 = viaGateway.p99Ms - direct.p99Ms;
          process.stdout.write(`        gateway/direct: ${((100 * viaGateway.opsPerSecond) / direct.opsPerSecond).toFixed(0)}% of the throughput, p99 ${p99 >= 0 ? '+' : ''}${p99.toFixed(2)} ms\n`);
        }
      }
    }
  } finally {
    await gateway?.stop();
    await cluster.stop();
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
