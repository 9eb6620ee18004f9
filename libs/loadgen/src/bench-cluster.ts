/**
 * Local clusters for the benchmarks: three KeyVal members (or etcd members) on loopback
 * ports in a temporary directory, the gateway in front of them, and finding the leader.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { GrpcChannel, createClient } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import type { WatchedProcess } from './process-cpu';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export interface RunningCluster {
  endpoints: string[];
  /** The processes started (empty for --endpoints), named as their endpoints are in `names`. */
  processes: WatchedProcess[];
  /** Endpoint → process name. */
  names: Map<string, string>;
  stop(): Promise<void>;
}

export async function startCluster(kind: 'keyval' | 'etcd', leaseReads: boolean): Promise<RunningCluster> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `bench-${kind}-`));
  const members = await Promise.all(['b1', 'b2', 'b3'].map(async (name) => ({ name, client: await freePort(), peer: await freePort(), metrics: await freePort() })));
  const initial = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  const root = path.resolve(__dirname, '..', '..', '..');
  const children: ChildProcess[] = members.map((m) => {
    const common = [
      `--name=${m.name}`,
      `--data-dir=${path.join(dir, m.name)}`,
      `--listen-client-urls=http://127.0.0.1:${m.client}`,
      `--advertise-client-urls=http://127.0.0.1:${m.client}`,
      `--listen-peer-urls=http://127.0.0.1:${m.peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${m.peer}`,
      `--initial-cluster=${initial}`,
      '--initial-cluster-state=new',
      `--listen-metrics-urls=http://127.0.0.1:${m.metrics}`,
      // etcd 3.4's default, set for both: the systems snapshot equally often (KeyVal's own
      // default is 10,000; docs/benchmarks.md measures both).
      '--snapshot-count=100000',
    ];
    const child =
      kind === 'keyval'
        ? spawn(process.execPath, ['--max-semi-space-size=16', '--initial-old-space-size=96', path.join(root, 'apps', 'keyval', 'dist', 'main.js'), ...common, '--log-level=warn', ...(leaseReads ? ['--lease-reads'] : [])], { stdio: ['ignore', 'ignore', 'inherit'] })
        : spawn('etcd', [...common, '--heartbeat-interval=30', '--election-timeout=150', '--log-level=error', '--logger=zap'], { stdio: ['ignore', 'ignore', 'inherit'] });
    return child;
  });
  const endpoints = members.map((m) => `127.0.0.1:${m.client}`);
  return {
    endpoints,
    processes: members.map((m, i) => ({ name: m.name, pid: children[i]?.pid ?? -1 })),
    names: new Map(members.map((m) => [`127.0.0.1:${m.client}`, m.name])),
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
export async function startGateway(endpoints: readonly string[]): Promise<RunningCluster> {
  const root = path.resolve(__dirname, '..', '..', '..');
  const [client, metrics] = [await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    [path.join(root, 'apps', 'gateway', 'dist', 'main.js'), `--endpoints=${endpoints.join(',')}`, `--listen-client-urls=http://127.0.0.1:${client}`, `--listen-metrics-urls=http://127.0.0.1:${metrics}`, '--log-level=warn'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return {
    endpoints: [`127.0.0.1:${client}`],
    processes: [{ name: 'gateway', pid: child.pid ?? -1 }],
    names: new Map([[`127.0.0.1:${client}`, 'gateway']]),
    stop: () => new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', () => resolve()), child.kill('SIGTERM')))),
  };
}

/** The endpoint whose member leads (Maintenance.Status), waiting up to 20 s for one. */
export async function findLeader(endpoints: readonly string[]): Promise<string> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    for (const endpoint of endpoints) {
      const channel = new GrpcChannel(endpoint, { connectTimeoutMs: 500 });
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

