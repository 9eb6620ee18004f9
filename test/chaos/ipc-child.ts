/**
 * Request/response over Node's IPC channel between the harness and its helper processes (the
 * client agent, the delay proxies), which run inside network namespaces the harness cannot
 * reach over the network. A method map types both sides:
 *
 *     harness: child.call('delay', {delayMs: 100, jitterMs: 20})  ──{id, method, params}──▶
 *     child:   serveIpc({delay: async (p) => …})                   ◀──{id, result | error}──
 *
 * A helper exits when its channel closes, so a crashed harness leaves no helper behind.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChaosAgentError } from './chaos.errors';

/** Methods a helper serves: each with its params and result types. */
export type MethodMap = Record<string, { params: unknown; result: unknown }>;

/** A handler per method. */
export type Handlers<M extends MethodMap> = { [K in keyof M]: (params: M[K]['params']) => Promise<M[K]['result']> };

interface Request {
  readonly id: number;
  readonly method: string;
  readonly params: unknown;
}

interface Reply {
  readonly id: number;
  readonly result?: unknown;
  readonly error?: string;
}

/** The repository root (test/chaos → ../..). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');
/** Lets `node` run the TypeScript sources (the crash tests' loader). */
export const TS_REGISTER = path.join(REPO_ROOT, 'test', 'crash', 'ts-register.js');

/** Serves `handlers` on this process's IPC channel; exits when the channel closes. */
export function serveIpc<M extends MethodMap>(handlers: Handlers<M>): void {
  const send = process.send?.bind(process);
  if (send === undefined) throw new ChaosAgentError('this helper must be started with an IPC channel');
  process.on('message', (request: Request) => {
    const handler = (handlers as Record<string, (params: unknown) => Promise<unknown>>)[request.method];
    const answer = handler === undefined ? Promise.reject(new Error(`unknown method ${request.method}`)) : handler(request.params);
    answer.then(
      (result) => process.connected && send({ id: request.id, result }),
      (error: unknown) => process.connected && send({ id: request.id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}

/** The harness side: one helper process and its pending calls. */
export class IpcChild<M extends MethodMap> {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  private exitedWith: string | undefined;

  private constructor(
    readonly label: string,
    private readonly child: ChildProcess,
  ) {
    child.on('message', (reply: Reply) => this.settle(reply));
    child.on('exit', (code, signal) => {
      this.exitedWith = `exited (${signal ?? code})`;
      for (const [id, call] of this.pending) {
        clearTimeout(call.timer);
        call.reject(new ChaosAgentError(`${label} ${this.exitedWith} during call ${id}`));
      }
      this.pending.clear();
    });
  }

  /**
   * Starts `script` (TypeScript, under test/chaos) with `args` inside namespace `ns`, its output
   * appended to `logFile`.
   */
  static start<M extends MethodMap>(label: string, ns: string, script: string, args: readonly string[], logFile: string, env: NodeJS.ProcessEnv = process.env): IpcChild<M> {
    const log = fs.openSync(logFile, 'a');
    try {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-r', TS_REGISTER, path.join(__dirname, script), ...args], {
        cwd: REPO_ROOT,
        env,
        stdio: ['ignore', log, log, 'ipc'],
      });
      return new IpcChild<M>(label, child);
    } finally {
      fs.closeSync(log);
    }
  }

  /** The helper's pid (the node process itself: `ip netns exec` execs it). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  private settle(reply: Reply): void {
    const call = this.pending.get(reply.id);
    if (call === undefined) return;
    this.pending.delete(reply.id);
    clearTimeout(call.timer);
    if (reply.error !== undefined) call.reject(new ChaosAgentError(`${this.label}: ${reply.error}`));
    else call.resolve(reply.result);
  }

  /**
   * Calls `method` on the helper.
   * @throws ChaosAgentError when the helper fails the call, exits, or does not answer in time
   */
  call<K extends keyof M & string>(method: K, params: M[K]['params'], timeoutMs: number): Promise<M[K]['result']> {
    if (this.exitedWith !== undefined) return Promise.reject(new ChaosAgentError(`${this.label} ${this.exitedWith}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ChaosAgentError(`${this.label}: ${method} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.child.send({ id, method, params } satisfies Request);
    });
  }

  /** Closes the channel (the helper exits) and kills it if it has not after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exitedWith !== undefined) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
