/**
 * Helpers for the operations suites (membership, snapshots, kvctl), on top of the shared
 * harness: run the BUILT kvctl against test members, start members that join a running
 * cluster (or form a restored one) with flags of our choosing, and read a whole key space.
 *
 *     runKvctl(endpoints, ['member', 'add', 'n4', ...]) ─▶ { code, stdout, stderr }
 *     startExtraMember(cluster, 'n4', flags)             ─▶ TestMember (ports, data dir, log under cluster.dir)
 *     readAll(member)                                    ─▶ every key with value and revisions
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GrpcChannel, createClient } from '@keyval/grpc';
import type { ServiceClient } from '@keyval/grpc';
import { admin, etcd } from '@keyval/proto';
import { freePorts } from './harness/free-ports';
import { REPO_ROOT, TestMember } from './harness/member-process';
import { waitFor } from './harness/wait-for';

/** The built kvctl every test runs. */
export const KVCTL_MAIN = path.join(REPO_ROOT, 'apps', 'kvctl', 'dist', 'main.js');

export interface KvctlResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** kvctl's --timeout in these tests unless a test gives its own. */
const KVCTL_TIMEOUT = '30s';

/** Bytes of output kept per stream (a limit on everything). */
const OUTPUT_MAX = 8 * 1024 * 1024;

/** Runs `kvctl --endpoints=<endpoints> <args>` (never rejects for a non-zero exit). */
export function runKvctl(endpoints: readonly string[] | undefined, args: readonly string[], options: { env?: NodeJS.ProcessEnv; killAfterMs?: number } = {}): Promise<KvctlResult> {
  if (!fs.existsSync(KVCTL_MAIN)) {
    return Promise.reject(new Error(`${KVCTL_MAIN} does not exist: run \`npm run build\` first`));
  }
  const env = Object.fromEntries(Object.entries({ ...process.env, ...options.env }).filter(([k]) => options.env?.[k] !== undefined || !k.startsWith('KEYVAL_')));
  // A generous deadline by default (a loaded CI machine may be electing a leader); a test's
  // own --timeout comes later on the command line and wins.
  const argv = [KVCTL_MAIN, ...(endpoints === undefined ? [] : [`--endpoints=${endpoints.join(',')}`]), `--timeout=${KVCTL_TIMEOUT}`, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout = (stdout + s).slice(0, OUTPUT_MAX)));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(0, OUTPUT_MAX)));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 60_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs kvctl with `-o json` and returns the parsed output; throws (with the output) unless it exits 0. */
