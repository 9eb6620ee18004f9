/**
 * Local clusters for the benchmarks: KeyVal members (or etcd members) on loopback ports in a
 * temporary directory, the gateway in front of them, and finding the leader. Each process is
 * named and its pid kept, so a benchmark can account for the CPU it spends.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { type ClientTlsOptions, GrpcChannel, type IssuedFiles, ThrowawayCa, createClient, memberTlsFlags } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import type { WatchedProcess } from './process-cpu';

/**
 * `--tls`: a throwaway CA (ECDSA P-256) and a certificate for each member, the gateway and the
 * load's clients, issued as they are first asked for; the same etcd flags for KeyVal and etcd.
 */

/**
 * Extra Node flags for every KeyVal member a bench starts, from KEYVAL_BENCH_NODE_ARGS
 * (space-separated), e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the members.
 */
function memberNodeArgs(): string[] {
  return (process.env['KEYVAL_BENCH_NODE_ARGS'] ?? '').split(' ').filter((a) => a.length > 0);
}

export class BenchPki {
  private readonly issued = new Map<string, Promise<IssuedFiles>>();

  private constructor(
    readonly dir: string,
    private readonly ca: ThrowawayCa,
    /** What the load and the probes dial with: the client certificate, the CA. */
    readonly client: ClientTlsOptions,
  ) {}

  static async create(): Promise<BenchPki> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-pki-'));
    const ca = await ThrowawayCa.create(dir);
    const client = await ca.issue('client');
    const context = tls.createSecureContext({ ca: await fs.readFile(ca.caFile), cert: await fs.readFile(client.certFile), key: await fs.readFile(client.keyFile) });
    return new BenchPki(dir, ca, { secureContext: () => context });
  }

  get caFile(): string {
    return this.ca.caFile;
  }

  /** `name`'s certificate and key (issued once). */
  files(name: string): Promise<IssuedFiles> {
    let files = this.issued.get(name);
    if (files === undefined) {
      files = this.ca.issue(name);
      this.issued.set(name, files);
    }
    return files;
  }

  /** The channel TLS for `endpoint` (https:// only). */
  tlsFor(endpoint: string): ClientTlsOptions | undefined {
    return endpoint.startsWith('https://') ? this.client : undefined;
  }

  async remove(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

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
  readonly endpoints: string[];
  /** The processes started (none for a cluster given by endpoints). */
  readonly processes: WatchedProcess[];
  /** Endpoint → process name. */
  readonly names: Map<string, string>;
  stop(): Promise<void>;
}

/** A local cluster this process started: its members can be restarted and new ones added. */
export interface LocalCluster extends RunningCluster {
  readonly kind: 'keyval' | 'etcd';
  /** Stops member `name` (SIGTERM, waiting for it to exit) and starts it again on its data. */
  restart(name: string): Promise<void>;
  /** Adds member `name` (etcd's MemberAdd at `via`, then starts it with the existing cluster's flags); returns its endpoint. */
  addMember(name: string, via: string): Promise<string>;
  /** The member's pid (undefined once it stopped). */
  pidOf(name: string): number | undefined;
  /** The /metrics URL of the member serving clients at `endpoint`. */
  metricsUrlOf(endpoint: string): string | undefined;
}

export interface ClusterOptions {
  /** Members, 1 or more (3 by default). */
  readonly members?: number;
  /** KeyVal's --lease-reads. */
  readonly leaseReads?: boolean;
  /** --snapshot-count for both systems (100,000 by default: etcd 3.4's). */
  readonly snapshotCount?: number;
  /** Mutual TLS on the client and peer ports (https:// URLs). */
  readonly pki?: BenchPki;
}

const stopChild = (c: ChildProcess): Promise<void> => new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : (c.once('exit', () => resolve()), c.kill('SIGTERM'))));

interface MemberSpec {
  readonly name: string;
  readonly client: number;
  readonly peer: number;
  readonly metrics: number;
}

