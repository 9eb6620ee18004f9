/**
 * Conformance: etcd v3.4 key-value semantics (revisions, versions, ranges, deletes, prev_kv).
 */
import { prefixRangeEnd } from '../engine/key-span';
import { CommandLimitError, KeyNotFoundError, MalformedCommandError, RangeTooLargeError } from '../errors';
import { EntryType } from '@keyval/raft';
import type { StateMachineFactory } from './conformance-harness.test';
import { dump, kvText, rangeText, rejection, response } from './conformance-harness.test';
import { LogBuilder, b } from './log-builder.test';

export function describeKvConformance(factory: StateMachineFactory): void {
  describe('etcd key-value semantics', () => {
    afterEach(() => factory.cleanup());

    it('starts at revision 1 with nothing applied', async () => {
      const sm = await factory.create();
      expect(sm.appliedIndex()).toBe(0);
      expect(sm.revision()).toBe(1);
      expect(await dump(sm)).toEqual({ revision: 1, count: 0, more: false, kvs: [] });
    });

    it('put creates at version 1 and each put bumps version and mod revision, keeping create revision', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      const results = await sm.apply([log.put('a', '1'), log.put('a', '2', { prevKv: true }), log.put('b', 'x', { prevKv: true })]);
      expect(response(results[0], 'put')).toEqual({ header: { revision: 2 } });
      expect(kvText(response(results[1], 'put').prevKv)).toBe('a=1@c2/m2/v1');
      expect(response(results[1], 'put').header.revision).toBe(3);
      expect(response(results[2], 'put').prevKv).toBeUndefined();
      expect(await dump(sm)).toEqual({ revision: 4, count: 2, more: false, kvs: ['a=2@c2/m3/v2', 'b=x@c4/m4/v1'] });
      expect(sm.appliedIndex()).toBe(3);
    });

    it('put with ignoreValue keeps the value and fails with KeyNotFound on a missing key', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      const results = await sm.apply([log.put('a', 'keep'), log.put('a', '', { ignoreValue: true, prevKv: true }), log.put('zz', '', { ignoreValue: true })]);
      expect(kvText(response(results[1], 'put').prevKv)).toBe('a=keep@c2/m2/v1');
      expect(rejection(results[2])).toBeInstanceOf(KeyNotFoundError);
      expect(await dump(sm)).toEqual({ revision: 3, count: 1, more: false, kvs: ['a=keep@c2/m3/v2'] });
    });

    it('a delete of nothing keeps the revision; a delete resets the key so recreating starts at version 1', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      const results = await sm.apply([log.put('k', 'v1'), log.put('k', 'v2'), log.del('nothing'), log.del('k', undefined, { prevKv: true }), log.put('k', 'v3')]);
      expect(response(results[2], 'deleteRange')).toEqual({ header: { revision: 3 }, deleted: 0, prevKvs: [] });
      const deleted = response(results[3], 'deleteRange');
      expect(deleted.header.revision).toBe(4);
      expect(deleted.deleted).toBe(1);
      expect(deleted.prevKvs.map(kvText)).toEqual(['k=v2@c2/m3/v2']);
      expect(await dump(sm)).toEqual({ revision: 5, count: 1, more: false, kvs: ['k=v3@c5/m5/v1'] });
    });

    it('deletes a range and a prefix under one revision each, returning prev_kvs in key order', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply(['a', 'b', 'c', 'd', 'p/1', 'p/2', 'q'].map((k) => log.put(k, k.toUpperCase())));
      const results = await sm.apply([log.del('b', 'd', { prevKv: true }), log.del('p/', Buffer.from(prefixRangeEnd(b('p/'))).toString())]);
      const first = response(results[0], 'deleteRange');
      expect(first.deleted).toBe(2);
      expect(first.header.revision).toBe(9);
      expect(first.prevKvs.map(kvText)).toEqual(['b=B@c3/m3/v1', 'c=C@c4/m4/v1']);
      const second = response(results[1], 'deleteRange');
      expect(second).toEqual({ header: { revision: 10 }, deleted: 2, prevKvs: [] });
      expect((await dump(sm)).kvs).toEqual(['a=A@c2/m2/v1', 'd=D@c5/m5/v1', 'q=Q@c8/m8/v1']);
    });

    it('ranges: single key, [key, end), prefix, "\\0" to the end, all keys, inverted', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply(['a', 'ab', 'abc', 'b', 'c'].map((k) => log.put(k, k)));
      const keys = async (key: string, rangeEnd?: Uint8Array): Promise<string[]> =>
        (await sm.range({ key: b(key), ...(rangeEnd !== undefined && { rangeEnd }) })).kvs.map((kv) => Buffer.from(kv.key).toString());
      expect(await keys('ab')).toEqual(['ab']);
      expect(await keys('zz')).toEqual([]);
      expect(await keys('a', b('b'))).toEqual(['a', 'ab', 'abc']);
      expect(await keys('ab', prefixRangeEnd(b('ab')))).toEqual(['ab', 'abc']);
      expect(await keys('ab', Uint8Array.of(0))).toEqual(['ab', 'abc', 'b', 'c']);
      expect(await keys('\0', Uint8Array.of(0))).toEqual(['a', 'ab', 'abc', 'b', 'c']);
      expect(await keys('c', b('a'))).toEqual([]);
      expect(await keys('b', b('b'))).toEqual([]);
    });

    it('orders binary keys by unsigned bytes', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      const raw = [Uint8Array.of(0xff), Uint8Array.of(0x00, 0x01), Uint8Array.of(0x7f, 0xff), Uint8Array.of(0x80), Uint8Array.of(0x00)];
      await sm.apply(raw.map((key) => log.command({ type: 'put', request: { key, value: key } })));
      const all = await sm.range({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) });
      expect(all.kvs.map((kv) => Buffer.from(kv.key).toString('hex'))).toEqual(['00', '0001', '7fff', '80', 'ff']);
      const high = await sm.range({ key: Uint8Array.of(0x80), rangeEnd: prefixRangeEnd(Uint8Array.of(0xff)) });
      expect(high.kvs.map((kv) => Buffer.from(kv.key).toString('hex'))).toEqual(['80', 'ff']);
      expect((await sm.range({ key: Uint8Array.of(0xff), rangeEnd: prefixRangeEnd(Uint8Array.of(0xff)) })).count).toBe(1);
    });

    it('limit, count, more, countOnly and keysOnly', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply(['k1', 'k2', 'k3', 'k4'].map((k) => log.put(k, `value-${k}`)));
      const span = { key: b('k'), rangeEnd: b('l') };
      expect(rangeText(await sm.range({ ...span, limit: 2 }))).toEqual({ revision: 5, count: 4, more: true, kvs: ['k1=value-k1@c2/m2/v1', 'k2=value-k2@c3/m3/v1'] });
      expect(rangeText(await sm.range({ ...span, limit: 4 }))).toMatchObject({ count: 4, more: false });
      expect(rangeText(await sm.range({ ...span, limit: 9 }))).toMatchObject({ count: 4, more: false });
      expect(rangeText(await sm.range({ ...span, countOnly: true, limit: 1 }))).toEqual({ revision: 5, count: 4, more: false, kvs: [] });
      const keysOnly = await sm.range({ ...span, keysOnly: true, limit: 1 });
      expect(keysOnly.kvs.map(kvText)).toEqual(['k1=@c2/m2/v1']);
      expect(rangeText(await sm.range({ key: b('k3'), keysOnly: true }))).toEqual({ revision: 5, count: 1, more: false, kvs: ['k3=@c4/m4/v1'] });
      expect(rangeText(await sm.range({ key: b('k3'), countOnly: true }))).toEqual({ revision: 5, count: 1, more: false, kvs: [] });
    });

    it('refuses a range larger than maxRangeResponseBytes', async () => {
      const sm = await factory.create({ maxRangeResponseBytes: 200 });
      const log = new LogBuilder();
      await sm.apply(['a', 'b', 'c'].map((k) => log.put(k, 'x'.repeat(90))));
      await expect(sm.range({ key: b('a'), rangeEnd: b('z') })).rejects.toBeInstanceOf(RangeTooLargeError);
      expect((await sm.range({ key: b('a'), rangeEnd: b('z'), limit: 1 })).count).toBe(3);
      expect((await sm.range({ key: b('a'), rangeEnd: b('z'), countOnly: true })).count).toBe(3);
    });

    it('applies empty entries, noops and malformed or over-limit commands as no-ops that advance the applied index', async () => {
      const sm = await factory.create({ maxKeyBytes: 8 });
      const log = new LogBuilder();
      const results = await sm.apply([log.empty(), log.noop(), log.raw(EntryType.Normal, Uint8Array.of(9, 9, 9)), log.put('much-too-long-key', 'v'), log.put('ok', 'v')]);
      expect(results.map((r) => r.kind)).toEqual(['empty', 'empty', 'rejected', 'rejected', 'response']);
      expect(rejection(results[2])).toBeInstanceOf(MalformedCommandError);
      expect(rejection(results[3])).toBeInstanceOf(CommandLimitError);
      expect(sm.appliedIndex()).toBe(5);
      expect(sm.appliedTerm()).toBe(1);
      expect(sm.revision()).toBe(2);
    });

    it('reads concurrent with applies see one point in time: the revision matches the data', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      let done = false;
      const writer = (async () => {
        for (let batch = 0; batch < 40; batch++) {
          await sm.apply(Array.from({ length: 25 }, (_, i) => log.put(`c/${batch * 25 + i}`, 'v')));
        }
        done = true;
      })();
      const reads: Array<{ revision: number; count: number; maxMod: number }> = [];
      while (!done) {
        const batch = await Promise.all(
          [0, 1, 2].map(() => sm.range({ key: b('c/'), rangeEnd: b('c0'), keysOnly: true })),
        );
        for (const res of batch) {
          reads.push({ revision: res.header.revision, count: res.count, maxMod: Math.max(1, ...res.kvs.map((kv) => kv.modRevision)) });
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      await writer;
      expect(reads.length).toBeGreaterThanOrEqual(3);
      for (const read of reads) {
        // Every put made one key and one revision: a consistent read has count = revision - 1.
        expect(read).toEqual({ revision: read.count + 1, count: read.count, maxMod: read.revision });
      }
      expect(sm.revision()).toBe(1001);
    });

    it('sees the batch’s own earlier writes (prev_kv, versions) within one apply call', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      const results = await sm.apply([log.put('x', '1'), log.put('x', '2', { prevKv: true }), log.del('x', undefined, { prevKv: true }), log.put('x', '3', { prevKv: true })]);
      expect(kvText(response(results[1], 'put').prevKv)).toBe('x=1@c2/m2/v1');
      expect(response(results[2], 'deleteRange').prevKvs.map(kvText)).toEqual(['x=2@c2/m3/v2']);
      expect(response(results[3], 'put').prevKv).toBeUndefined();
      expect((await dump(sm)).kvs).toEqual(['x=3@c5/m5/v1']);
    });
  });
}
