import { HistoryRecorder, checkHistory } from '@keyval/lincheck';
import type { Outcome, Value } from '@keyval/lincheck';
import { SeededRandom } from '../crash/seeded-random';
import type { OpResult } from './kv-session-client';
import { createWorkload } from './workloads';
import type { OpRecorder, Worker, WorkloadClient } from './workloads';

/**
 * A store in memory. `losing` keys are acknowledged but never stored (a lost write); `doubling`
 * makes every successful CAS increment twice (a phantom write); `timeouts` makes the next n
 * writes indeterminate (applied, answer lost).
 */
class FakeStore implements WorkloadClient {
  readonly data = new Map<string, string>();
  losing = new Set<string>();
  doubling = false;
  timeouts = 0;

  private answer(outcome: Outcome): OpResult {
    return { outcome, via: ['fake'] };
  }

  async get(key: string): Promise<OpResult> {
    return this.answer({ status: 'ok', output: this.data.get(key) ?? null });
  }

  async put(key: string, value: string): Promise<OpResult> {
    if (!this.losing.has(key)) this.data.set(key, value);
    if (this.timeouts > 0) {
      this.timeouts--;
      return this.answer({ status: 'info' });
    }
    return this.answer({ status: 'ok' });
  }

  async delete(key: string): Promise<OpResult> {
    const deleted = this.data.delete(key) ? 1 : 0;
    return { ...this.answer({ status: 'ok' }), deleted };
  }

  async cas(key: string, expected: Value, newValue: Value): Promise<OpResult> {
    const holds = (this.data.get(key) ?? null) === expected;
    if (holds && newValue !== null) this.data.set(key, this.doubling ? String(Number(newValue) + 1) : newValue);
    if (this.timeouts > 0) {
      this.timeouts--;
      return this.answer({ status: 'info' });
    }
    return this.answer({ status: 'ok', succeeded: holds });
  }

  async readPrefix(prefix: string): Promise<{ values: Map<string, string> | undefined }> {
    return { values: new Map([...this.data].filter(([k]) => k.startsWith(prefix))) };
  }
}

function recorderOn(history: HistoryRecorder): OpRecorder {
  let time = 0;
  return {
    invoke: (invocation) => history.invoke(invocation, time++),
    complete: (id, result) => history.complete(id, time++, result.outcome),
  };
}

function worker(client: WorkloadClient, index = 0): Worker {
  return { index, process: index, client, random: new SeededRandom(index + 1), count: 0, seen: new Map() };
}

async function run(kind: 'register' | 'set' | 'counter', store: FakeStore, steps: number) {
  const workload = createWorkload(kind);
  const history = new HistoryRecorder();
  const recorder = recorderOn(history);
  const workers = [worker(store, 0), worker(store, 1)];
  for (let k = 0; k < steps; k++) await workload.step(workers[k % 2] as Worker, recorder);
  const final = await workload.finish(store, recorder, 1_000_000, 1_000);
  return { final, ops: history.operations() };
}

describe('workloads against an in-memory store', () => {
  it('register: a correct store is linearizable; keys rotate so each stays small', async () => {
    const { final, ops } = await run('register', new FakeStore(), 2_000);
    expect(final).toMatchObject({ read: true, lost: 0 });
    expect(Number(final.details['keys'])).toBeGreaterThan(3);
    expect(checkHistory(ops).verdict).toBe('linearizable');
  });

  it('set: every acknowledged add is found; an indeterminate add may be missing', async () => {
    const store = new FakeStore();
    store.timeouts = 3;
    const { final, ops } = await run('set', store, 100);
    expect(final).toMatchObject({ read: true, lost: 0 });
    expect(final.details).toMatchObject({ attempted: 100, acknowledged: 97, indeterminate: 3, unexpected: 0 });
    expect(checkHistory(ops).verdict).toBe('linearizable');
  });

  it('set: an acknowledged add that is missing is lost, and the checker refutes the history too', async () => {
    const store = new FakeStore();
    store.losing = new Set(['set/0.3', 'set/1.7']);
    const { final, ops } = await run('set', store, 40);
    expect(final.lost).toBe(2);
    expect(String(final.details['firstMissing'])).toBe('set/0.3 set/1.7');
    expect(checkHistory(ops).verdict).toBe('not-linearizable');
  });

  it('counter: the final value equals the acknowledged increments', async () => {
    const { final, ops } = await run('counter', new FakeStore(), 60);
    expect(final.details).toMatchObject({ final: 60, acknowledged: 60, indeterminate: 0, excess: 0 });
    expect(final.lost).toBe(0);
    expect(checkHistory(ops).verdict).toBe('linearizable');
  });

  it('counter: increments nobody made show as excess', async () => {
    const store = new FakeStore();
    store.doubling = true;
    const { final } = await run('counter', store, 20);
    expect(Number(final.details['excess'])).toBeGreaterThan(0);
  });
});
