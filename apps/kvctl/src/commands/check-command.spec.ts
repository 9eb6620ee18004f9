import type { HashKvRow } from './check-command';
import { hashKvFailure } from './check-command';

const row = (name: string, hash: number | undefined, extra: Partial<HashKvRow> = {}): HashKvRow => ({ name, id: `${name}-id`, endpoint: `${name}:2379`, revision: 9, compactRevision: 3, divergent: false, ...(hash !== undefined && { hash }), ...extra });

describe('kvctl check: the verdict', () => {
  it('passes when every member answered with the majority’s hash', () => {
    expect(hashKvFailure([row('n1', 7), row('n2', 7), row('n3', 7)])).toBeUndefined();
  });

  it('names the divergent member, its hash and the others’', () => {
    expect(hashKvFailure([row('n1', 7), row('n2', 8, { divergent: true }), row('n3', 7)])).toBe(
      'the key space at revision 9 diverges on member n2 (n2-id): hash 8 compacted at 3 (the others: 7 compacted at 3)',
    );
  });

  it('fails when a member could not be checked, naming it and why', () => {
    expect(hashKvFailure([row('n1', 7), row('n2', undefined, { error: 'has not applied revision 9 yet' })])).toBe('could not check member n2 (n2-id): has not applied revision 9 yet');
  });
});
