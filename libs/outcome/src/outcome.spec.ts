import { OUTCOMES, OUTCOME_TRAILER, REASON_TRAILER, nothingApplied, outcomeOf, outcomeOfStatusCode, outcomeTrailers, parseOutcome } from './outcome';

describe('outcomeOf', () => {
  it('reads the typed field first, with the error code as the reason', () => {
    const error = Object.assign(new Error('x'), { outcome: 'not-applied', code: 'NOT_LEADER', metadata: { [OUTCOME_TRAILER]: 'applied' } });
    expect(outcomeOf(error)).toEqual({ outcome: 'not-applied', reason: 'NOT_LEADER' });
  });

  it('reads the trailers of a received status when the error has no typed field', () => {
    const status = Object.assign(new Error('x'), { code: 14, metadata: { [OUTCOME_TRAILER]: 'not-applied', [REASON_TRAILER]: 'NO_LEADER' } });
    expect(outcomeOf(status)).toEqual({ outcome: 'not-applied', reason: 'NO_LEADER' });
  });

  it('falls back to what the status code implies, and never calls an unknown failure not applied', () => {
    expect(outcomeOf(Object.assign(new Error('x'), { code: 14, metadata: {} }))).toEqual({ outcome: 'maybe-applied', reason: undefined });
    expect(outcomeOf(Object.assign(new Error('x'), { code: 3, metadata: { [OUTCOME_TRAILER]: 'bogus' } }))).toEqual({ outcome: 'not-applied', reason: undefined });
    expect(outcomeOf(new Error('a bug'))).toEqual({ outcome: 'maybe-applied', reason: undefined });
    expect(outcomeOf('text')).toEqual({ outcome: 'maybe-applied', reason: undefined });
    expect(outcomeOf(undefined)).toEqual({ outcome: 'maybe-applied', reason: undefined });
    for (const code of [1, 2, 4, 10, 13, 14, 15]) expect(outcomeOfStatusCode(code)).toBe('maybe-applied');
    for (const code of [3, 5, 6, 7, 8, 9, 11, 12, 16]) expect(outcomeOfStatusCode(code)).toBe('not-applied');
  });

  it('round-trips every outcome through the trailers, a forwarded never-sent reading as not applied', () => {
    for (const outcome of OUTCOMES) {
      const trailers = outcomeTrailers({ outcome, reason: 'SOME_CODE' });
      const received = outcomeOf(Object.assign(new Error('x'), { code: 14, metadata: trailers }));
      expect(received).toEqual({ outcome: outcome === 'never-sent' ? 'not-applied' : outcome, reason: 'SOME_CODE' });
    }
    expect(outcomeTrailers({ outcome: 'applied', reason: undefined })).toEqual({ [OUTCOME_TRAILER]: 'applied' });
    expect(parseOutcome('maybe-applied')).toBe('maybe-applied');
    expect(parseOutcome('MAYBE-APPLIED')).toBeUndefined();
  });

  it('nothing applied: never sent and not applied only', () => {
    expect(OUTCOMES.filter(nothingApplied)).toEqual(['never-sent', 'not-applied']);
  });
});
