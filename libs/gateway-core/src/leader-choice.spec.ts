/** chooseLeader: claims, reports, terms and staleness (a pure function; no timers). */
import fc from 'fast-check';
import { chooseLeader } from './leader-choice';
import type { Observation } from './leader-choice';

const obs = (memberId: bigint, leader: bigint, term: bigint, extra: Partial<Observation> = {}): Observation => ({
  memberId,
  ok: true,
  answeredAtMs: 1_000,
  leader,
  term,
  unhealthy: false,
  ...extra,
});
const NOW = 1_100;
const FRESH = 500;

describe('chooseLeader', () => {
  it('takes the member that claims leadership', () => {
    expect(chooseLeader([obs(1n, 2n, 5n), obs(2n, 2n, 5n), obs(3n, 2n, 5n)], NOW, FRESH)).toEqual({ leader: 2n, term: 5n, basis: 'claim' });
  });

  it('prefers the claim of the highest term (a deposed leader may still believe it leads)', () => {
    expect(chooseLeader([obs(1n, 1n, 4n), obs(2n, 2n, 5n), obs(3n, 2n, 5n)], NOW, FRESH).leader).toBe(2n);
  });

  it('uses what the others report when the leader itself did not answer yet', () => {
    expect(chooseLeader([obs(1n, 3n, 6n), obs(2n, 3n, 6n)], NOW, FRESH)).toEqual({ leader: 3n, term: 6n, basis: 'reported' });
  });

  it('knows no leader when the reported one is down (its own probe failed)', () => {
    expect(chooseLeader([obs(1n, 3n, 6n), obs(3n, 3n, 6n, { ok: false })], NOW, FRESH).leader).toBe(0n);
  });

  it('ignores stale answers', () => {
    expect(chooseLeader([obs(2n, 2n, 5n, { answeredAtMs: NOW - FRESH - 1 })], NOW, FRESH).leader).toBe(0n);
  });

  it('knows no leader when the only claim is older than what the others report', () => {
    expect(chooseLeader([obs(1n, 1n, 4n), obs(2n, 3n, 5n), obs(3n, 3n, 5n, { ok: false })], NOW, FRESH).leader).toBe(0n);
  });

  it('does not follow the claim of an unhealthy member', () => {
    expect(chooseLeader([obs(2n, 2n, 5n, { unhealthy: true })], NOW, FRESH).leader).toBe(0n);
  });

  it('knows no leader when nobody names one', () => {
    expect(chooseLeader([obs(1n, 0n, 5n), obs(2n, 0n, 5n)], NOW, FRESH)).toEqual({ leader: 0n, term: 0n, basis: 'none' });
  });

  it('property: the answer is a fresh claimant or a reported member that is not down, with the highest term seen among its kind', () => {
    const observation = fc.record({
      memberId: fc.bigInt({ min: 1n, max: 5n }),
      ok: fc.boolean(),
      answeredAtMs: fc.integer({ min: 0, max: NOW }),
      leader: fc.bigInt({ min: 0n, max: 5n }),
      term: fc.bigInt({ min: 1n, max: 4n }),
      unhealthy: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(observation, { maxLength: 6 }), (list) => {
        const choice = chooseLeader(list, NOW, FRESH);
        expect(chooseLeader([...list].reverse(), NOW, FRESH)).toEqual(choice); // order does not matter
        if (choice.leader === 0n) return;
        const fresh = list.filter((o) => o.ok && NOW - o.answeredAtMs <= FRESH);
        const counted = fresh.filter((o) => o.leader !== 0n && !(o.leader === o.memberId && o.unhealthy));
        expect(choice.term).toBe(counted.reduce((m, o) => (o.term > m ? o.term : m), 0n));
        if (choice.basis === 'claim') {
          expect(fresh.some((o) => o.memberId === choice.leader && o.leader === choice.leader && !o.unhealthy)).toBe(true);
        } else {
          expect(fresh.some((o) => o.leader === choice.leader)).toBe(true);
        }
      }),
    );
  });
});
