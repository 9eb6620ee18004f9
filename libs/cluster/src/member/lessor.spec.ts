import type { LeaseRecord, WriteRequest, WriteResponse } from '@keyval/statemachine';
import { ManualClock } from '../testing/manual-clock';
import { Lessor, minLeaseTtlSeconds } from './lessor';

/** Leases held in a map; proposals applied at once (or refused while `failing`). */
function host() {
  const leases = new Map<bigint, LeaseRecord>();
  const proposals: WriteRequest[] = [];
  const state = { failing: false };
  return {
    leases,
    proposals,
    state,
    host: {
      leases: () => [...leases.values()],
      lease: (id: bigint) => leases.get(id),
      propose: async (op: WriteRequest): Promise<WriteResponse> => {
        proposals.push(op);
        if (state.failing) throw new Error('not leader');
        if (op.type === 'leaseRevoke') leases.delete(op.id);
        if (op.type === 'leaseCheckpoint') for (const c of op.checkpoints) {
          const lease = leases.get(c.id);
          if (lease !== undefined) leases.set(c.id, { ...lease, remainingTtl: c.remainingTtl });
        }
        return { type: 'leaseRevoke', response: { header: { revision: 1 } } };
      },
    },
  };
}

const OPTIONS = { extendMs: 1000, checkpointIntervalMs: 60_000, revokesPerSecond: 1000, tickMs: 500, checkpointBatch: 1000 };

describe('Lessor', () => {
  it('etcd’s minimum TTL: 1.5 election timeouts in heartbeat ticks, rounded up to seconds', () => {
    expect(minLeaseTtlSeconds(1000, 100)).toBe(2);
    expect(minLeaseTtlSeconds(150, 50)).toBe(1);
    expect(minLeaseTtlSeconds(3000, 500)).toBe(5);
  });

  it('revokes a lease once its TTL passed without a renewal, not before; renewals push the expiry', async () => {
    const clock = new ManualClock();
    const h = host();
    const lessor = new Lessor(h.host, clock, OPTIONS);
    lessor.start();
    lessor.promote();
    h.leases.set(1n, { id: 1n, ttl: 5, remainingTtl: 0 });
    lessor.granted(1n, 5);
    await clock.advance(4_000);
    expect(lessor.renew(1n)).toEqual({ ttl: 5 });
    await clock.advance(4_900);
    expect(h.proposals).toEqual([]);
    expect(lessor.remaining(1n)).toEqual({ remainingSeconds: 0, ttl: 5 });
    await clock.advance(500);
    expect(h.proposals).toEqual([{ type: 'leaseRevoke', id: 1n }]);
    expect(h.leases.size).toBe(0);
    expect(lessor.renew(1n)).toBe('not-found');
    lessor.stop();
  });

  it('a new leader gives every lease its checkpointed remaining TTL (else its TTL) plus the extension', async () => {
    const clock = new ManualClock();
    const h = host();
    h.leases.set(1n, { id: 1n, ttl: 60, remainingTtl: 3 });
    h.leases.set(2n, { id: 2n, ttl: 4, remainingTtl: 0 });
    const lessor = new Lessor(h.host, clock, OPTIONS);
    lessor.start();
    expect(lessor.renew(1n)).toBe('not-primary');
    lessor.promote();
    await clock.advance(3_500);
    expect(h.proposals).toEqual([]);
    await clock.advance(1_000); // 3 s + 1 s extension passed for lease 1
    expect(h.proposals).toEqual([{ type: 'leaseRevoke', id: 1n }]);
    await clock.advance(1_000); // 4 s + 1 s for lease 2
    expect(h.proposals).toEqual([
      { type: 'leaseRevoke', id: 1n },
      { type: 'leaseRevoke', id: 2n },
    ]);
    lessor.stop();
  });

  it('checkpoints remaining TTLs; a renewal clears a checkpoint; demoted, it neither renews nor revokes', async () => {
    const clock = new ManualClock();
    const h = host();
    h.leases.set(7n, { id: 7n, ttl: 100, remainingTtl: 0 });
    const lessor = new Lessor(h.host, clock, { ...OPTIONS, checkpointIntervalMs: 30_000 });
    lessor.start();
    lessor.promote();
    await clock.advance(30_000);
    expect(h.proposals).toEqual([{ type: 'leaseCheckpoint', checkpoints: [{ id: 7n, remainingTtl: 71 }] }]);
    expect(h.leases.get(7n)?.remainingTtl).toBe(71);
    expect(lessor.renew(7n)).toEqual({ ttl: 100 });
    await clock.advance(0);
    expect(h.proposals[1]).toEqual({ type: 'leaseCheckpoint', checkpoints: [{ id: 7n, remainingTtl: 0 }] });
    lessor.demote();
    expect(lessor.renew(7n)).toBe('not-primary');
    await clock.advance(200_000);
    expect(h.proposals).toHaveLength(2);
    lessor.stop();
  });

  it('a failed revoke is retried on a later tick while still leader', async () => {
    const clock = new ManualClock();
    const h = host();
    h.leases.set(1n, { id: 1n, ttl: 1, remainingTtl: 0 });
    const lessor = new Lessor(h.host, clock, OPTIONS);
    lessor.start();
    lessor.promote();
    h.state.failing = true;
    await clock.advance(2_500);
    const attempts = h.proposals.length;
    expect(attempts).toBeGreaterThanOrEqual(1);
    h.state.failing = false;
    await clock.advance(500);
    expect(h.proposals.length).toBe(attempts + 1);
    expect(h.leases.size).toBe(0);
    lessor.stop();
  });
});
