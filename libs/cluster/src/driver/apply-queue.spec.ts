import { EntryType } from '@keyval/raft';
import type { Entry, LogIndex, Term } from '@keyval/raft';
import { ApplyQueue, MAX_APPLY_BATCH_ENTRIES } from './apply-queue';

const entries = (from: number, count: number): Entry[] =>
  Array.from({ length: count }, (_, k) => ({ term: 1 as Term, index: (from + k) as LogIndex, type: EntryType.Normal, data: new Uint8Array() }));

/** A state machine whose calls wait until released, recording each call's indexes. */
function gatedQueue(options: { failAt?: number } = {}) {
  const calls: number[][] = [];
  const applied: number[] = [];
  const failures: Error[] = [];
  let release: (() => void) | undefined;
  let stopped = false;
  const queue = new ApplyQueue<number>({
    apply: async (batch) => {
      calls.push(batch.map((e) => e.index));
      await new Promise<void>((resolve) => (release = resolve));
      if (options.failAt !== undefined && batch.some((e) => e.index === options.failAt)) throw new Error('disk on fire');
      return batch.map((e) => e.index * 10);
    },
    applied: (batch, results) => {
      expect(results).toEqual(batch.map((e) => e.index * 10));
      applied.push(...batch.map((e) => e.index));
    },
    failed: (error) => failures.push(error),
    stopped: () => stopped,
  }, { nowMs: () => 0 });
  const step = async (): Promise<void> => {
    while (release === undefined) await new Promise((resolve) => setImmediate(resolve));
    const go = release;
    release = undefined;
    go();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { queue, calls, applied, failures, step, stop: () => (stopped = true) };
}

describe('ApplyQueue', () => {
  it('applies in order, one call at a time, merging the batches queued meanwhile', async () => {
    const q = gatedQueue();
    q.queue.enqueue(entries(1, 2));
    q.queue.enqueue(entries(3, 1));
    q.queue.enqueue(entries(4, 3));
    expect(q.queue.backlog).toBe(6);
    await q.step();
    await q.step();
    await q.queue.drained();
    expect(q.calls).toEqual([[1, 2], [3, 4, 5, 6]]);
    expect(q.applied).toEqual([1, 2, 3, 4, 5, 6]);
    expect(q.queue.backlog).toBe(0);
  });

  it('merges at most MAX_APPLY_BATCH_ENTRIES into one call', async () => {
    const q = gatedQueue();
    q.queue.enqueue(entries(1, 1));
    q.queue.enqueue(entries(2, MAX_APPLY_BATCH_ENTRIES - 1));
    q.queue.enqueue(entries(MAX_APPLY_BATCH_ENTRIES + 1, 5));
    await q.step();
    await q.step();
    await q.step();
    await q.queue.drained();
    expect(q.calls.map((c) => c.length)).toEqual([1, MAX_APPLY_BATCH_ENTRIES - 1, 5]);
  });

  it('reports a failed apply and applies nothing after it', async () => {
    const q = gatedQueue({ failAt: 2 });
    q.queue.enqueue(entries(1, 1));
    q.queue.enqueue(entries(2, 1));
    await q.step();
    q.queue.enqueue(entries(3, 1));
    await q.step();
    await q.queue.drained();
    expect(q.failures.map((e) => e.message)).toEqual(['disk on fire']);
    expect(q.applied).toEqual([1]);
  });

  it('applies nothing more once stopped; drained still resolves', async () => {
    const q = gatedQueue();
    q.queue.enqueue(entries(1, 1));
    q.queue.enqueue(entries(2, 1));
    q.stop();
    await q.step();
    await q.queue.drained();
    expect(q.applied).toEqual([1]);
    expect(q.calls).toEqual([[1]]);
  });
});
