/**
 * One KeyVal member as a real process in its network namespace: the BUILT app
 * (`apps/keyval/dist/main.js`) started with `ip netns exec`, which execs it (so the pid is the
 * member's own, for SIGKILL/SIGSTOP). Its data dir is on a tmpfs of its own (the full-disk
 * fault fills it); its clock goes through libfaketime with a control file the clock fault
 * rewrites; its output is appended to a log file that survives restarts.
 */
import { spawn } from 'node:child_process';
import { memberTlsFlags } from '@keyval/grpc';
import type { IssuedFiles } from '@keyval/grpc';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChaosSetupError } from './chaos.errors';
import { runCommand } from './command';
import { REPO_ROOT } from './ipc-child';
import type { MemberAddress } from './netns-network';
import { WORK_ROOT } from './netns-network';

/** The member app every chaos run starts. */
export const KEYVAL_MAIN = path.join(REPO_ROOT, 'apps', 'keyval', 'dist', 'main.js');
/** libfaketime's multi-threaded build (Node runs threads). */
export const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';

export const CLIENT_PORT = 2379;
export const PEER_PORT = 2380;
export const METRICS_PORT = 2381;
/** Where the delay proxy listens in front of the peer port. */
export const PROXY_PORT = 2390;
/** Size of each member's tmpfs. */
export const TMPFS_SIZE = '256m';

/** How members run: fixed for the whole run. */
export interface MemberSettings {
  /** Peer traffic goes through a delay proxy. */
  readonly proxied: boolean;
  /** Run under libfaketime; `wallOnly` keeps CLOCK_MONOTONIC true. */
  readonly faketime: 'off' | 'wall-only' | 'all-clocks';
  readonly leaseReads: boolean;
  readonly logDir: string;
  /** --tls: mutual TLS on the client and peer ports (https:// URLs), each member with its own certificate. */
  readonly tls?: ChaosPki;
}

/** The throwaway CA's files for a --tls run (chaos-run.ts makes them). */
export interface ChaosPki {
  readonly caFile: string;
  /** Each member's certificate (its IP in the names), by member name. */
  readonly members: Readonly<Record<string, IssuedFiles>>;
  /** The client agent's and its gateway's. */
  readonly agent: IssuedFiles;
}

/** How one start joins the cluster. */
export interface MemberLaunch {
  /** name=peerUrl,... of every member the new process should know. */
  readonly initialCluster: string;
  readonly state: 'new' | 'existing';
}

/** One member slot (name, namespace, address) and its current process, if any. */
export class ChaosMember {
  readonly name: string;
  readonly namespace: string;
  readonly ip: string;
  readonly mountDir: string;
  readonly dataDir: string;
  readonly fillerFile: string;
  readonly faketimeFile: string;
  readonly logFile: string;
  private child: ChildProcess | undefined;
  private exitInfo: string | undefined;
  private pausedNow = false;
  /** Every start of this slot, for the report. */
  starts = 0;
  /** The flags of the last start (a restart repeats them). */
  lastLaunch: MemberLaunch | undefined;

  constructor(
    address: MemberAddress,
    private readonly settings: MemberSettings,
  ) {
    this.name = address.name;
    this.namespace = address.namespace;
    this.ip = address.ip;
    this.mountDir = path.join(WORK_ROOT, address.name);
    this.dataDir = path.join(this.mountDir, 'data');
    this.fillerFile = path.join(this.mountDir, 'filler');
    this.faketimeFile = path.join(WORK_ROOT, `${address.name}.faketime`);
    this.logFile = path.join(settings.logDir, `${address.name}.log`);
  }

  /** The peer URL the cluster uses for this member (the proxy's when proxied). */
  get peerUrl(): string {
    return `${this.scheme}://${this.ip}:${this.settings.proxied ? PROXY_PORT : PEER_PORT}`;
  }

  /** Ports a partition's one-way rule blocks. */
  get peerPorts(): number[] {
    return this.settings.proxied ? [PEER_PORT, PROXY_PORT] : [PEER_PORT];
  }

  /** host:port of the client URL, or https://host:port with --tls (as GrpcChannel takes it). */
  get clientAddress(): string {
    return `${this.settings.tls === undefined ? '' : 'https://'}${this.ip}:${CLIENT_PORT}`;
  }

  private get scheme(): 'http' | 'https' {
    return this.settings.tls === undefined ? 'http' : 'https';
  }

  /** etcd's TLS flags with this member's certificate (none without --tls). */
  private tlsFlags(): string[] {
    const pki = this.settings.tls;
    const own = pki?.members[this.name];
    if (pki === undefined) return [];
    if (own === undefined) throw new ChaosSetupError(`no certificate for ${this.name}`);
    return memberTlsFlags(pki.caFile, own);
  }

  get metricsUrl(): string {
    return `http://${this.ip}:${METRICS_PORT}`;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.exitInfo === undefined;
  }

  get paused(): boolean {
    return this.pausedNow;
  }

  /** How the last process ended ("exit 1", "SIGKILL"), if it did. */
  get exited(): string | undefined {
    return this.exitInfo;
  }

