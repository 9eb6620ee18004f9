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
 * `--tls` runs everything with mutual TLS (a throwaway CA, ECDSA P-256 certificates): the
 * clients, the gateway, and member to member, with the same etcd flags for KeyVal and etcd;
 * run it beside a run without to see what TLS costs in writes/s and CPU.
 *
 * Beside the figures: the disk's fdatasync latency where the data directories live (it
 * changes from day to day and write latency follows it), and after each level the CPU each
 * process spent per operation (`/proc/<pid>/stat`: every member, the gateway, and this
 * load generator).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { type ClientTlsOptions, GrpcChannel, type IssuedFiles, ThrowawayCa, createClient, installLeanAsyncResourceBind, memberTlsFlags } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { describeDisk, probeDisk } from './disk-probe';
import { runLoad } from './load';
import { startCpuWindow, type WatchedProcess } from './process-cpu';
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
  /** Mutual TLS everywhere (clients, gateway, peers), with a throwaway CA. */
  tls: boolean;
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
  const args: BenchArgs = { targets: ['keyval'], clients: [1, 16, 64, 256], operations: 20_000, durationMs: 15_000, valueBytes: 256, endpoints: undefined, workload: 'put', leaseReads: false, gateway: false, warmupOperations: 20_000, connections: 1, tls: false };
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
      case '--tls':
        args.tls = true;
        break;
      default:
        throw new Error(`unknown flag ${flag} (flags: --target keyval|etcd|both --clients 1,16,64,256 --ops N --duration S --value-bytes N --workload put|get|mixed --endpoints a,b,c --lease-reads --gateway --warmup N --connections N --tls)`);
    }
  }
  return args;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

interface RunningCluster {
  endpoints: string[];
  /** The processes started (empty for --endpoints), named as their endpoints are in `names`. */
  processes: WatchedProcess[];
  /** Endpoint → process name. */
  names: Map<string, string>;
  stop(): Promise<void>;
}

/** --tls: a throwaway CA and certificates for the members, the gateway and the load's clients. */
interface BenchPki {
  readonly dir: string;
  readonly caFile: string;
  readonly files: Record<string, IssuedFiles>;
  /** What the load and the probes dial with: the client certificate, the CA. */
  readonly client: ClientTlsOptions;
}

async function makePki(): Promise<BenchPki> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-pki-'));
  const ca = await ThrowawayCa.create(dir);
  const files: Record<string, IssuedFiles> = {};
  for (const name of ['b1', 'b2', 'b3', 'gateway', 'client']) {
    files[name] = await ca.issue(name);
  }
  const client = files['client'] as IssuedFiles;
  const context = tls.createSecureContext({ ca: await fs.readFile(ca.caFile), cert: await fs.readFile(client.certFile), key: await fs.readFile(client.keyFile) });
  return { dir, caFile: ca.caFile, files, client: { secureContext: () => context } };
}

/** A member's TLS flags (the same for KeyVal and etcd), or none without --tls. */
function tlsFlagsOf(pki: BenchPki | undefined, name: string): string[] {
  const own = pki?.files[name];
  return pki === undefined || own === undefined ? [] : memberTlsFlags(pki.caFile, own);
}

