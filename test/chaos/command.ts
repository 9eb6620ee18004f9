/**
 * Runs the system commands the harness needs (ip, iptables, mount) with a time limit, and
 * turns failures into ChaosSetupError carrying the command and its stderr.
 */
import { execFile } from 'node:child_process';
import { ChaosSetupError } from './chaos.errors';

/** What a finished command printed and how it ended. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandOptions {
  /** Kill the command after this long. Default 30 s. */
  readonly timeoutMs?: number;
  /** Return a non-zero exit instead of throwing. */
  readonly allowFail?: boolean;
}

/** Longest output kept from one command. */
const OUTPUT_BYTES_MAX = 8 * 1024 * 1024;

/**
 * Runs `file args…` (no shell) and resolves with its result.
 * @throws ChaosSetupError when it cannot start, times out, or (unless allowFail) exits non-zero
 */
export function runCommand(file: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    execFile(file, [...args], { timeout: timeoutMs, maxBuffer: OUTPUT_BYTES_MAX, encoding: 'utf8' }, (error, stdout, stderr) => {
      const shown = `${file} ${args.join(' ')}`;
      if (error === null) {
        resolve({ code: 0, stdout, stderr });
        return;
      }
      const code = typeof error.code === 'number' ? error.code : -1;
      if (error.killed === true || error.signal !== null && error.signal !== undefined) {
        reject(new ChaosSetupError(`${shown}: killed after ${timeoutMs} ms (${String(error.signal)})`, { cause: error }));
      } else if (code === -1) {
        reject(new ChaosSetupError(`${shown}: cannot run (${error.message})`, { cause: error }));
      } else if (options.allowFail === true) {
        resolve({ code, stdout, stderr });
      } else {
        reject(new ChaosSetupError(`${shown}: exit ${code}: ${stderr.trim() || stdout.trim()}`, { cause: error }));
      }
    });
  });
}

/** Runs a command inside network namespace `ns` (`ip netns exec ns …`). */
export function runInNamespace(ns: string, file: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  return runCommand('ip', ['netns', 'exec', ns, file, ...args], options);
}

/** Resolves after `ms` (for pacing, never for waiting on a condition). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` every `intervalMs` until it returns a value other than undefined, or throws
 * `onTimeout()` after `timeoutMs`. Probe errors count as "not yet".
 */
export async function waitUntil<T>(probe: () => Promise<T | undefined>, timeoutMs: number, onTimeout: () => Error, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch {
      // not yet
    }
    if (Date.now() >= deadline) throw onTimeout();
    await delay(intervalMs);
  }
}
