import { EntryType, logIndex, term } from '@keyval/raft';
import type { Entry } from '@keyval/raft';
import { ManualClock } from '../testing/manual-clock';
import { DeadlineExceededError, ProposalLostError } from './driver.errors';
import { ProposalWaiters } from './waiters';

const entry = (index: number, t: number): Entry => ({ index: logIndex(index), term: term(t), type: EntryType.Normal, data: new Uint8Array() });

/** Settles `promise` into what it resolved to or the error it failed with, without waiting. */
function outcome<T>(promise: Promise<T>): { value?: T; error?: unknown; settled: boolean } {
  const seen: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  promise.then(
    (value) => Object.assign(seen, { value, settled: true }),
    (error: unknown) => Object.assign(seen, { error, settled: true }),
  );
  return seen;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ProposalWaiters', () => {
  it('resolves a proposal when its entry applies in its term, and fails it when another term took the index', async () => {
    const clock = new ManualClock();
    const waiters = new ProposalWaiters<string>(clock);
    const mine = outcome(waiters.add(logIndex(5), term(2), 10_000));
    const lost = outcome(waiters.add(logIndex(6), term(2), 10_000));
    waiters.applied([entry(5, 2), entry(6, 3)], ['five', 'six']);
    await turn();
    expect(mine.value).toBe('five');
    expect(lost.error).toBeInstanceOf(ProposalLostError);
    expect(waiters.size).toBe(0);
  });

  it('fails at once, as not applied, the proposals of an earlier term above an applied entry of a later term (a deposed leader\'s overrun)', async () => {
    const clock = new ManualClock();
    let failed = 0;
    const waiters = new ProposalWaiters<string>(clock, (count) => (failed += count));
    // The old leader (term 2) proposed 10..12; the new leader (term 3) has a shorter log and its
    // no-op lands at 9: nothing will ever apply at 10..12 while every client waits on them.
    const overrun = [10, 11, 12].map((i) => outcome(waiters.add(logIndex(i), term(2), 30_000)));
    waiters.applied([entry(8, 2)], ['eight']);
    await turn();
    expect(overrun.every((o) => !o.settled)).toBe(true); // term 2 at 8 says nothing about 10..12
    waiters.applied([entry(9, 3)], ['noop']);
    await turn();
    for (const o of overrun) {
      expect(o.error).toBeInstanceOf(ProposalLostError);
      expect((o.error as ProposalLostError).outcome).toBe('not-applied');
    }
    expect(failed).toBe(3);
    expect(waiters.size).toBe(0);
  });

  it('keeps waiting for a proposal of the applied term, or of a later one, above the applied index', async () => {
    const clock = new ManualClock();
    const waiters = new ProposalWaiters<string>(clock);
    const sameTerm = outcome(waiters.add(logIndex(10), term(3), 1_000));
    const laterTerm = outcome(waiters.add(logIndex(11), term(4), 1_000));
    waiters.applied([entry(9, 3)], ['nine']);
    await turn();
    expect(sameTerm.settled || laterTerm.settled).toBe(false);
    await clock.advance(1_000);
    await turn();
    expect(sameTerm.error).toBeInstanceOf(DeadlineExceededError);
    expect(laterTerm.error).toBeInstanceOf(DeadlineExceededError);
  });
});