async function startCluster(kind: 'keyval' | 'etcd', leaseReads: boolean, pki: BenchPki | undefined): Promise<RunningCluster> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `bench-${kind}-`));
  const members = await Promise.all(['b1', 'b2', 'b3'].map(async (name) => ({ name, client: await freePort(), peer: await freePort(), metrics: await freePort() })));
  const scheme = pki === undefined ? 'http' : 'https';
  const initial = members.map((m) => `${m.name}=${scheme}://127.0.0.1:${m.peer}`).join(',');
  const root = path.resolve(__dirname, '..', '..', '..');
  const children: ChildProcess[] = members.map((m) => {
    const common = [
      `--name=${m.name}`,
      `--data-dir=${path.join(dir, m.name)}`,
      `--listen-client-urls=${scheme}://127.0.0.1:${m.client}`,
      `--advertise-client-urls=${scheme}://127.0.0.1:${m.client}`,
      `--listen-peer-urls=${scheme}://127.0.0.1:${m.peer}`,
      `--initial-advertise-peer-urls=${scheme}://127.0.0.1:${m.peer}`,
      `--initial-cluster=${initial}`,
      '--initial-cluster-state=new',
      `--listen-metrics-urls=http://127.0.0.1:${m.metrics}`,
      // etcd 3.4's default, set for both: the systems snapshot equally often (KeyVal's own
      // default is 10,000; docs/benchmarks.md measures both).
      '--snapshot-count=100000',
      ...tlsFlagsOf(pki, m.name),
    ];
    const child =
      kind === 'keyval'
        ? spawn(process.execPath, ['--max-semi-space-size=16', '--initial-old-space-size=96', path.join(root, 'apps', 'keyval', 'dist', 'main.js'), ...common, '--log-level=warn', ...(leaseReads ? ['--lease-reads'] : [])], { stdio: ['ignore', 'ignore', 'inherit'] })
        : spawn('etcd', [...common, '--heartbeat-interval=30', '--election-timeout=150', '--log-level=error', '--logger=zap'], { stdio: ['ignore', 'ignore', 'inherit'] });
    return child;
  });
  const endpoints = members.map((m) => `${pki === undefined ? '' : 'https://'}127.0.0.1:${m.client}`);
  return {
    endpoints,
    processes: members.map((m, i) => ({ name: m.name, pid: children[i]?.pid ?? -1 })),
    names: new Map(members.map((m, i) => [endpoints[i] as string, m.name])),
    stop: async () => {
      await Promise.all(children.map((c) => new Promise<void>((resolve) => (c.exitCode !== null ? resolve() : (c.once('exit', () => resolve()), c.kill('SIGTERM'))))));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts the gateway in front of `endpoints`; its endpoint is ready once its Status (passed
 * through to the leader) names the leader, which findLeader waits for.
 */
async function startGateway(endpoints: readonly string[], pki: BenchPki | undefined): Promise<RunningCluster> {
  const root = path.resolve(__dirname, '..', '..', '..');
  const [client, metrics] = [await freePort(), await freePort()];
  const own = pki?.files['gateway'];
  const tlsFlags =
    pki === undefined || own === undefined
      ? []
      : [`--cert-file=${own.certFile}`, `--key-file=${own.keyFile}`, `--trusted-ca-file=${pki.caFile}`, '--client-cert-auth', `--cacert=${pki.caFile}`, `--cert=${own.certFile}`, `--key=${own.keyFile}`];
  const scheme = pki === undefined ? 'http' : 'https';
  const child = spawn(
    process.execPath,
    [path.join(root, 'apps', 'gateway', 'dist', 'main.js'), `--endpoints=${endpoints.join(',')}`, `--listen-client-urls=${scheme}://127.0.0.1:${client}`, `--listen-metrics-urls=http://127.0.0.1:${metrics}`, '--log-level=warn', ...tlsFlags],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return {
    endpoints: [`${pki === undefined ? '' : 'https://'}127.0.0.1:${client}`],
    processes: [{ name: 'gateway', pid: child.pid ?? -1 }],
    names: new Map([[`${pki === undefined ? '' : 'https://'}127.0.0.1:${client}`, 'gateway']]),
    stop: () => new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', () => resolve()), child.kill('SIGTERM')))),
  };
}

/** The endpoint whose member leads (Maintenance.Status), waiting up to 20 s for one. */
async function findLeader(endpoints: readonly string[], tlsOptions: ClientTlsOptions | undefined): Promise<string> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    for (const endpoint of endpoints) {
      const channel = new GrpcChannel(endpoint, { connectTimeoutMs: 500, tls: endpoint.startsWith('https://') ? tlsOptions : undefined });
      try {
        const st = await createClient(etcd.MaintenanceDefinition, channel).status({}, { timeoutMs: 500 });
        if (st.leader !== 0n && st.leader === st.header?.memberId) {
          return endpoint;
        }
      } catch {
        // not up yet
      } finally {
        channel.close();
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no leader among ${endpoints.join(', ')} within 20 s`);
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
  const pki = args.tls ? await makePki() : undefined;
  if (pki !== undefined) {
    process.stdout.write('mutual TLS on every connection (clients, gateway, peers), ECDSA P-256 certificates\n');
  }
  for (const target of args.endpoints === undefined ? args.targets : ['keyval' as const]) {
    const cluster: RunningCluster = args.endpoints === undefined ? await startCluster(target, args.leaseReads, pki) : { endpoints: args.endpoints, processes: [], names: new Map(), stop: async () => undefined };
    const gateway = args.gateway && target === 'keyval' ? await startGateway(cluster.endpoints, pki) : undefined;
    try {
      const leader = await findLeader(cluster.endpoints, pki?.client);
      const through = gateway === undefined ? undefined : await findLeader(gateway.endpoints, pki?.client);
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
          tls: endpoint.startsWith('https://') ? pki?.client : undefined,
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
  if (pki !== undefined) {
    await fs.rm(pki.dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
