/**
 * A KeyVal cluster of real member processes on loopback for the integration tests: N members
 * on free ephemeral ports with data under one temporary directory, started from the built
 * app, waited for through /readyz, with helpers to find the leader (Maintenance.Status),
 * kill, stop and restart members, and a close() that always kills every process and removes
 * the directory. See test/integration/README.md.
 *
 *     TestCluster.start({ size: 3 })
 *        ├─ freePorts(3 per member) ─▶ TestMember(spec) × N
 *        ├─ spawn `node apps/keyval/dist/main.js --name n1 ... --initial-cluster n1=...,n2=...`
 *        └─ waitReady: every member's /readyz answers 200
 *     cluster.leader()  ─▶ Status of every running member agrees on one running leader
 *     cluster.close()   ─▶ SIGKILL what runs, wait for the exits, rm -rf the directory
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePorts } from './free-ports';
import { TestMember, requireBuiltApp } from './member-process';
import { waitFor } from './wait-for';

export interface ClusterOptions {
  /** Members (default 3; at most 9). */
  readonly size?: number;
  /** Leader heartbeat interval, ms (default: the app's, 50). */
  readonly heartbeatMs?: number;
  /** Election timeout, ms (default: the app's, 150). */
  readonly electionMs?: number;
  /** Flags added for one member (by name and index), e.g. a low --max-request-bytes. */
  readonly memberFlags?: (name: string, index: number) => string[];
  /** Wait until every member is ready (default true). */
  readonly waitReady?: boolean;
  /** How long start() waits for readiness, ms (default 30 s: a loaded CI machine is slow). */
  readonly startTimeoutMs?: number;
  /**
   * Also pass `--listen-metrics-urls` (the member's metrics port) — default false: the client
   * URL serves the same endpoints, as etcd's does.
   */
  readonly metricsListener?: boolean;
  /** Environment variables for every member (e.g. OTEL_* to trace them). */
  readonly env?: Record<string, string>;
}

/** Most members one test cluster may have. */
export const CLUSTER_SIZE_MAX = 9;

/** Set KEYVAL_IT_KEEP=1 to keep the data dirs and logs of the test clusters for inspection. */
const KEEP = process.env['KEYVAL_IT_KEEP'] === '1';

export class TestCluster {
  private closed = false;

  private constructor(
    /** The temporary directory holding every member's data dir and log. */
    readonly dir: string,
    readonly members: readonly TestMember[],
    /** When start() spawned the members (performance.now()). */
    readonly spawnedAtMs: number,
  ) {}

