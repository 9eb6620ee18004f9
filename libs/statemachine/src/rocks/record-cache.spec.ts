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
    expect(Buffer.from((cache.get('a', Buffer.from('a')) as KeyValue).value).toString()).toBe('one');
    expect(cache.get('gone', Buffer.from('gone'))).toBeNull();
    expect(cache.get('never', Buffer.from('never'))).toBeUndefined();
    expect([cache.hits, cache.misses]).toEqual([2, 1]);
  });

  it('keeps its own copy of the value, not a view of the caller’s buffer, and answers with the asker’s key', () => {
    const cache = new RecordCache(1 << 20);
    const payload = Buffer.from('xxkey\u00ff\u0000\u0080valuexx', 'latin1');
    const kv: KeyValue = { key: payload.subarray(2, 5), createRevision: 2, modRevision: 3, version: 1, value: payload.subarray(5, 13) };
    cache.set('key', kv);
    payload.fill(0);
    const asked = Buffer.from('key');
    const cached = cache.get('key', asked) as KeyValue;
    expect(cached.key).toBe(asked);
    expect(Buffer.from(cached.value)).toEqual(Buffer.from('\u00ff\u0000\u0080value', 'latin1'));
    expect([cached.createRevision, cached.modRevision, cached.version]).toEqual([2, 3, 1]);
    // Each answer is a fresh record: changing one does not change the cache.
    cached.value.fill(0);
    expect(Buffer.from((cache.get('key', asked) as KeyValue).value).toString('latin1')).toBe('\u00ff\u0000\u0080value');
  });

  it('replaces an entry and charges only the latest version', () => {
    const cache = new RecordCache(1 << 20);
    cache.set('a', record('a', 'x'.repeat(1000)));
    const big = cache.sizeBytes;
    cache.set('a', record('a', 'y'));
    expect(cache.size).toBe(1);
    expect(cache.sizeBytes).toBe(big - 999);
    cache.set('a', null);
    expect(cache.get('a', Buffer.from('a'))).toBeNull();
    expect(cache.sizeBytes).toBe(big - 1000);
  });

  it('stays within its byte budget, dropping the entries written longest ago first', () => {
    const cache = new RecordCache(4_000);
    for (let i = 0; i < 100; i++) {
      cache.set(`k${i}`, record(`k${i}`, 'v'.repeat(100)));
      expect(cache.sizeBytes).toBeLessThanOrEqual(4_000);
    }
    expect(cache.get('k0', Buffer.from('k0'))).toBeUndefined();
    expect(cache.get('k99', Buffer.from('k99'))).toBeDefined();
    // Writing an old key again makes it the newest.
    const survivor = [...Array(100).keys()].find((i) => cache.get(`k${i}`, Buffer.from(`k${i}`)) !== undefined) as number;
    cache.set(`k${survivor}`, record(`k${survivor}`, 'w'));
    for (let i = 100; i < 105; i++) {
      cache.set(`k${i}`, record(`k${i}`, 'v'.repeat(100)));
    }
    expect(cache.get(`k${survivor}`, Buffer.from(`k${survivor}`))).toBeDefined();
  });

  it('does not keep a record larger than the whole budget', () => {
    const cache = new RecordCache(1_000);
    cache.set('small', record('small', 'v'));
    cache.set('huge', record('huge', 'v'.repeat(2_000)));
    expect(cache.get('huge', Buffer.from('huge'))).toBeUndefined();
    expect(cache.get('small', Buffer.from('small'))).toBeDefined();
  });
});
