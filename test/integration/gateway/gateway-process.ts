/**
 * The built gateway (`apps/gateway/dist/main.js`) as a real process for the integration
 * tests, next to a TestCluster: free loopback ports, output appended to a log file in the
 * cluster's directory, /readyz waits, /metrics counters, signals and exit codes.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GrpcChannel, createClient } from '@keyval/grpc';
import type { ServiceClient } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { freePorts } from '../harness/free-ports';
import { REPO_ROOT } from '../harness/member-process';
import { WaitTimeoutError, waitFor } from '../harness/wait-for';
import { httpGet } from '../harness/http-get';
import type { HttpsCredentials } from '../harness/http-get';

/** The built gateway app. */
export const GATEWAY_MAIN = path.join(REPO_ROOT, 'apps', 'gateway', 'dist', 'main.js');
/** The built admin CLI. */
const KVCTL = path.join(REPO_ROOT, 'apps', 'kvctl', 'dist', 'main.js');

/** Every gateway process started and not yet exited, killed if the test process exits. */
const LIVE = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of LIVE) child.kill('SIGKILL');
});

function requireBuiltGateway(): string {
  if (!fs.existsSync(GATEWAY_MAIN)) {
    throw new Error(`${GATEWAY_MAIN} does not exist: the integration tests run the BUILT gateway; run \`npm run build\` first`);
  }
  return GATEWAY_MAIN;
}

/** The environment without KEYVAL_* variables, plus `env`. */
function cleanEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('KEYVAL_') && !key.startsWith('OTEL_'))), ...env };
}

/** Runs the gateway with `args` until it exits (flag tests): exit code and output. */
export function runGateway(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runBuilt(requireBuiltGateway(), args, env, timeoutMs);
}

/** Runs the built kvctl with `--endpoints=<endpoints>` and `args` until it exits. */
export function runKvctl(endpoints: readonly string[], args: readonly string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (!fs.existsSync(KVCTL)) {
    throw new Error(`${KVCTL} does not exist: run \`npm run build\` first`);
  }
  return runBuilt(KVCTL, [`--endpoints=${endpoints.join(',')}`, ...args], {}, timeoutMs);
}

function runBuilt(main: string, args: readonly string[], env: Record<string, string>, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], { cwd: REPO_ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    LIVE.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(path.dirname(path.dirname(main)))} ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      LIVE.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

export class GatewayProcess {
  private exitCode: number | null | undefined;
  private readonly exited: Promise<number | null>;
  private channel: GrpcChannel | undefined;

  private constructor(
    private readonly child: ChildProcess,
    readonly clientPort: number,
    readonly metricsPort: number,
    readonly logFile: string,
    /** With TLS towards clients: what an https:// request verifies the gateway with. */
    readonly credentials?: HttpsCredentials,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        LIVE.delete(child);
        this.exitCode = code;
        resolve(code);
      }),
    );
  }

  /** Starts a gateway in front of `endpoints`, logging to `<dir>/gateway.log`, and waits until it is ready. */
  static async start(options: {
    endpoints: readonly string[];
    dir: string;
    flags?: readonly string[];
    readyTimeoutMs?: number;
    metricsListener?: boolean;
    env?: Record<string, string>;
    /** Serve clients over TLS (an https:// listen URL) with this certificate; `ca` verifies it. */
    clientTls?: { certFile: string; keyFile: string; ca: Buffer };
  }): Promise<GatewayProcess> {
    const main = requireBuiltGateway();
    const [clientPort, metricsPort] = (await freePorts(2)) as [number, number];
    const logFile = path.join(options.dir, 'gateway.log');
    const args = [
      main,
      `--endpoints=${options.endpoints.join(',')}`,
      `--listen-client-urls=${options.clientTls === undefined ? 'http' : 'https'}://127.0.0.1:${clientPort}`,
      ...(options.clientTls === undefined ? [] : [`--cert-file=${options.clientTls.certFile}`, `--key-file=${options.clientTls.keyFile}`]),
      ...(options.metricsListener === false ? [] : [`--listen-metrics-urls=http://127.0.0.1:${metricsPort}`]),
      ...(options.flags ?? []),
    ];
    const fd = fs.openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: cleanEnv(options.env), stdio: ['ignore', fd, fd] });
    } finally {
      fs.closeSync(fd);
    }
    LIVE.add(child);
    const gateway = new GatewayProcess(child, clientPort, metricsPort, logFile, options.clientTls === undefined ? undefined : { ca: options.clientTls.ca });
    try {
      await gateway.waitReady(options.readyTimeoutMs ?? 30_000);
    } catch (error) {
      child.kill('SIGKILL');
      throw new Error(`${error instanceof Error ? error.message : String(error)}\n----- gateway log -----\n${gateway.logTail()}`);
    }
    return gateway;
  }

  /** host:port clients use. */
  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** GET on the client port, which serves HTTP/1.1 beside gRPC (/readyz, /metrics...). */
  httpGet(urlPath: string, timeoutMs = 1_000): Promise<{ status: number; body: string }> {
    return httpGet(`${this.credentials === undefined ? 'http' : 'https'}://${this.endpoint}${urlPath}`, timeoutMs, this.credentials);
  }

  /** GET on the --listen-metrics-urls listener (when started with one). */
  metricsListenerGet(urlPath: string, timeoutMs = 1_000): Promise<{ status: number; body: string }> {
    return httpGet(`http://127.0.0.1:${this.metricsPort}${urlPath}`, timeoutMs);
  }

  async waitReady(timeoutMs: number): Promise<void> {
    await waitFor(
      async () => {
        if (!this.running) throw new Error(`the gateway exited (${String(this.exitCode)}) before it was ready`);
        return (await this.httpGet('/readyz')).status === 200 ? true : undefined;
      },
      { timeoutMs, what: 'the gateway to answer /readyz 200', intervalMs: 20 },
    );
  }

  /**
   * The gateway's /metrics numbers by name (keyval_gateway_ prefix and _total suffix removed),
   * summed over their label sets (retries by reason: their total).
   */
  async metrics(): Promise<Map<string, number>> {
    const { body } = await this.httpGet('/metrics');
    const out = new Map<string, number>();
    for (const line of body.split('\n')) {
      const m = /^keyval_gateway_([a-z_]+?)(?:_total)?(?:\{[^}]*\})? (\S+)$/.exec(line);
      if (m !== null) out.set(m[1] as string, (out.get(m[1] as string) ?? 0) + Number(m[2]));
    }
    return out;
  }

  kv(): ServiceClient<typeof etcd.KVDefinition> {
    this.channel ??= new GrpcChannel(this.endpoint, { connectTimeoutMs: 1_000, sessions: 2 });
    return createClient(etcd.KVDefinition, this.channel);
  }

  /** Sends `signal` and waits for the exit code (SIGKILL after `timeoutMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    this.channel?.close();
    this.channel = undefined;
    if (!this.running) return this.exitCode ?? null;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new WaitTimeoutError('the gateway to exit', timeoutMs, undefined));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  logTail(lines = 40): string {
    return fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '(no log)';
  }
}
