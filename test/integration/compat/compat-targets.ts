/**
 * The targets of the compatibility suite and the normalisation of what they answer. The same
 * case runs against each target in its own namespace (a key prefix); its transcript (outputs,
 * answers, error codes and texts) is normalised so that only what legitimately differs
 * between two stores is hidden:
 *
 * - the namespace (each run has its own)                      → `NS`
 * - lease ids (picked by each server; hex in text, decimal in JSON, inside lock/election keys)
 *                                                             → `LEASE1`, `LEASE2`… in order of appearance
 * - revisions (the stores' histories differ before a case)    → offsets from the case's first revision
 * - cluster_id, member_id, raft_term (ids and terms of each cluster) → removed
 *
 * Everything else — values, counts, versions, flags, texts, exit codes — must be identical.
 */
import { spawn } from 'node:child_process';
import { GrpcChannel } from '@keyval/grpc';
import { findEtcdctl } from '../harness/etcdctl';
import { waitFor } from '../harness/wait-for';

export interface CompatTarget {
  readonly name: string;
  /** host:port */
  readonly endpoint: string;
  channel(): GrpcChannel;
}

/** A target from an endpoint; its channel is made on first use and closed by `closeTargets`. */
export function target(name: string, endpoint: () => string): CompatTarget & { close(): void } {
  let channel: GrpcChannel | undefined;
  return {
    name,
    get endpoint() {
      return endpoint();
    },
    channel: () => (channel ??= new GrpcChannel(`http://${endpoint()}`, { connectTimeoutMs: 2_000 })),
    close: () => channel?.close(),
  };
}

/** What a case saw, normalised (see the module comment). */
export class Transcript {
  readonly entries: Array<[string, unknown]> = [];
  private readonly leases = new Map<string, string>();
  /** The store revision the case's offsets are taken from. */
  base = 0;

  constructor(readonly ns: string) {}

  /** Registers a lease id (bigint, decimal or hex text) so every form of it is normalised. */
  lease(id: bigint | string): string {
    const value = typeof id === 'bigint' ? id : /^[0-9]+$/.test(id) ? BigInt(id) : BigInt(`0x${id}`);
    const known = this.leases.get(value.toString(16));
    if (known !== undefined) return known;
    const name = `LEASE${this.leases.size + 1}`;
    this.leases.set(value.toString(16), name);
    return name;
  }

  /** Records `value` under `label`, normalised. */
  log(label: string, value: unknown): void {
    const named = this.text(label).replace(/(--rev=|compaction )(\d+)/g, (_m, flag: string, rev: string) => `${flag}REV+${this.rev(rev)}`);
    this.entries.push([named, this.normalise(value)]);
  }

  /** A revision relative to the case's base. */
  rev(revision: number | bigint | string): number {
    return Number(revision) - this.base;
  }

  /** The absolute revision of an offset. */
  at(offset: number): number {
    return this.base + offset;
  }

  normalise(value: unknown, key = ''): unknown {
    if (typeof value === 'string' && /^(key|value|range_end|keys)$/.test(key)) return this.text(Buffer.from(value, 'base64').toString('utf8'));
    const numeric = typeof value === 'string' && /^[0-9]+$/.test(value);
    if (typeof value === 'string' && !numeric) return this.text(value);
    if (typeof value === 'bigint' || typeof value === 'number' || numeric) {
      if (/revision$|^rev$/i.test(key) && Number(value) > 0) return `REV+${this.rev(value as number | bigint | string)}`;
      if (/^(ID|lease)$/.test(key) && Number(value) > 0) return this.lease(BigInt(value as number | bigint | string));
      return typeof value === 'bigint' ? value.toString() : value;
    }
    if (value instanceof Uint8Array) return this.text(Buffer.from(value).toString('utf8'));
    if (Array.isArray(value)) return value.map((v) => this.normalise(v, key));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (/^(cluster_id|member_id|raft_term|clusterId|memberId|raftTerm)$/.test(k)) continue;
        out[k] = this.normalise(v, k);
      }
      return out;
    }
    return value;
  }

  private text(text: string): string {
    // etcdctl's client logs its retries on stderr (times, client ids): only its verdict counts.
    let out = text
      .split('\n')
      .filter((line) => !line.startsWith('{"level"'))
      .join('\n')
      .split(this.ns)
      .join('NS');
    out = out.replace(/(compacted revision )(\d+)/g, (_m, p: string, rev: string) => `${p}REV+${this.rev(rev)}`);
    for (const [hex, name] of this.leases) {
      // etcdctl prints lease ids with %016x: leading zeros belong to the id (0x0abc… is 0abc…).
      out = out.replace(new RegExp(`0*${hex}`, 'g'), name).split(BigInt(`0x${hex}`).toString()).join(name);
    }
    // Lease ids inside lock and election keys (NS/name/<hex>) and in etcdctl's lease lines.
    out = out.replace(/(NS[^\s"]*\/)([0-9a-f]{8,16})\b/g, (_m, p: string, hex: string) => `${p}${this.lease(hex)}`);
    out = out.replace(/\blease ([0-9a-f]{8,16})\b/g, (_m, hex: string) => `lease ${this.lease(hex)}`);
    return out;
  }
}

/** Runs etcdctl against `endpoint` until `done(stdout)` holds, then kills it; resolves with its output. */
export async function etcdctlUntil(endpoint: string, args: readonly string[], done: (stdout: string) => boolean, what: string, timeoutMs = 10_000): Promise<string> {
  const running = startEtcdctl(endpoint, args);
  try {
    await waitFor(() => done(running.stdout()), { timeoutMs, what: `${what} (stdout so far: ${JSON.stringify(running.stdout())}, stderr: ${JSON.stringify(running.stderr())})` });
    return running.stdout();
  } finally {
    await running.kill('SIGKILL');
  }
}

export interface RunningEtcdctl {
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Starts etcdctl (it may run until killed: lock, elect, watch). */
export function startEtcdctl(endpoint: string, args: readonly string[]): RunningEtcdctl {
  const bin = findEtcdctl();
  if (bin === undefined) throw new Error('etcdctl is not on the PATH (apt-get install etcd-client)');
  const child = spawn(bin, [`--endpoints=${endpoint}`, '--dial-timeout=2s', ...args], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
