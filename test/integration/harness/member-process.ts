/**
 * One KeyVal member as a real process for the integration tests: the BUILT app
 * (`apps/keyval/dist/main.js`) spawned with etcd-style flags on loopback ports, its output
 * appended to a log file (JSON lines, kept across restarts), signals, exit codes, /readyz
 * and the etcd Maintenance.Status of the member over the lean gRPC client.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GrpcChannel, createClient } from '@keyval/grpc';
import type { ServiceClient } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { WaitTimeoutError, waitFor } from './wait-for';
import { httpGet } from './http-get';

/** The repository root (test/integration/harness → ../../..). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
/** The built member app every test spawns. */
export const KEYVAL_MAIN = path.join(REPO_ROOT, 'apps', 'keyval', 'dist', 'main.js');

/** The built app is missing: the tests spawn `dist`, so `npm run build` must run first. */
export class AppNotBuiltError extends Error {
  constructor(readonly mainPath: string) {
    super(`${mainPath} does not exist: the integration tests run the BUILT member; run \`npm run build\` first`);
    this.name = 'AppNotBuiltError';
  }
}

/** Throws AppNotBuiltError unless `apps/keyval/dist/main.js` exists. */
export function requireBuiltApp(): string {
  if (!fs.existsSync(KEYVAL_MAIN)) {
    throw new AppNotBuiltError(KEYVAL_MAIN);
  }
  return KEYVAL_MAIN;
}

/** How a member process ended. */
export interface MemberExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One parsed log record of a member (pino JSON). */
export interface MemberLogRecord {
  readonly level: number;
  readonly time: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** Where a member listens and keeps its data. */
export interface MemberSpec {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly metricsPort: number;
  readonly dataDir: string;
  readonly logFile: string;
}

/** Every process the harness started and that has not exited, killed if the test process exits. */
const LIVE = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of LIVE) {
    child.kill('SIGKILL');
  }
});

/**
 * The environment without KEYVAL_* and OTEL_* variables, so a developer's shell can change
 * neither a flag nor tracing.
 */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('KEYVAL_') && !key.startsWith('OTEL_')));
}

/**
 * Runs the built app once with `args` (and extra environment variables, e.g. KEYVAL_*) and
 * returns its exit and output, for flag tests. Kills it after `timeoutMs`.
 */
