/**
 * Conformance: etcd v3.4 transactions (compare matrix, branches, one revision per txn,
 * read-your-writes inside a txn, nested txns, all-or-nothing).
 */
import { KeyNotFoundError } from '../errors';
import type { Compare, RequestOp } from '../kv-types';
import { CompareResult, CompareTarget } from '../kv-types';
import type { StateMachineFactory } from './conformance-harness.test';
import { dump, kvText, rejection, response } from './conformance-harness.test';
import { LogBuilder, b } from './log-builder.test';

const put = (key: string, value: string): RequestOp => ({ type: 'put', request: { key: b(key), value: b(value) } });
const get = (key: string, rangeEnd?: string): RequestOp => ({ type: 'range', request: { key: b(key), ...(rangeEnd !== undefined && { rangeEnd: b(rangeEnd) }) } });
const del = (key: string): RequestOp => ({ type: 'deleteRange', request: { key: b(key) } });
const numeric = (key: string, target: CompareTarget.Version | CompareTarget.Create | CompareTarget.Mod, result: CompareResult, operand: number, rangeEnd?: string): Compare => ({
  key: b(key),
  ...(rangeEnd !== undefined && { rangeEnd: b(rangeEnd) }),
  target,
  result,
  operand,
});
const value = (key: string, result: CompareResult, operand: string, rangeEnd?: string): Compare => ({
  key: b(key),
  ...(rangeEnd !== undefined && { rangeEnd: b(rangeEnd) }),
  target: CompareTarget.Value,
  result,
  value: b(operand),
});

const RESULTS: Array<[CompareResult, (order: number) => boolean]> = [
  [CompareResult.Equal, (o) => o === 0],
  [CompareResult.NotEqual, (o) => o !== 0],
  [CompareResult.Less, (o) => o < 0],
  [CompareResult.Greater, (o) => o > 0],
];