export async function kvctlJson<T>(endpoints: readonly string[], args: readonly string[]): Promise<T> {
  const r = await runKvctl(endpoints, ['-o', 'json', ...args]);
  if (r.code !== 0) {
    throw new Error(`kvctl ${args.join(' ')} exited ${String(r.code)}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return JSON.parse(r.stdout) as T;
}

/** Like runKvctl, but throws unless exit 0; returns stdout. */
export async function kvctlOk(endpoints: readonly string[], args: readonly string[]): Promise<string> {
  const r = await runKvctl(endpoints, args);
  if (r.code !== 0) {
    throw new Error(`kvctl ${args.join(' ')} exited ${String(r.code)}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return r.stdout;
}

/** What `kvctl member add -o json` prints. */
export interface MemberAddJson {
  member: { id: string; name: string; peerUrls: string[]; isLearner: boolean };
  clusterId: string;
  initialCluster: string;
  flags: string[];
}

/** What `kvctl status -o json` prints, per member. */
export interface StatusRowJson {
  name: string;
  id: string;
  endpoint?: string;
  isLeader: boolean;
  role: string;
  term?: number;
  commit?: number;
  applied?: number;
  lag?: number;
  dbBytes?: number;
  walBytes?: number;
  health: string;
  problems: string[];
}

/** Fresh loopback ports and paths (under the cluster's directory) for a member named `name`. */
export async function extraMemberSpec(dir: string, name: string): Promise<TestMember['spec']> {
  const [clientPort, peerPort, metricsPort] = (await freePorts(3)) as [number, number, number];
  return { name, clientPort, peerPort, metricsPort, dataDir: path.join(dir, name), logFile: path.join(dir, `${name}.log`) };
}

/**
 * A member started with exactly `flags` plus its own listeners and data dir (a member joining a
 * running cluster with the flags `kvctl member add` printed, or a restored one). Not part of
 * `cluster.members`: stop it yourself (or let the harness kill it when the test process ends).
 */
export function extraMember(spec: TestMember['spec'], flags: readonly string[]): TestMember {
  return new TestMember(spec, (m) => [
    `--data-dir=${m.spec.dataDir}`,
    `--listen-client-urls=${m.clientUrl}`,
    `--advertise-client-urls=${m.clientUrl}`,
    `--listen-metrics-urls=${m.metricsUrl}`,
    ...flags,
  ]);
}

/** Starts an extra member (see extraMember) and waits until it is ready. */
export async function startExtraMember(spec: TestMember['spec'], flags: readonly string[], timeoutMs = 60_000): Promise<TestMember> {
  const member = extraMember(spec, flags);
  member.start();
  await member.waitReady(timeoutMs);
  return member;
}

/** One key as read back, for comparing two clusters. */
export interface KeyRecord {
  readonly value: string;
  readonly createRevision: bigint;
  readonly modRevision: bigint;
  readonly version: bigint;
}

/** Most keys readAll returns (a limit on everything). */
const READ_ALL_MAX = 2_000_000;

/**
 * Every key of `endpoint` (linearizable unless serializable), in pages of 10,000, and the
 * revision of the last page. KeyVal keeps only the latest version of each key (no reads at a
 * past revision), so call it while nothing writes.
 */
export async function readAll(endpoint: string, options: { serializable?: boolean } = {}): Promise<{ revision: bigint; keys: Map<string, KeyRecord> }> {
  const channel = new GrpcChannel(endpoint, { maxReceiveMessageBytes: 64 << 20 });
  try {
    const kv = createClient(etcd.KVDefinition, channel);
    const keys = new Map<string, KeyRecord>();
    let from = Buffer.from([0]);
    let revision = 0n;
    for (;;) {
      const r = await kv.range(etcd.RangeRequest.fromPartial({ key: from, rangeEnd: Buffer.from([0]), limit: 10_000n, serializable: options.serializable ?? false }), { timeoutMs: 30_000 });
      revision = r.header?.revision ?? 0n;
      for (const x of r.kvs) keys.set(x.key.toString('utf8'), { value: x.value.toString('utf8'), createRevision: x.createRevision, modRevision: x.modRevision, version: x.version });
      const last = r.kvs[r.kvs.length - 1];
      if (!r.more || last === undefined || keys.size >= READ_ALL_MAX) break;
      from = Buffer.concat([last.key, Buffer.from([0])]);
    }
    return { revision, keys };
  } finally {
    channel.close();
  }
}

/** The Admin client of a member (on the harness's shared channel). */
export function adminOf(member: TestMember): ServiceClient<typeof admin.AdminDefinition> {
  return createClient(admin.AdminDefinition, member.grpcChannel());
}

/** Waits until `member` lists `name` as a voter (not a learner). */
export async function waitVoter(member: TestMember, name: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () => {
      const list = await adminOf(member).memberList({ serializable: false }, { timeoutMs: 2_000 });
      const m = list.members.find((x) => x.name === name);
      return m !== undefined && !m.isLearner;
    },
    { timeoutMs, what: `${name} to be a voter`, intervalMs: 200 },
  );
}

/** Whether `member`'s log has a record whose message matches `pattern`. */
export function logged(member: TestMember, pattern: RegExp): boolean {
  return member.logRecords().some((r) => pattern.test(r.msg));
}

/** Puts `count` keys `<prefix>/<n>` (n zero-padded) through `member`, `concurrency` at a time. */
export async function putMany(member: TestMember, prefix: string, count: number, concurrency = 64): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let n = next++; n < count; n = next++) {
      await member.kv().put(etcd.PutRequest.fromPartial({ key: Buffer.from(`${prefix}/${String(n).padStart(7, '0')}`), value: Buffer.from(`value-${n}`) }), { timeoutMs: 30_000 });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
