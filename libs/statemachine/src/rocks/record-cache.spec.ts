import type { KeyValue } from '../kv-types';
import { RecordCache } from './record-cache';

function record(key: string, value: string, modRevision = 2): KeyValue {
  return { key: Buffer.from(key), createRevision: 2, modRevision, version: 1, value: Buffer.from(value) };
}

describe('RecordCache', () => {
  it('answers cached records, known-absent keys (null) and misses (undefined)', () => {
    const cache = new RecordCache(1 << 20);
    cache.set('a', record('a', 'one'));
    cache.set('gone', null);
    expect(Buffer.from((cache.get('a') as KeyValue).value).toString()).toBe('one');
    expect(cache.get('gone')).toBeNull();
    expect(cache.get('never')).toBeUndefined();
    expect([cache.hits, cache.misses]).toEqual([2, 1]);
  });

  it('keeps its own copy of the key and value, not a view of the caller’s buffer', () => {
    const cache = new RecordCache(1 << 20);
    const payload = Buffer.from('xxkeyvaluexx');
    const kv: KeyValue = { key: payload.subarray(2, 5), createRevision: 2, modRevision: 3, version: 1, value: payload.subarray(5, 10) };
    cache.set('key', kv);
    payload.fill(0);
    const cached = cache.get('key') as KeyValue;
    expect(Buffer.from(cached.key).toString()).toBe('key');
    expect(Buffer.from(cached.value).toString()).toBe('value');
    expect(cached.value.buffer.byteLength).toBe(8); // key + value, nothing of the payload
    expect([cached.createRevision, cached.modRevision, cached.version]).toEqual([2, 3, 1]);
  });

  it('replaces an entry and charges only the latest version', () => {
    const cache = new RecordCache(1 << 20);
    cache.set('a', record('a', 'x'.repeat(1000)));
    const big = cache.sizeBytes;
    cache.set('a', record('a', 'y'));
    expect(cache.size).toBe(1);
    expect(cache.sizeBytes).toBe(big - 999);
    cache.set('a', null);
    expect(cache.get('a')).toBeNull();
    expect(cache.sizeBytes).toBe(big - 1000);
  });

  it('stays within its byte budget, dropping the entries written longest ago first', () => {
    const cache = new RecordCache(4_000);
    for (let i = 0; i < 100; i++) {
      cache.set(`k${i}`, record(`k${i}`, 'v'.repeat(100)));
      expect(cache.sizeBytes).toBeLessThanOrEqual(4_000);
    }
    expect(cache.get('k0')).toBeUndefined();
    expect(cache.get('k99')).toBeDefined();
    // Writing an old key again makes it the newest.
    const survivor = [...Array(100).keys()].find((i) => cache.get(`k${i}`) !== undefined) as number;
    cache.set(`k${survivor}`, record(`k${survivor}`, 'w'));
    for (let i = 100; i < 105; i++) {
      cache.set(`k${i}`, record(`k${i}`, 'v'.repeat(100)));
    }
    expect(cache.get(`k${survivor}`)).toBeDefined();
  });

  it('does not keep a record larger than the whole budget', () => {
    const cache = new RecordCache(1_000);
    cache.set('small', record('small', 'v'));
    cache.set('huge', record('huge', 'v'.repeat(2_000)));
    expect(cache.get('huge')).toBeUndefined();
    expect(cache.get('small')).toBeDefined();
  });
});
