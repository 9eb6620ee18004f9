import { queuePrefix, queueRange, waiterKey } from './queue-keys';

describe('the lock and election queue keys', () => {
  it('names a waiter <name>/<lease hex> and ranges over the prefix without changing it', () => {
    const prefix = queuePrefix(Buffer.from('locks/a'));
    expect(waiterKey(prefix, 0x694d7d9a1c0e1a04n).toString()).toBe('locks/a/694d7d9a1c0e1a04');
    const range = queueRange(prefix, 'first');
    expect(Buffer.from(range.rangeEnd).toString()).toBe('locks/a0');
    // prefixRangeEnd bumps a slice of its argument; a Buffer's slice is a view: the prefix must stay.
    expect(prefix.toString()).toBe('locks/a/');
    expect(queueRange(prefix, 'last', 7n)).toMatchObject({ limit: 1n, maxCreateRevision: 7n });
  });
});