export function describeTxnConformance(factory: StateMachineFactory): void {
  describe('etcd transactions', () => {
    afterEach(() => factory.cleanup());

    it('compare matrix: every target and result against a key at create 2, mod 3, version 2, value "m"', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply([log.put('k', 'a'), log.put('k', 'm')]);
      const cases: Array<{ compare: Compare; expected: boolean; name: string }> = [];
      const numericTargets: Array<[CompareTarget.Version | CompareTarget.Create | CompareTarget.Mod, number]> = [
        [CompareTarget.Version, 2],
        [CompareTarget.Create, 2],
        [CompareTarget.Mod, 3],
      ];
      for (const [result, holds] of RESULTS) {
        for (const [target, actual] of numericTargets) {
          for (const operand of [actual - 1, actual, actual + 1]) {
            cases.push({ compare: numeric('k', target, result, operand), expected: holds(actual - operand), name: `${CompareTarget[target]} ${CompareResult[result]} ${operand}` });
          }
        }
        for (const operand of ['a', 'm', 'z', '', 'mm']) {
          cases.push({ compare: value('k', result, operand), expected: holds(Buffer.compare(b('m'), b(operand))), name: `Value ${CompareResult[result]} "${operand}"` });
        }
      }
      const entries = cases.map((c) => log.txn({ compare: [c.compare], success: [], failure: [] }));
      const results = await sm.apply(entries);
      const got = results.map((r, i) => `${cases[i]?.name}: ${response(r, 'txn').succeeded}`);
      expect(got).toEqual(cases.map((c) => `${c.name}: ${c.expected}`));
      expect(sm.revision()).toBe(3);
    });

    it('a missing key compares as version, create and mod 0, and every value compare fails', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      const compares: Array<[Compare, boolean]> = [
        [numeric('none', CompareTarget.Version, CompareResult.Equal, 0), true],
        [numeric('none', CompareTarget.Create, CompareResult.Equal, 0), true],
        [numeric('none', CompareTarget.Mod, CompareResult.Less, 1), true],
        [numeric('none', CompareTarget.Version, CompareResult.Greater, 0), false],
        [value('none', CompareResult.Equal, ''), false],
        [value('none', CompareResult.NotEqual, 'x'), false],
        [value('none', CompareResult.Less, 'z'), false],
      ];
      const results = await sm.apply(compares.map(([compare]) => log.txn({ compare: [compare], success: [], failure: [] })));
      expect(results.map((r) => response(r, 'txn').succeeded)).toEqual(compares.map(([, expected]) => expected));
    });

    it('a compare over a range must hold for every key; an empty range counts as a missing key', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply([log.put('r/a', '1'), log.put('r/b', '2'), log.put('r/b', '3')]);
      const results = await sm.apply([
        log.txn({ compare: [numeric('r/', CompareTarget.Version, CompareResult.Greater, 0, 'r0')], success: [], failure: [] }),
        log.txn({ compare: [numeric('r/', CompareTarget.Version, CompareResult.Equal, 1, 'r0')], success: [], failure: [] }),
        log.txn({ compare: [value('r/', CompareResult.Greater, '0', 'r0')], success: [], failure: [] }),
        log.txn({ compare: [numeric('s/', CompareTarget.Create, CompareResult.Equal, 0, 's0')], success: [], failure: [] }),
        log.txn({ compare: [value('s/', CompareResult.NotEqual, 'x', 's0')], success: [], failure: [] }),
        log.txn({ compare: [numeric('r/', CompareTarget.Mod, CompareResult.Less, 5, '\0')], success: [], failure: [] }),
      ]);
      expect(results.map((r) => response(r, 'txn').succeeded)).toEqual([true, false, true, true, false, true]);
    });

    it('runs the success or failure branch; all writes of a txn share one revision', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply([log.put('guard', 'open')]);
      const [ok, fail] = await sm.apply([
        log.txn({ compare: [value('guard', CompareResult.Equal, 'open')], success: [put('x', '1'), put('y', '1'), put('x', '2')], failure: [put('never', '1')] }),
        log.txn({ compare: [value('guard', CompareResult.Equal, 'closed')], success: [put('never', '1')], failure: [get('x'), del('y')] }),
      ]);
      const first = response(ok, 'txn');
      expect(first.succeeded).toBe(true);
      expect(first.header.revision).toBe(3);
      expect(first.responses.map((r) => r.type)).toEqual(['put', 'put', 'put']);
      const second = response(fail, 'txn');
      expect(second.succeeded).toBe(false);
      expect(second.header.revision).toBe(4);
      expect(await dump(sm)).toEqual({ revision: 4, count: 2, more: false, kvs: ['guard=open@c2/m2/v1', 'x=2@c3/m3/v2'] });
    });

    it('reads inside a txn see its earlier writes; sub-response headers follow etcd', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply([log.put('a', '0')]);
      const [result] = await sm.apply([log.txn({ compare: [], success: [get('a'), del('none'), put('a', '1'), get('a'), del('none'), del('a'), get('a', 'z')], failure: [] })]);
      const txn = response(result, 'txn');
      expect(txn.header.revision).toBe(3);
      const revisions = txn.responses.map((r) => r.response.header.revision);
      expect(revisions).toEqual([2, 2, 3, 3, 3, 3, 3]);
      const reads = txn.responses.filter((r) => r.type === 'range').map((r) => (r.type === 'range' ? r.response.kvs.map(kvText) : []));
      expect(reads).toEqual([['a=0@c2/m2/v1'], ['a=1@c2/m3/v2'], []]);
      expect(await dump(sm)).toEqual({ revision: 3, count: 0, more: false, kvs: [] });
    });

    it('a read-only txn, or one that deletes nothing, creates no revision', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply([log.put('a', '0')]);
      const results = await sm.apply([log.txn({ compare: [], success: [get('a')], failure: [] }), log.txn({ compare: [], success: [del('none')], failure: [] })]);
      expect(results.map((r) => response(r, 'txn').header.revision)).toEqual([2, 2]);
      expect(sm.revision()).toBe(2);
    });

    it('is all or nothing: an ignoreValue put on a missing key rejects the whole txn', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply([log.put('a', '0')]);
      const [result] = await sm.apply([log.txn({ compare: [], success: [put('b', '1'), { type: 'put', request: { key: b('missing'), value: b(''), ignoreValue: true } }], failure: [] })]);
      expect(rejection(result)).toBeInstanceOf(KeyNotFoundError);
      expect(await dump(sm)).toEqual({ revision: 2, count: 1, more: false, kvs: ['a=0@c2/m2/v1'] });
    });

    it('nested txns: compares see the state before the outer txn; writes share its revision', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply([log.put('flag', 'old')]);
      const nested: RequestOp = { type: 'txn', request: { compare: [value('flag', CompareResult.Equal, 'old')], success: [put('inner', 'saw-old')], failure: [put('inner', 'saw-new')] } };
      const [result] = await sm.apply([log.txn({ compare: [], success: [put('flag', 'new'), nested, get('inner')], failure: [] })]);
      const txn = response(result, 'txn');
      expect(txn.header.revision).toBe(3);
      const inner = txn.responses[1];
      expect(inner?.type === 'txn' && inner.response.succeeded).toBe(true);
      expect(inner?.type === 'txn' && inner.response.header.revision).toBe(0);
      expect((await dump(sm)).kvs).toEqual(['flag=new@c2/m3/v2', 'inner=saw-old@c3/m3/v1']);
    });
  });
}
