import { SharedBarrier } from './shared-barrier';

/** A barrier the test ends by hand, recording when each started. */
function manualBarrier(): { barrier: (deadlineMs: number) => Promise<void>; started: { deadlineMs: number; end: (error?: Error) => void }[] } {
  const started: { deadlineMs: number; end: (error?: Error) => void }[] = [];
  return {
    started,
    barrier: (deadlineMs) =>
      new Promise<void>((resolve, reject) => {
        started.push({ deadlineMs, end: (error) => (error === undefined ? resolve() : reject(error)) });
      }),
  };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('SharedBarrier', () => {
  it('shares one barrier among the callers of one turn, with the earliest deadline', async () => {
    const m = manualBarrier();
    const shared = new SharedBarrier(m.barrier);
    const passed: number[] = [];
    for (let i = 0; i < 100; i++) void shared.pass(1_000 + i).then(() => passed.push(i));
    await turn();
    expect(m.started).toHaveLength(1);
    expect(m.started[0]?.deadlineMs).toBe(1_000);
    m.started[0]?.end();
    await turn();
    expect(passed).toHaveLength(100);
  });

  it('never lets a caller join a barrier already running: it waits for the next, started after it arrived', async () => {
    const m = manualBarrier();
    const shared = new SharedBarrier(m.barrier);
    let early = false;
    let late = false;
    void shared.pass(1_000).then(() => (early = true));
    await turn();
    expect(m.started).toHaveLength(1);
    void shared.pass(1_000).then(() => (late = true)); // arrives while the first one runs
    await turn();
    expect(m.started).toHaveLength(1); // not started until the running one ends
    m.started[0]?.end();
    await turn();
    expect(early).toBe(true);
    expect(late).toBe(false);
    expect(m.started).toHaveLength(2);
    m.started[1]?.end();
    await turn();
    expect(late).toBe(true);
  });

  it('fails every caller of a barrier that fails, and the next caller gets a fresh barrier', async () => {
    const m = manualBarrier();
    const shared = new SharedBarrier(m.barrier);
    const a = shared.pass(1_000);
    const b = shared.pass(1_000);
    await turn();
    m.started[0]?.end(new Error('not leader'));
    await expect(a).rejects.toThrow('not leader');
    await expect(b).rejects.toThrow('not leader');
    const c = shared.pass(1_000);
    await turn();
    expect(m.started).toHaveLength(2);
    m.started[1]?.end();
    await expect(c).resolves.toBeUndefined();
  });
});
