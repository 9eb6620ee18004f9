import type { LeaseHistory, MemberFinalState } from './lease-check';
import { EXPIRY_SLACK_MS, checkLeaseRun } from './lease-check';

/**
 * A lease of TTL 3 s granted at 0 ms, its two keys put at 10–20 ms; keepalives sent at 1,000
 * and 2,000 ms (acknowledged), so it is certainly alive until 2,000 + 3,000 = 5,000 ms.
 */
function kept(overrides: Partial<LeaseHistory> = {}): LeaseHistory {
  return {
    id: '00000000000000a1',
    plan: 'keep',
    grant: { callMs: 0, returnMs: 5, status: 'ok' },
    ttlSeconds: 3,
    keys: [
      { key: 'lease/a1/a', callMs: 10, returnMs: 15, status: 'ok' },
      { key: 'lease/a1/b', callMs: 15, returnMs: 20, status: 'ok' },
    ],
    keepAlives: [
      { sentMs: 1_000, ackMs: 1_004, ttlSeconds: 3 },
      { sentMs: 2_000, ackMs: 2_600, ttlSeconds: 3 },
    ],
    observations: [
      { key: 'lease/a1/a', callMs: 100, returnMs: 110, present: true },
      { key: 'lease/a1/b', callMs: 4_000, returnMs: 4_010, present: true },
      // Gone after its bound: an honest expiry.
      { key: 'lease/a1/a', callMs: 5_600, returnMs: 5_650, present: false },
      { key: 'lease/a1/b', callMs: 5_700, returnMs: 5_720, present: false },
    ],
    ttls: [
      { callMs: 3_000, returnMs: 3_003, ttlSeconds: 1 },
      { callMs: 6_000, returnMs: 6_003, ttlSeconds: -1 },
    ],
    ...overrides,
  };
}

const clean: MemberFinalState[] = ['n1', 'n2', 'n3'].map((member) => ({ member, presentKeys: [], listedLeases: [] }));
const kinds = (leases: readonly LeaseHistory[], finals = clean): string[] => checkLeaseRun(leases, finals).violations.map((v) => v.kind);

describe('checkLeaseRun', () => {
  it('passes a kept lease that expired after its last keepalive + TTL and is gone everywhere', () => {
    const result = checkLeaseRun([kept()], clean);
    expect(result.violations).toEqual([]);
    expect(result).toMatchObject({ leases: 1, renewals: 2, expiryObservations: 3, unread: [] });
  });

  it('measures from the keepalive’s send time, not its answer: gone at 5,100 ms after an answer at 2,600 ms is honest', () => {
    const lease = kept({ observations: [{ key: 'lease/a1/a', callMs: 5_050, returnMs: 5_100, present: false }], ttls: [] });
    expect(kinds([lease])).toEqual([]);
  });

  it('finds an early expiry: a key read missing before last keepalive sent + TTL', () => {
    const lease = kept({ observations: [{ key: 'lease/a1/a', callMs: 4_500, returnMs: 4_600, present: false }] });
    const result = checkLeaseRun([lease], clean);
    expect(result.violations).toEqual([{ kind: 'early-expiry', lease: '00000000000000a1', text: expect.stringContaining('400 ms before') }]);
  });

  it('allows only the slack: gone 10 ms early passes, 40 ms early does not', () => {
    const at = (returnMs: number): LeaseHistory => kept({ observations: [{ key: 'lease/a1/a', callMs: returnMs - 5, returnMs, present: false }], ttls: [] });
    expect(EXPIRY_SLACK_MS).toBeLessThan(40);
    expect(kinds([at(4_990)])).toEqual([]);
    expect(kinds([at(4_960)])).toEqual(['early-expiry']);
  });

  it('finds an early expiry seen by TimeToLive (-1) or by a keepalive answered TTL 0', () => {
    expect(kinds([kept({ ttls: [{ callMs: 3_000, returnMs: 3_010, ttlSeconds: -1 }] })])).toEqual(['early-expiry']);
    const keepAlives = [...kept().keepAlives, { sentMs: 3_000, ackMs: 3_004, ttlSeconds: 0 }];
    expect(kinds([kept({ keepAlives })])).toEqual(['early-expiry']);
  });

  it('does not count a read of a key whose put was not yet acknowledged, nor one after a revoke was sent', () => {
    const unacked = kept({ keys: [{ key: 'lease/a1/a', callMs: 10, returnMs: 15, status: 'info' }], observations: [{ key: 'lease/a1/a', callMs: 100, returnMs: 110, present: false }], ttls: [] });
    expect(kinds([unacked])).toEqual([]);
    const revoked = kept({
      plan: 'revoke',
      keepAlives: [],
      revoke: { callMs: 1_000, returnMs: 1_050, status: 'ok' },
      observations: [{ key: 'lease/a1/a', callMs: 1_020, returnMs: 1_060, present: false }],
      ttls: [],
    });
    expect(kinds([revoked])).toEqual([]);
  });

  it('finds a key surviving its revoke, a key coming back, and a renewal after the revoke', () => {
    const revoke = { callMs: 1_000, returnMs: 1_050, status: 'ok' as const };
    expect(kinds([kept({ plan: 'revoke', keepAlives: [], revoke, observations: [{ key: 'lease/a1/a', callMs: 1_100, returnMs: 1_110, present: true }], ttls: [] })])).toEqual(['survived-revoke']);
    const back = kept({
      observations: [
        { key: 'lease/a1/a', callMs: 5_600, returnMs: 5_650, present: false },
        { key: 'lease/a1/a', callMs: 5_800, returnMs: 5_850, present: true },
      ],
      ttls: [],
    });
    expect(kinds([back])).toEqual(['resurrected']);
    expect(kinds([kept({ plan: 'revoke', revoke, keepAlives: [{ sentMs: 1_200, ackMs: 1_210, ttlSeconds: 3 }], observations: [], ttls: [] })])).toEqual(['renewed-after-revoke']);
  });

  it('finds a renewal answered after the lease was seen gone (a stale leader renewing it)', () => {
    const keepAlives = [...kept().keepAlives, { sentMs: 5_800, ackMs: 5_810, ttlSeconds: 3 }];
    // The renewal sent at 5,800 ms also promised life until 8,800 ms, which TimeToLive -1 at 6,003 ms breaks.
    expect(kinds([kept({ keepAlives })])).toEqual(['early-expiry', 'resurrected']);
    expect(kinds([kept({ keepAlives, ttls: [] })])).toEqual(['resurrected']);
  });

  it('finds a key surviving its lease at the end, and a lease still listed, on any member', () => {
    const finals: MemberFinalState[] = [
      { member: 'n1', presentKeys: [], listedLeases: [] },
      { member: 'n2', presentKeys: ['lease/a1/b'], listedLeases: ['00000000000000a1', 'ffffffffffffffff'] },
      { member: 'n3' },
    ];
    const result = checkLeaseRun([kept()], finals);
    expect(result.violations.map((v) => [v.kind, v.text])).toEqual([
      ['survivor', 'n2 still has lease/a1/b of lease 00000000000000a1 after every TTL ran out'],
      ['survivor', 'n2 still lists lease 00000000000000a1 after every TTL ran out'],
    ]);
    expect(result.unread).toEqual(['n3']);
  });
});