  /** Mounts the tmpfs and writes a neutral faketime control file. */
  async prepare(): Promise<void> {
    fs.mkdirSync(this.mountDir, { recursive: true });
    await runCommand('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700`, `kvchaos-${this.name}`, this.mountDir]);
    fs.mkdirSync(this.dataDir, { recursive: true });
    this.setClock('+0 x1');
  }

  /** Rewrites the libfaketime control file (e.g. `+120 x1`, `-30 x0.8`). */
  setClock(spec: string): void {
    if (!/^[+-]\d+(\.\d+)? x\d+(\.\d+)?$/.test(spec)) throw new RangeError(`bad faketime spec ${JSON.stringify(spec)}`);
    fs.writeFileSync(this.faketimeFile, `${spec}\n`);
  }

  private env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('KEYVAL_') && !key.startsWith('FAKETIME')));
    if (this.settings.faketime === 'off') return env;
    return {
      ...env,
      LD_PRELOAD: LIBFAKETIME,
      FAKETIME_TIMESTAMP_FILE: this.faketimeFile,
      // Re-read the control file at most once a second (every call would cost a file read).
      FAKETIME_CACHE_DURATION: '1',
      ...(this.settings.faketime === 'wall-only' ? { FAKETIME_DONT_FAKE_MONOTONIC: '1' } : {}),
    };
  }

  private args(launch: MemberLaunch): string[] {
    return [
      KEYVAL_MAIN,
      `--name=${this.name}`,
      `--data-dir=${this.dataDir}`,
      `--listen-client-urls=${this.scheme}://${this.ip}:${CLIENT_PORT}`,
      `--advertise-client-urls=${this.scheme}://${this.ip}:${CLIENT_PORT}`,
      `--listen-peer-urls=${this.scheme}://${this.ip}:${PEER_PORT}`,
      `--initial-advertise-peer-urls=${this.peerUrl}`,
      `--listen-metrics-urls=${this.metricsUrl}`,
      `--initial-cluster=${launch.initialCluster}`,
      `--initial-cluster-state=${launch.state}`,
      '--initial-cluster-token=kvchaos',
      '--heartbeat-interval=100',
      '--election-timeout=1000',
      '--snapshot-count=2000',
      '--snapshot-catchup-entries=500',
      ...(this.settings.leaseReads ? ['--lease-reads'] : []),
      ...this.tlsFlags(),
    ];
  }

  /** Starts a process (none may be running). */
  start(launch: MemberLaunch): void {
    if (this.running) throw new ChaosSetupError(`${this.name} is already running (pid ${this.child?.pid})`);
    if (!fs.existsSync(KEYVAL_MAIN)) throw new ChaosSetupError(`${KEYVAL_MAIN} does not exist: run \`npm run build\` first`);
    const log = fs.openSync(this.logFile, 'a');
    fs.writeSync(log, `${JSON.stringify({ chaos: 'start', member: this.name, at: new Date().toISOString(), launch })}\n`);
    try {
      const child = spawn('ip', ['netns', 'exec', this.namespace, process.execPath, ...this.args(launch)], { cwd: REPO_ROOT, env: this.env(), stdio: ['ignore', log, log] });
      this.child = child;
      this.exitInfo = undefined;
      this.pausedNow = false;
      this.starts++;
      this.lastLaunch = launch;
      child.on('exit', (code, signal) => {
        if (this.child === child) this.exitInfo = signal ?? `exit ${code}`;
      });
    } finally {
      fs.closeSync(log);
    }
  }

  /** Sends `signal` to the running process (no-op when none). */
  signal(signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT' | 'SIGTERM'): void {
    const pid = this.pid;
    if (pid === undefined) return;
    try {
      process.kill(pid, signal);
    } catch {
      return; // it just exited
    }
    if (signal === 'SIGSTOP') this.pausedNow = true;
    if (signal === 'SIGCONT' || signal === 'SIGKILL') this.pausedNow = false;
  }

  /** Kills the process with SIGKILL and waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.signal('SIGKILL');
    await gone;
  }

  /**
   * What the kernel says about the running process, for a member that stopped answering:
   * its state and, per thread, its name, state and wait channel (a thread pool blocked in
   * the kernel shows here). Empty when not running.
   */
  processDiagnostics(): string {
    const pid = this.pid;
    if (pid === undefined) return `${this.name}: not running (${this.exited ?? 'never started'})`;
    const read = (file: string): string => {
      try {
        return fs.readFileSync(file, 'utf8').trim();
      } catch {
        return '?';
      }
    };
    const lines = [`${this.name} pid ${pid}: ${read(`/proc/${pid}/status`).split('\n').filter((l) => /^(State|Threads|VmRSS):/.test(l)).join(', ')}`];
    let tasks: string[] = [];
    try {
      tasks = fs.readdirSync(`/proc/${pid}/task`);
    } catch {
      // gone
    }
    for (const tid of tasks) {
      const stat = read(`/proc/${pid}/task/${tid}/stat`);
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '?';
      lines.push(`  ${tid} ${read(`/proc/${pid}/task/${tid}/comm`)} ${state} ${read(`/proc/${pid}/task/${tid}/wchan`)}`);
    }
    return lines.join('\n');
  }

  /** Fills the member's tmpfs to the last byte. */
  async fillDisk(): Promise<void> {
    // fallocate of exactly the free space can fail on tmpfs; take all but 1 MiB at once, then
    // the rest in small appends until the file system refuses.
    const stats = fs.statfsSync(this.mountDir);
    const free = stats.bavail * stats.bsize;
    if (free > 1 << 20) await runCommand('fallocate', ['-l', String(free - (1 << 20)), this.fillerFile]);
    const chunk = Buffer.alloc(4096);
    for (let k = 0; k < 2048; k++) {
      try {
        fs.appendFileSync(this.fillerFile, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') return;
        throw error;
      }
    }
  }

  /** Frees what fillDisk took. */
  freeDisk(): void {
    fs.rmSync(this.fillerFile, { force: true });
  }

  /** Deletes the data dir (a member leaving the cluster for good). The process must be down. */
  wipeData(): void {
    if (this.running) throw new ChaosSetupError(`cannot wipe ${this.name}'s data while it runs`);
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    fs.mkdirSync(this.dataDir, { recursive: true });
  }
}
