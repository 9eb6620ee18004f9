/** Steps every workload uses: a recorded operation, a retried final read. */
import type { Invocation, Outcome } from '@keyval/lincheck';
import type { OpResult } from './kv-session-client';
import type { OpRecorder, Worker } from './workloads';

/** Runs one recorded operation and remembers what the worker saw. */
export async function perform(worker: Worker, recorder: OpRecorder, invocation: Invocation, run: () => Promise<OpResult>): Promise<Outcome> {
  const id = recorder.invoke(invocation);
  const result = await run();
  recorder.complete(id, result);
  if (result.outcome.status === 'info') worker.process += 1_000;
  return result.outcome;
}

/** Retries a final read until it succeeds or `timeoutMs` passes. */
export async function retrying<T>(timeoutMs: number, attempt: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined || performance.now() >= deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
