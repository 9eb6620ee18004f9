/**
 * A real etcd 3.4 cluster (Debian's `etcd-server`) on loopback, for tests that compare KeyVal
 * with etcd itself (metric names, types, labels, buckets). Members on free ports, data under
 * a temporary directory, `--metrics extensive` (etcd then also exports
 * grpc_server_handling_seconds), killed and removed by close().
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findOnPath } from './etcdctl';
import { freePorts } from './free-ports';
import { httpGet } from './http-get';
import { waitFor } from './wait-for';

/** etcd is not installed: the comparison tests need it (CI installs it, see .ci/run). */
export class EtcdMissingError extends Error {
  constructor() {
    super('etcd is not on the PATH: install it with `apt-get install etcd-server` (etcd 3.4); the metrics comparison needs a real etcd');
    this.name = 'EtcdMissingError';
  }
}


export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly endpoint: string;
  process: ChildProcess | undefined;
}

export class EtcdCluster {
  private constructor(
    readonly dir: string,
    readonly members: EtcdMember[],
  ) {}

  /** Starts `size` members (each with `extraFlags`, e.g. a quota) and waits until each answers /health with a leader. */
  static async start(size = 3, extraFlags: readonly string[] = []): Promise<EtcdCluster> {
    const bin = findOnPath('etcd');
    if (bin === undefined) throw new EtcdMissingError();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyval-etcd-'));
    const ports = await freePorts(2 * size);
    const specs = Array.from({ length: size }, (_, i) => ({ name: `e${i + 1}`, client: ports[2 * i] as number, peer: ports[2 * i + 1] as number }));
    const initial = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(',');
    const members: EtcdMember[] = specs.map((s) => {
      const log = fs.openSync(path.join(dir, `${s.name}.log`), 'a');
      const child = spawn(
        bin,
        [
          `--name=${s.name}`,
          `--data-dir=${path.join(dir, s.name)}`,
          `--listen-client-urls=http://127.0.0.1:${s.client}`,
          `--advertise-client-urls=http://127.0.0.1:${s.client}`,
          `--listen-peer-urls=http://127.0.0.1:${s.peer}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${s.peer}`,
          `--initial-cluster=${initial}`,
          `--initial-cluster-token=keyval-it-${path.basename(dir)}`,
          '--metrics=extensive',
          '--logger=zap',
          ...extraFlags,
        ],
        { stdio: ['ignore', log, log] },
      );
      fs.closeSync(log);
      return { name: s.name, clientUrl: `http://127.0.0.1:${s.client}`, endpoint: `127.0.0.1:${s.client}`, process: child };
    });
    const cluster = new EtcdCluster(dir, members);
    try {
      await Promise.all(
        members.map((m) =>
          waitFor(async () => (await httpGet(`${m.clientUrl}/health`)).body.includes('"true"') || undefined, { timeoutMs: 30_000, what: `etcd ${m.name} healthy`, intervalMs: 50 }),
        ),
      );
    } catch (error) {
      await cluster.close();
      throw error;
    }
    return cluster;
  }

  /** The member reporting etcd_server_is_leader 1. */
  async leader(): Promise<EtcdMember> {
    return waitFor(
      async () => {
        for (const m of this.members.filter((x) => x.process !== undefined)) {
          if (/^etcd_server_is_leader 1$/m.test((await httpGet(`${m.clientUrl}/metrics`)).body)) return m;
        }
        return undefined;
      },
      { timeoutMs: 10_000, what: 'an etcd leader' },
    );
  }

  /** SIGKILLs one member and waits for its exit. */
  async kill(member: EtcdMember): Promise<void> {
    const child = member.process;
    member.process = undefined;
    if (child === undefined || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill(m)));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
