import { prefixRangeEnd } from './key-span';

describe('prefixRangeEnd', () => {
  it('bumps the last byte below 0xff and drops the 0xff tail', () => {
    expect(Buffer.from(prefixRangeEnd(Buffer.from('abc'))).toString()).toBe('abd');
    expect([...prefixRangeEnd(Uint8Array.from([0x61, 0xff, 0xff]))]).toEqual([0x62]);
    expect([...prefixRangeEnd(Uint8Array.from([0xff, 0xff]))]).toEqual([0]);
  });

  it('never changes its argument, a Buffer (whose slice is a view) included', () => {
    const prefix = Buffer.from('lock/');
    const end = prefixRangeEnd(prefix);
    expect(prefix.toString()).toBe('lock/');
    expect(Buffer.from(end).toString()).toBe('lock0');
    const bytes = Uint8Array.from([1, 2]);
    prefixRangeEnd(bytes);
    expect([...bytes]).toEqual([1, 2]);
  });
});