  /**
   * Allocates ports and directories and starts every member; unless `waitReady` is false,
   * resolves once all are ready. On any failure it kills what it started, removes the
   * directory and throws with the members' log tails in the message.
   */
  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    requireBuiltApp();
    const size = options.size ?? 3;
    if (!Number.isInteger(size) || size < 1 || size > CLUSTER_SIZE_MAX) {
      throw new RangeError(`TestCluster: size must be 1..${CLUSTER_SIZE_MAX}, got ${size}`);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyval-it-'));
    const ports = await freePorts(3 * size);
    const specs = Array.from({ length: size }, (_, i) => {
      const name = `n${i + 1}`;
      const [clientPort, peerPort, metricsPort] = ports.slice(3 * i, 3 * i + 3) as [number, number, number];
      return { name, clientPort, peerPort, metricsPort, dataDir: path.join(dir, name), logFile: path.join(dir, `${name}.log`) };
    });
    const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
    const token = `keyval-it-${path.basename(dir)}`;
    const base = (m: TestMember): string[] => [
      `--name=${m.name}`,
      `--data-dir=${m.spec.dataDir}`,
      `--listen-client-urls=${m.clientUrl}`,
      `--advertise-client-urls=${m.clientUrl}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      ...(options.metricsListener === true ? [`--listen-metrics-urls=${m.metricsUrl}`] : []),
      `--initial-cluster=${initialCluster}`,
      '--initial-cluster-state=new',
      `--initial-cluster-token=${token}`,
      ...(options.heartbeatMs === undefined ? [] : [`--heartbeat-interval=${options.heartbeatMs}`]),
      ...(options.electionMs === undefined ? [] : [`--election-timeout=${options.electionMs}`]),
    ];
    const members = specs.map((spec, i) => {
      const member = new TestMember(spec, base);
      member.extraFlags = options.memberFlags?.(spec.name, i) ?? [];
      member.extraEnv = { ...options.env };
      return member;
    });
    const spawnedAtMs = performance.now();
    const cluster = new TestCluster(dir, members, spawnedAtMs);
    try {
      for (const m of members) {
        m.start();
      }
      if (options.waitReady ?? true) {
        await cluster.waitReady(members, options.startTimeoutMs ?? 30_000);
      }
    } catch (error) {
      const logs = cluster.logTails();
      await cluster.close();
      throw annotate(error, logs);
    }
    return cluster;
  }

  /** The member called `name` (n1, n2, ...). */
  member(name: string): TestMember {
    const m = this.members.find((x) => x.name === name);
    if (m === undefined) {
      throw new Error(`no member ${name} in this cluster (${this.members.map((x) => x.name).join(', ')})`);
    }
    return m;
  }

  running(): TestMember[] {
    return this.members.filter((m) => m.running);
  }

  /** host:port client endpoints of the running members. */
  endpoints(): string[] {
    return this.running().map((m) => m.endpoint);
  }

  /** Waits until each of `members` (default: the running ones) answers /readyz 200. */
  async waitReady(members: readonly TestMember[] = this.running(), timeoutMs = 30_000): Promise<void> {
    await Promise.all(members.map((m) => m.waitReady(timeoutMs)));
  }

  /**
   * The leader every running member (or every member of `among`) agrees on right now, or
   * undefined (no leader, disagreement, a member not answering, or a leader not running).
   */
  async agreedLeader(among: readonly TestMember[] = this.running()): Promise<TestMember | undefined> {
    const answers = await Promise.all(among.map((m) => m.status(1_000).catch(() => undefined)));
    const leaders = new Set(answers.map((a) => a?.leader));
    const [leader] = [...leaders];
    if (answers.includes(undefined) || leaders.size !== 1 || leader === undefined || leader === 0n) {
      return undefined;
    }
    return among.find((m) => m.id === leader && m.running);
  }

  /** Waits for a leader every running member (or `among`) agrees on. */
  async leader(timeoutMs = 10_000, among?: readonly TestMember[]): Promise<TestMember> {
    return waitFor(() => this.agreedLeader(among ?? this.running()), { timeoutMs, what: 'an agreed leader', intervalMs: 20 });
  }

  /** Starts a stopped member again with the same flags (on its data dir) and waits until it is ready. */
  async restart(member: TestMember, timeoutMs = 30_000): Promise<void> {
    if (member.running) {
      throw new Error(`member ${member.name} is still running; stop it first`);
    }
    member.start();
    await member.waitReady(timeoutMs);
  }

  /**
   * Restarts every member that is not running (e.g. one an earlier test killed, even if that
   * test failed halfway) and waits until all are ready, so each test starts from a whole cluster.
   */
  async ensureAllRunning(timeoutMs = 30_000): Promise<void> {
    const stopped = this.members.filter((m) => !m.running);
    for (const m of stopped) {
      m.start();
    }
    await this.waitReady(this.members, timeoutMs);
  }

  /** The running members other than `leader`. */
  followersOf(leader: TestMember): TestMember[] {
    return this.running().filter((m) => m !== leader);
  }

  /** The members' log tails, one block each, for failure messages. */
  logTails(lines = 25): string {
    return this.members.map((m) => `----- ${m.name} (${m.spec.logFile}) -----\n${m.logTail(lines)}`).join('\n');
  }

  /**
   * Wraps a test body so a failure's message carries the members' log tails.
   * Use as `it('...', cluster.explained(async () => { ... }))` or with `explain()` below.
   */
  explained(body: () => Promise<void>): () => Promise<void> {
    return explain(() => this, body);
  }

  /** Kills every running member (SIGKILL), waits for the exits, removes the directory. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    await Promise.all(this.members.map((m) => m.stop('SIGKILL', 10_000).catch(() => undefined)));
    for (const m of this.members) {
      m.closeChannel();
    }
    if (KEEP) {
      process.stderr.write(`keyval integration: kept ${this.dir} (KEYVAL_IT_KEEP=1)\n`);
    } else {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

function annotate(error: unknown, logs: string): unknown {
  if (error instanceof Error) {
    error.message = `${error.message}\n\nmember logs:\n${logs}`;
  }
  return error;
}

/**
 * Wraps a test body so that when it fails, the error message carries the log tails of the
 * cluster `cluster()` returns (a getter, since the cluster is usually made in beforeAll).
 */
export function explain(cluster: () => TestCluster | undefined, body: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await body();
    } catch (error) {
      const c = cluster();
      throw c === undefined ? error : annotate(error, c.logTails());
    }
  };
}

/**
 * One cluster for the enclosing describe block: started in beforeAll, closed in afterAll.
 * Returns its getter, which throws if the cluster did not start (pass it to `explain`).
 */
export function clusterForSuite(options: ClusterOptions = {}): () => TestCluster {
  let cluster: TestCluster | undefined;
  beforeAll(async () => {
    cluster = await TestCluster.start(options);
  });
  afterAll(async () => {
    await cluster?.close();
  });
  return () => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    return cluster;
  };
}
