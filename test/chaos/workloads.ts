/**
 * The three workloads. Each logical client (a worker) repeatedly takes a step — one or two
 * recorded operations — and at the end one reader does the workload's final read.
 * - register: gets, puts and CASes on a few hot keys; each key retires after a fixed number of
 *   operations and a fresh one takes its place, so every key's history stays small enough to
 *   check quickly. Values are unique, so a stale or lost value is easy to spot.
 * - set: each step adds a unique element (a key under `set/`); the final read lists the prefix,
 *   and every acknowledged add must be in it (lost-write detection).
 * - counter: read the counter, then CAS it to one more; at the end
 *   acknowledged increments <= final value <= acknowledged + indeterminate increments.
 */
import type { Invocation, Value } from '@keyval/lincheck';
import { SeededRandom } from '../crash/seeded-random';
import type { WorkloadKind } from './chaos-options';
import type { KvEndpoint, KvSessionClient, OpResult } from './kv-session-client';
import { LeaseWorkload } from './lease-workload';
import { WatchWorkload } from './watch-workload';
import { perform, retrying } from './workload-steps';

/** What a workload needs of a client (KvSessionClient; a fake in unit tests). */
export type WorkloadClient = Pick<KvSessionClient, 'get' | 'put' | 'delete' | 'cas' | 'readPrefix'>;

/** What the stream workloads (watch, lease) need beside their workers' clients. */
export interface WorkloadContext {
  /** The members (or the gateway) the run's clients talk to. */
  readonly endpoints: readonly KvEndpoint[];
  readonly seed: number;
  /** Distinguishes this run's ids (sessions, lease ids). */
  readonly runTag: string;
  /** A session client of its own, starting at `endpoints[home]`. */
  sessionClient(endpoints: readonly KvEndpoint[], home: number, tag: string): KvSessionClient;
}

/** Records operations: invoke returns an id, complete closes it. */
export interface OpRecorder {
  invoke(invocation: Invocation): number;
  complete(id: number, result: OpResult): void;
}

/** One logical client. Its `process` changes after an indeterminate operation (Jepsen's rule). */
export interface Worker {
  readonly index: number;
  process: number;
  readonly client: WorkloadClient;
  readonly random: SeededRandom;
  /** Operations this worker started (for unique values). */
  count: number;
  /** The last value this worker saw per key (the CAS's expected value). */
  readonly seen: Map<string, Value>;
}

/** What the final read found. */
export interface FinalReport {
  /** The final read succeeded. */
  readonly read: boolean;
  /** Acknowledged writes missing from the final state. */
  readonly lost: number;
  /** Human-readable facts for the summary (counts, first missing elements). */
  readonly details: Record<string, number | string | boolean>;
  /** What a workload's own checker (watch, lease) found wrong, one sentence each; any makes the run fail. */
  readonly violations?: readonly string[];
  /** What the checker judged, for the violations it found (e.g. a lease's whole history as JSON). */
  readonly evidence?: readonly string[];
}

/** A workload: a step per worker, and the final read. */
export interface Workload {
  readonly kind: WorkloadKind;
  /** Starts background tasks (watchers), once, before the first step. */
  start?(): void;
  /** The run is ending: steps in progress should end soon (called before they are awaited). */
  stop?(): void;
  step(worker: Worker, recorder: OpRecorder): Promise<void>;
  finish(reader: WorkloadClient, recorder: OpRecorder, processBase: number, timeoutMs: number): Promise<FinalReport>;
}

class RegisterWorkload implements Workload {
  readonly kind = 'register';
  private readonly slots: { key: string; ops: number }[];
  private nextKey: number;

  constructor(
    private readonly hotKeys = 3,
    private readonly opsPerKey = 400,
  ) {
    this.slots = Array.from({ length: hotKeys }, (_, k) => ({ key: `reg/${k}`, ops: 0 }));
    this.nextKey = hotKeys;
  }

  private pickKey(random: SeededRandom): string {
    const slot = this.slots[random.int(this.hotKeys)] as { key: string; ops: number };
    if (++slot.ops > this.opsPerKey) {
      slot.key = `reg/${this.nextKey++}`;
      slot.ops = 1;
    }
    return slot.key;
  }

  async step(worker: Worker, recorder: OpRecorder): Promise<void> {
    const key = this.pickKey(worker.random);
    const roll = worker.random.next();
    const process = worker.process;
    if (roll < 0.5) {
      const outcome = await perform(worker, recorder, { process, key, f: 'get' }, () => worker.client.get(key));
      if (outcome.status === 'ok') worker.seen.set(key, outcome.output ?? null);
      return;
    }
    const value = `${worker.index}.${worker.count++}`;
    if (roll < 0.75) {
      const outcome = await perform(worker, recorder, { process, key, f: 'put', value }, () => worker.client.put(key, value));
      if (outcome.status === 'ok') worker.seen.set(key, value);
      return;
    }
    const expected = worker.seen.get(key) ?? null;
    const outcome = await perform(worker, recorder, { process, key, f: 'cas', expected, newValue: value }, () => worker.client.cas(key, expected, value));
    if (outcome.status === 'ok' && outcome.succeeded === true) worker.seen.set(key, value);
    else if (outcome.status === 'ok') worker.seen.delete(key);
  }