export function runKeyval(
  args: readonly string[],
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<MemberExit & { stdout: string; stderr: string }> {
  const main = requireBuiltApp();
  const timeoutMs = options.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const env = { ...cleanEnv(), ...options.env };
    const child = spawn(process.execPath, [main, ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    LIVE.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`keyval ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      LIVE.delete(child);
      // 'exit' may precede the last output; 'close' follows it.
      child.once('close', () => resolve({ code, signal, stdout, stderr }));
    });
  });
}

export class TestMember {
  /** The member id, learned from its first Status answer (undefined until then). */
  id: bigint | undefined;
  /** Flags added to this member's command line (after the cluster's), e.g. --max-request-bytes. */
  extraFlags: string[] = [];
  /** Environment variables added to the member's (e.g. OTEL_* to trace it). */
  extraEnv: Record<string, string> = {};
  private child: ChildProcess | undefined;
  private exited: Promise<MemberExit> | undefined;
  private lastExit: MemberExit | undefined;
  private channel: GrpcChannel | undefined;

  constructor(
    readonly spec: MemberSpec,
    /** The cluster's flags for this member (initial cluster, timing), computed at each start. */
    private readonly baseFlags: (member: TestMember) => string[],
  ) {}

  get name(): string {
    return this.spec.name;
  }

  /** host:port of the client (etcd gRPC) listener, as etcdctl --endpoints takes it. */
  get endpoint(): string {
    return `127.0.0.1:${this.spec.clientPort}`;
  }

  get clientUrl(): string {
    return `http://${this.endpoint}`;
  }

  get peerUrl(): string {
    return `http://127.0.0.1:${this.spec.peerPort}`;
  }

  get metricsUrl(): string {
    return `http://127.0.0.1:${this.spec.metricsPort}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.lastExit === undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** How the last run ended (undefined while running or never started). */
  get exit(): MemberExit | undefined {
    return this.lastExit;
  }

  /** The full command line after `node`: main.js and every flag. */
  argv(): string[] {
    return [requireBuiltApp(), ...this.baseFlags(this), ...this.extraFlags];
  }

  /** Spawns the member (it must not be running). Output goes to the log file. */
  start(): void {
    if (this.running) {
      throw new Error(`member ${this.name} is already running (pid ${String(this.pid)})`);
    }
    const argv = this.argv();
    const fd = fs.openSync(this.spec.logFile, 'a');
    fs.writeSync(fd, `# harness: ${new Date().toISOString()} start ${argv.slice(1).join(' ')}\n`);
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, argv, { cwd: REPO_ROOT, env: { ...cleanEnv(), ...this.extraEnv }, stdio: ['ignore', fd, fd] });
    } finally {
      fs.closeSync(fd);
    }
    LIVE.add(child);
    this.child = child;
    this.lastExit = undefined;
    this.exited = new Promise<MemberExit>((resolve) => {
      child.once('exit', (code, signal) => {
        LIVE.delete(child);
        const exit = { code, signal };
        if (this.child === child) {
          this.lastExit = exit;
        }
        resolve(exit);
      });
    });
  }

  /** Sends `signal` to the running member (no-op when it is not running). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) {
      this.child?.kill(signal);
    }
  }

  /** Resolves with the member's exit; rejects with WaitTimeoutError after `timeoutMs`. */
  async waitExit(timeoutMs: number): Promise<MemberExit> {
    if (this.exited === undefined) {
      throw new Error(`member ${this.name} was never started`);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new WaitTimeoutError(`member ${this.name} to exit`, timeoutMs, undefined)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal` and waits for the exit (SIGKILL: the process is gone when this resolves). */
  async stop(signal: NodeJS.Signals, timeoutMs = 15_000): Promise<MemberExit> {
    if (!this.running) {
      return this.lastExit ?? { code: null, signal: null };
    }
    this.signal(signal);
    return this.waitExit(timeoutMs);
  }

  /**
   * GET a path of the member's HTTP endpoints (/readyz, /metrics...) on its client URL, which
   * serves HTTP/1.1 beside gRPC: its HTTP status and body (status 0 if unreachable).
   */
  httpGet(urlPath: string, timeoutMs = 1_000): Promise<{ status: number; body: string }> {
    return httpGet(`${this.clientUrl}${urlPath}`, timeoutMs);
  }

  /** Waits until /readyz answers 200 (a leader known, startup commit applied). */
  async waitReady(timeoutMs: number): Promise<void> {
    await waitFor(
      async () => {
        if (!this.running) {
          throw new Error(`member ${this.name} exited (${JSON.stringify(this.lastExit)}) before it was ready`);
        }
        const r = await this.httpGet('/readyz');
        return r.status === 200 ? true : undefined;
      },
      { timeoutMs, what: `member ${this.name} to answer /readyz 200`, intervalMs: 20 },
    );
  }

  /** A lean gRPC channel to this member's client URL (shared; reconnects lazily after restarts). */
  grpcChannel(): GrpcChannel {
    this.channel ??= new GrpcChannel(this.endpoint, { connectTimeoutMs: 1_000 });
    return this.channel;
  }

  kv(): ServiceClient<typeof etcd.KVDefinition> {
    return createClient(etcd.KVDefinition, this.grpcChannel());
  }

  /** Maintenance.Status of this member; records its id. */
  async status(timeoutMs = 1_000): Promise<etcd.StatusResponse> {
    const response = await createClient(etcd.MaintenanceDefinition, this.grpcChannel()).status({}, { timeoutMs });
    this.id = response.header?.memberId;
    return response;
  }

  /** Every JSON log record the member wrote (across restarts); other lines are skipped. */
  logRecords(): MemberLogRecord[] {
    if (!fs.existsSync(this.spec.logFile)) {
      return [];
    }
    const records: MemberLogRecord[] = [];
    for (const line of fs.readFileSync(this.spec.logFile, 'utf8').split('\n')) {
      if (line.startsWith('{')) {
        try {
          records.push(JSON.parse(line) as MemberLogRecord);
        } catch {
          // A torn last line of a killed process: not a record.
        }
      }
    }
    return records;
  }

  /** The last `lines` lines of the member's log, for failure messages. */
  logTail(lines = 25): string {
    if (!fs.existsSync(this.spec.logFile)) {
      return '(no log)';
    }
    return fs.readFileSync(this.spec.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** Closes the harness's gRPC channel (the process is left alone). */
  closeChannel(): void {
    this.channel?.close();
    this.channel = undefined;
  }
}
