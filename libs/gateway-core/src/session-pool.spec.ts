/** SessionPool: one write per session at a time, bounded, renewed when idle or refused. */
import { SessionPool } from './session-pool';
import { SessionsExhaustedError } from './gateway.errors';

describe('SessionPool', () => {
  let now = 0;
  const pool = (sessionsMax: number, idleRenewMs = 1_000): SessionPool => new SessionPool({ sessionsMax, idleRenewMs, now: () => now, idPrefix: 'gw-test' });

  beforeEach(() => {
    now = 0;
  });

  it('lends each session to one write at a time, with increasing sequence numbers', () => {
    const p = pool(2);
    const a = p.acquire(1_000);
    const b = p.acquire(1_000);
    expect(a).not.toBe(b);
    expect(p.size).toBe(2);
    if (a instanceof Promise || b instanceof Promise) throw new Error('expected sessions at once');
    expect([a.takeSeq(), a.takeSeq(), b.takeSeq()]).toEqual([1, 2, 1]);
    p.release(a);
    expect(p.acquire(1_000)).toBe(a); // reused, most recently used first
  });

  it('makes a write wait for a busy session, FIFO, and hands it over on release', async () => {
    const p = pool(1);
    const a = p.acquire(1_000);
    if (a instanceof Promise) throw new Error('expected a session at once');
    const waiting = p.acquire(1_000);
    expect(waiting).toBeInstanceOf(Promise);
    p.release(a);
    expect(await waiting).toBe(a);
    expect(p.busyCount).toBe(1);
  });

  it('fails a waiting acquire at its deadline', async () => {
    jest.useFakeTimers();
    try {
      const p = pool(1);
      p.acquire(1_000);
      const waiting = p.acquire(50);
      jest.advanceTimersByTime(60);
      await expect(waiting).rejects.toBeInstanceOf(SessionsExhaustedError);
    } finally {
      jest.useRealTimers();
    }
  });

  it('renews a session idle too long, and one the state machine refused', () => {
    const p = pool(1, 1_000);
    const a = p.acquire(0) as Exclude<ReturnType<SessionPool['acquire']>, Promise<unknown>>;
    const first = a.clientId;
    a.takeSeq();
    p.renew(a);
    expect(a.clientId).not.toBe(first);
    expect(a.takeSeq()).toBe(1);
    p.release(a);
    now += 1_001;
    const again = p.acquire(0) as typeof a;
    expect(again).toBe(a);
    expect(again.takeSeq()).toBe(1);
    expect(p.renewals).toBe(2);
  });

  it('refuses to release or renew a session it did not lend', () => {
    const p = pool(1);
    const a = p.acquire(0) as Exclude<ReturnType<SessionPool['acquire']>, Promise<unknown>>;
    p.release(a);
    expect(() => p.release(a)).toThrow(/not lent/);
    expect(() => p.renew(a)).toThrow(/not lent/);
  });

  it('gives every process its own client ids', () => {
    const ids = new Set([new SessionPool({ sessionsMax: 1, idleRenewMs: 1 }), new SessionPool({ sessionsMax: 1, idleRenewMs: 1 })].map((p) => (p.acquire(0) as { clientId: string }).clientId));
    expect(ids.size).toBe(2);
    for (const id of ids) expect(id).toMatch(/^gw-[0-9a-f]{16}-1$/);
  });
});
