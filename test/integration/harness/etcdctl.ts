/**
 * `etcdctl` (etcd 3.4, Debian's etcd-client) spawned against test members, with its exit
 * code and output: compatibility proven with a client no one here wrote.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** etcdctl is not installed: the integration suite needs it (CI installs it, see .ci/run). */
export class EtcdctlMissingError extends Error {
  constructor() {
    super('etcdctl is not on the PATH: install it with `apt-get install etcd-client` (etcd 3.4); the integration suite proves compatibility with it');
    this.name = 'EtcdctlMissingError';
  }
}

/** The executable `name` on the PATH, or undefined. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir !== '' && fs.existsSync(candidate)) {
      return candidate;
    }
  }
  return undefined;
}

/** The etcdctl executable on the PATH, or undefined. */
export function findEtcdctl(): string | undefined {
  return findOnPath('etcdctl');
}

export interface EtcdctlResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time of the run, ms. */
  readonly elapsedMs: number;
}

export interface EtcdctlOptions {
  /** Written to stdin, then closed (e.g. the txn script). */
  readonly input?: string;
  /** etcdctl's --command-timeout, ms (default 5000). */
  readonly commandTimeoutMs?: number;
  /** Kill etcdctl after this long, ms (default 20000). */
  readonly killAfterMs?: number;
}

/** Bytes of output kept per stream (a limit on everything). */
const OUTPUT_MAX = 4 * 1024 * 1024;

/**
 * Runs `etcdctl --endpoints=<endpoints> <args>` with ETCDCTL_API=3 and resolves with its
 * exit code and output (never rejects for a non-zero exit; rejects if it cannot run).
 */
export function etcdctl(endpoints: readonly string[], args: readonly string[], options: EtcdctlOptions = {}): Promise<EtcdctlResult> {
  const bin = findEtcdctl();
  if (bin === undefined) {
    return Promise.reject(new EtcdctlMissingError());
  }
  const started = performance.now();
  const argv = [`--endpoints=${endpoints.join(',')}`, '--dial-timeout=2s', `--command-timeout=${options.commandTimeoutMs ?? 5_000}ms`, ...args];
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ETCDCTL_API: '3' };
    const child = options.input === undefined ? spawn(bin, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(bin, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout = (stdout + s).slice(0, OUTPUT_MAX)));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(0, OUTPUT_MAX)));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 20_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, elapsedMs: Math.round(performance.now() - started) });
    });
    if (child.stdin !== null) {
      // etcdctl may exit (e.g. on a usage error) before reading its input: not our error.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
  });
}

/** Like etcdctl() but throws (with the output) unless it exits 0; returns stdout. */
export async function etcdctlOk(endpoints: readonly string[], args: readonly string[], options: EtcdctlOptions = {}): Promise<string> {
  const r = await etcdctl(endpoints, args, options);
  if (r.code !== 0) {
    throw new Error(`etcdctl ${args.join(' ')} exited ${String(r.code)}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return r.stdout;
}

/**
 * Parses etcdctl's `-w json` output keeping uint64 ids exact: integers of 16 digits or more
 * (member and cluster ids) become decimal strings instead of rounded numbers.
 */
export function parseEtcdctlJson(text: string): unknown {
  return JSON.parse(text.replace(/(:\s*)(\d{16,})(?=[,}\]])/g, '$1"$2"'));
}