  async finish(reader: WorkloadClient, recorder: OpRecorder, processBase: number, timeoutMs: number): Promise<FinalReport> {
    // A last read of every key the run touched: a lost write shows up as a stale final value.
    const keys = Array.from({ length: this.nextKey }, (_, k) => `reg/${k}`);
    const deadline = performance.now() + timeoutMs;
    let failed = 0;
    for (const [k, key] of keys.entries()) {
      const ok = await retrying(Math.max(0, deadline - performance.now()), async () => {
        const id = recorder.invoke({ process: processBase + k, key, f: 'get' });
        const result = await reader.get(key);
        recorder.complete(id, result);
        return result.outcome.status === 'ok' ? true : undefined;
      });
      if (ok !== true) failed++;
    }
    return { read: failed === 0, lost: 0, details: { keys: keys.length, finalReadsFailed: failed } };
  }
}

class SetWorkload implements Workload {
  readonly kind = 'set';
  /** Every element added, with whether its add was acknowledged. */
  private readonly added = new Map<string, 'ok' | 'info' | 'fail'>();

  async step(worker: Worker, recorder: OpRecorder): Promise<void> {
    const key = `set/${worker.index}.${worker.count++}`;
    const outcome = await perform(worker, recorder, { process: worker.process, key, f: 'put', value: 'x' }, () => worker.client.put(key, 'x'));
    this.added.set(key, outcome.status);
  }

  async finish(reader: WorkloadClient, recorder: OpRecorder, processBase: number, timeoutMs: number): Promise<FinalReport> {
    const callTimes: number[] = [];
    const read = await retrying(timeoutMs, async () => {
      callTimes.push(performance.now());
      return (await reader.readPrefix('set/', 30_000)).values;
    });
    if (read === undefined) return { read: false, lost: 0, details: { attempted: this.added.size, finalRead: 'failed' } };
    // The final read becomes one get per attempted element (each its own process: they are
    // concurrent), so the checker sees a missing acknowledged add as a stale read too.
    const keys = [...this.added.keys()];
    const ids = keys.map((key, k) => recorder.invoke({ process: processBase + k, key, f: 'get' }));
    ids.forEach((id, k) => recorder.complete(id, { outcome: { status: 'ok', output: read.get(keys[k] as string) ?? null }, via: ['final'] }));
    const missing = keys.filter((key) => this.added.get(key) === 'ok' && !read.has(key));
    const unexpected = [...read.keys()].filter((key) => !this.added.has(key));
    const count = (status: string): number => [...this.added.values()].filter((s) => s === status).length;
    return {
      read: true,
      lost: missing.length,
      details: {
        attempted: this.added.size,
        acknowledged: count('ok'),
        indeterminate: count('info'),
        failed: count('fail'),
        present: read.size,
        presentIndeterminate: keys.filter((key) => this.added.get(key) === 'info' && read.has(key)).length,
        unexpected: unexpected.length,
        firstMissing: missing.slice(0, 10).join(' '),
      },
    };
  }
}

class CounterWorkload implements Workload {
  readonly kind = 'counter';
  private acknowledged = 0;
  private indeterminate = 0;
  private static readonly KEY = 'counter';

  async step(worker: Worker, recorder: OpRecorder): Promise<void> {
    const key = CounterWorkload.KEY;
    const read = await perform(worker, recorder, { process: worker.process, key, f: 'get' }, () => worker.client.get(key));
    if (read.status !== 'ok') return;
    const current = read.output ?? null;
    const next = String(Number(current ?? '0') + 1);
    const cas = await perform(worker, recorder, { process: worker.process, key, f: 'cas', expected: current, newValue: next }, () => worker.client.cas(key, current, next));
    if (cas.status === 'ok' && cas.succeeded === true) this.acknowledged++;
    if (cas.status === 'info') this.indeterminate++;
  }

  async finish(reader: WorkloadClient, recorder: OpRecorder, processBase: number, timeoutMs: number): Promise<FinalReport> {
    let attempt = 0;
    const value = await retrying(timeoutMs, async () => {
      const id = recorder.invoke({ process: processBase + attempt++, key: CounterWorkload.KEY, f: 'get' });
      const result = await reader.get(CounterWorkload.KEY);
      recorder.complete(id, result);
      return result.outcome.status === 'ok' ? (result.outcome.output ?? null) : undefined;
    });
    if (value === undefined) return { read: false, lost: 0, details: { acknowledged: this.acknowledged, indeterminate: this.indeterminate, finalRead: 'failed' } };
    const final = Number(value ?? '0');
    return {
      read: true,
      lost: Math.max(0, this.acknowledged - final),
      details: {
        final,
        acknowledged: this.acknowledged,
        indeterminate: this.indeterminate,
        // More than acknowledged + indeterminate would be an increment nobody made.
        excess: Math.max(0, final - this.acknowledged - this.indeterminate),
      },
    };
  }
}

/** A fresh workload of `kind` (watch and lease need the context). */
export function createWorkload(kind: WorkloadKind, context?: WorkloadContext): Workload {
  const needContext = (): WorkloadContext => {
    if (context === undefined) throw new RangeError(`the ${kind} workload needs a workload context`);
    return context;
  };
  switch (kind) {
    case 'watch':
      return new WatchWorkload(needContext());
    case 'lease':
      return new LeaseWorkload(needContext());
    case 'register':
      return new RegisterWorkload();
    case 'set':
      return new SetWorkload();
    case 'counter':
      return new CounterWorkload();
  }
}