const newSpec = async (name: string): Promise<MemberSpec> => ({ name, client: await freePort(), peer: await freePort(), metrics: await freePort() });

export async function startCluster(kind: 'keyval' | 'etcd', options: ClusterOptions = {}): Promise<LocalCluster> {
  const size = options.members ?? 3;
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new Error(`a cluster has at least one member, not ${size}`);
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `bench-${kind}-`));
  const specs = await Promise.all(Array.from({ length: size }, (_, i) => newSpec(`b${i + 1}`)));
  const pki = options.pki;
  const scheme = pki === undefined ? 'http' : 'https';
  const endpointOf = (m: MemberSpec): string => `${pki === undefined ? '' : 'https://'}127.0.0.1:${m.client}`;
  const tlsFlags = new Map<string, string[]>();
  const issue = async (m: MemberSpec): Promise<void> => {
    if (pki !== undefined) tlsFlags.set(m.name, memberTlsFlags(pki.caFile, await pki.files(m.name)));
  };
  for (const m of specs) await issue(m);
  const root = path.resolve(__dirname, '..', '..', '..');
  const children = new Map<string, ChildProcess>();
  const flags = new Map<string, string[]>();
  const spawnMember = (m: MemberSpec, initial: string, state: 'new' | 'existing'): ChildProcess => {
    const common = [
      `--name=${m.name}`,
      `--data-dir=${path.join(dir, m.name)}`,
      `--listen-client-urls=${scheme}://127.0.0.1:${m.client}`,
      `--advertise-client-urls=${scheme}://127.0.0.1:${m.client}`,
      `--listen-peer-urls=${scheme}://127.0.0.1:${m.peer}`,
      `--initial-advertise-peer-urls=${scheme}://127.0.0.1:${m.peer}`,
      `--initial-cluster=${initial}`,
      `--initial-cluster-state=${state}`,
      `--listen-metrics-urls=http://127.0.0.1:${m.metrics}`,
      // etcd 3.4's default, set for both: the systems snapshot equally often (KeyVal's own
      // default is 10,000; docs/benchmarks.md measures both).
      `--snapshot-count=${options.snapshotCount ?? 100_000}`,
      ...(tlsFlags.get(m.name) ?? []),
    ];
    const child =
      kind === 'keyval'
        ? spawn(process.execPath, ['--max-semi-space-size=16', '--initial-old-space-size=96', ...memberNodeArgs(), path.join(root, 'apps', 'keyval', 'dist', 'main.js'), ...common, '--log-level=warn', ...(options.leaseReads === true ? ['--lease-reads'] : [])], { stdio: ['ignore', 'ignore', 'inherit'] })
        : spawn('etcd', [...common, '--heartbeat-interval=30', '--election-timeout=150', '--log-level=error', '--logger=zap'], { stdio: ['ignore', 'ignore', 'inherit'] });
    children.set(m.name, child);
    flags.set(m.name, [initial, state]);
    return child;
  };
  const initial = specs.map((m) => `${m.name}=${scheme}://127.0.0.1:${m.peer}`).join(',');
  const started = specs.map((m) => spawnMember(m, initial, 'new'));
  if (started.some((c) => c.pid === undefined)) {
    await Promise.all(started.map(stopChild));
    throw new Error(`could not start ${kind === 'keyval' ? 'a KeyVal member' : 'etcd (is etcd-server installed?)'}`);
  }
  const endpoints = specs.map(endpointOf);
  const specOf = (name: string): MemberSpec => {
    const spec = specs.find((m) => m.name === name);
    if (spec === undefined) throw new Error(`no member named ${name}`);
    return spec;
  };
  return {
    kind,
    endpoints,
    processes: specs.map((m) => ({ name: m.name, pid: children.get(m.name)?.pid as number })),
    names: new Map(specs.map((m) => [endpointOf(m), m.name])),
    metricsUrlOf: (endpoint) => {
      const spec = specs.find((m) => endpointOf(m) === endpoint);
      return spec === undefined ? undefined : `http://127.0.0.1:${spec.metrics}/metrics`;
    },
    pidOf: (name) => {
      const c = children.get(name);
      return c === undefined || c.exitCode !== null || c.signalCode !== null ? undefined : c.pid;
    },
    restart: async (name) => {
      const spec = specOf(name);
      const child = children.get(name);
      if (child !== undefined) await stopChild(child);
      const [init, state] = flags.get(name) as [string, 'new' | 'existing'];
      spawnMember(spec, init, state);
    },
    addMember: async (name, via) => {
      const spec = await newSpec(name);
      const peerUrl = `${scheme}://127.0.0.1:${spec.peer}`;
      await issue(spec);
      const channel = new GrpcChannel(via, { tls: pki?.tlsFor(via) });
      try {
        const added = await createClient(etcd.ClusterDefinition, channel).memberAdd({ peerURLs: [peerUrl], isLearner: false }, { timeoutMs: 10_000 });
        const all = added.members.map((m) => `${m.name === '' ? name : m.name}=${m.peerURLs[0] ?? ''}`).join(',');
        specs.push(spec);
        endpoints.push(endpointOf(spec));
        spawnMember(spec, all, 'existing');
        return endpointOf(spec);
      } finally {
        channel.close();
      }
    },
    stop: async () => {
      await Promise.all([...children.values()].map(stopChild));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts the gateway in front of `endpoints`; its endpoint is ready once its Status (passed
 * through to the leader) names the leader, which findLeader waits for.
 */
export async function startGateway(endpoints: readonly string[], pki?: BenchPki): Promise<RunningCluster> {
  const root = path.resolve(__dirname, '..', '..', '..');
  const [client, metrics] = [await freePort(), await freePort()];
  const own = pki === undefined ? undefined : await pki.files('gateway');
  // With --tls the gateway serves mutual TLS and dials the members with its own certificate.
  const tlsFlags =
    pki === undefined || own === undefined
      ? []
      : [`--cert-file=${own.certFile}`, `--key-file=${own.keyFile}`, `--trusted-ca-file=${pki.caFile}`, '--client-cert-auth', `--cacert=${pki.caFile}`, `--cert=${own.certFile}`, `--key=${own.keyFile}`];
  const child = spawn(
    process.execPath,
    [path.join(root, 'apps', 'gateway', 'dist', 'main.js'), `--endpoints=${endpoints.join(',')}`, `--listen-client-urls=${pki === undefined ? 'http' : 'https'}://127.0.0.1:${client}`, `--listen-metrics-urls=http://127.0.0.1:${metrics}`, '--log-level=warn', ...tlsFlags],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const endpoint = `${pki === undefined ? '' : 'https://'}127.0.0.1:${client}`;
  return {
    endpoints: [endpoint],
    processes: child.pid === undefined ? [] : [{ name: 'gateway', pid: child.pid }],
    names: new Map([[endpoint, 'gateway']]),
    stop: () => stopChild(child),
  };
}

/** The endpoint whose member leads (Maintenance.Status), waiting up to 20 s for one. */
/** Maintenance.Status of the member at `endpoint`, on a channel of its own. */
export async function memberStatus(endpoint: string, timeoutMs: number, pki?: BenchPki): Promise<etcd.StatusResponse> {
  const channel = new GrpcChannel(endpoint, { connectTimeoutMs: timeoutMs, tls: pki?.tlsFor(endpoint) });
  try {
    return await createClient(etcd.MaintenanceDefinition, channel).status({}, { timeoutMs });
  } finally {
    channel.close();
  }
}

export async function findLeader(endpoints: readonly string[], pki?: BenchPki): Promise<string> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    for (const endpoint of endpoints) {
      try {
        const st = await memberStatus(endpoint, 500, pki);
        if (st.leader !== 0n && st.leader === st.header?.memberId) {
          return endpoint;
        }
      } catch {
        // not up yet
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no leader among ${endpoints.join(', ')} within 20 s`);
}
