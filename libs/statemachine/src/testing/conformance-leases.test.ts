/**
 * Conformance: leases as applied — grants, puts attached to a lease, revokes deleting the
 * keys in one revision, checkpoints, the LEASE compare — and leases in snapshots and reopens.
 */
import { CompareResult, CompareTarget } from '../kv-types';
import { KeyNotFoundError, LeaseExistsError, LeaseNotFoundError } from '../errors';
import type { StoreChange } from '../state-machine';
import type { StateMachineFactory } from './conformance-harness.test';
import { dump, kvText, rejection, response } from './conformance-harness.test';
import { LogBuilder, b } from './log-builder.test';

const L1 = 0x1234n;
const L2 = 0x7fff_0000_0000_0001n;

const keysOf = (info: { keys: readonly string[] } | undefined): string[] => [...(info?.keys ?? [])];

export function describeLeaseConformance(factory: StateMachineFactory): void {
  describe('leases', () => {
    afterEach(() => factory.cleanup());

    it('grants leases, refuses a taken id, attaches keys put with a lease and keeps them with ignoreLease', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      const results = await sm.apply([
        log.command({ type: 'leaseGrant', id: L1, ttl: 10 }),
        log.command({ type: 'leaseGrant', id: L1, ttl: 30 }),
        log.command({ type: 'leaseGrant', id: L2, ttl: 60 }),
        log.put('a', '1', { lease: L1 }),
        log.put('b', '1', { lease: L1 }),
        log.put('a', '2', { ignoreLease: true, prevKv: true }),
        log.put('c', '1', { lease: 99n }),
        log.put('missing', '', { ignoreLease: true }),
        log.put('b', '2', { lease: L2 }),
      ]);
      expect(response(results[0], 'leaseGrant')).toEqual({ header: { revision: 1 }, id: L1, ttl: 10 });
      expect(rejection(results[1])).toBeInstanceOf(LeaseExistsError);
      expect(response(results[5], 'put').prevKv?.lease).toBe(L1);
      expect(rejection(results[6])).toBeInstanceOf(LeaseNotFoundError);
      expect(rejection(results[7])).toBeInstanceOf(KeyNotFoundError);
      expect(sm.leases()).toEqual([
        { id: L1, ttl: 10, remainingTtl: 0 },
        { id: L2, ttl: 60, remainingTtl: 0 },
      ]);
      expect(keysOf(sm.lease(L1))).toEqual(['a']);
      expect(keysOf(sm.lease(L2))).toEqual(['b']);
      const all = await sm.range({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) });
      expect(all.kvs.map((kv) => [kvText(kv), kv.lease])).toEqual([
        ['a=2@c2/m4/v2', L1],
        ['b=2@c3/m5/v2', L2],
      ]);
    });

    it('revoke deletes the lease’s keys in key order in one revision; a put without a lease or a delete detaches', async () => {
      const sm = await factory.create();
      const changes: StoreChange[] = [];
      sm.onChange((change) => changes.push(change));
      const log = new LogBuilder();
      await sm.apply([log.command({ type: 'leaseGrant', id: L1, ttl: 10 }), log.put('z', '1', { lease: L1 }), log.put('m', '1', { lease: L1 }), log.put('a', '1', { lease: L1 }), log.put('free', '1', { lease: L1 })]);
      await sm.apply([log.put('free', '2'), log.put('a', '2', { lease: L1 }), log.del('m')]);
      expect(keysOf(sm.lease(L1))).toEqual(['a', 'z']);
      const [revoked, again] = await sm.apply([log.command({ type: 'leaseRevoke', id: L1 }), log.command({ type: 'leaseRevoke', id: L1 })]);
      expect(response(revoked, 'leaseRevoke')).toEqual({ header: { revision: 9 } });
      expect(rejection(again)).toBeInstanceOf(LeaseNotFoundError);
      const last = changes[changes.length - 1];
      expect(last?.type === 'committed' ? last.events.map((e) => `${e.type} ${Buffer.from(e.kv.key).toString()}@${e.kv.modRevision}`) : []).toEqual(['delete a@9', 'delete z@9']);
      expect((await dump(sm)).kvs).toEqual(['free=2@c5/m6/v2']);
      expect(sm.leases()).toEqual([]);
      expect(sm.lease(L1)).toBeUndefined();
    });

    it('a txn checks the leases of the puts on its path first (etcd order: the key, then the lease)', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      const put = (key: string, lease: bigint, extra: object = {}) => ({ type: 'put' as const, request: { key: b(key), value: b('v'), lease, ...extra } });
      const results = await sm.apply([
        log.command({ type: 'leaseGrant', id: L1, ttl: 10 }),
        log.txn({ compare: [], success: [put('x', L1), put('y', 77n)], failure: [] }),
        log.txn({ compare: [], success: [put('x', 77n, { ignoreLease: true })], failure: [] }),
        log.txn({ compare: [], success: [put('x', L1)], failure: [] }),
        log.txn({ compare: [{ key: b('x'), target: CompareTarget.Lease, result: CompareResult.Equal, lease: L1 }], success: [], failure: [] }),
        log.txn({ compare: [{ key: b('nope'), target: CompareTarget.Lease, result: CompareResult.Equal, lease: 0n }], success: [], failure: [] }),
      ]);
      expect(rejection(results[1])).toBeInstanceOf(LeaseNotFoundError);
      expect(rejection(results[2])).toBeInstanceOf(KeyNotFoundError);
      expect(response(results[3], 'txn').succeeded).toBe(true);
      expect(response(results[4], 'txn').succeeded).toBe(true);
      expect(response(results[5], 'txn').succeeded).toBe(true);
      expect(keysOf(sm.lease(L1))).toEqual(['x']);
    });

    it('checkpoints record remaining TTLs (unknown leases ignored); leases travel in snapshots', async () => {
      const source = await factory.create();
      const log = new LogBuilder();
      await source.apply([
        log.command({ type: 'leaseGrant', id: L1, ttl: 100 }),
        log.command({ type: 'leaseGrant', id: L2, ttl: 5 }),
        log.put('k1', 'v', { lease: L1 }),
        log.put('k2', 'v', { lease: L2 }),
        log.command({ type: 'leaseCheckpoint', checkpoints: [{ id: L1, remainingTtl: 42 }, { id: 5n, remainingTtl: 1 }] }),
      ]);
      expect(source.leases()).toEqual([
        { id: L1, ttl: 100, remainingTtl: 42 },
        { id: L2, ttl: 5, remainingTtl: 0 },
      ]);
      const info = await source.createSnapshot();
      const target = await factory.create();
      await target.restore(info.path);
      expect(target.leases()).toEqual(source.leases());
      expect(keysOf(target.lease(L2))).toEqual(['k2']);
      const revoke = [log.command({ type: 'leaseRevoke', id: L2 })];
      expect(await target.apply(revoke)).toEqual(await source.apply(revoke));
      expect(await dump(target)).toEqual(await dump(source));
    });

    if (factory.reopen !== undefined) {
      const reopen = factory.reopen.bind(factory);
      it('keeps leases and their keys across a reopen', async () => {
        const first = await factory.create();
        const log = new LogBuilder();
        await first.apply([log.command({ type: 'leaseGrant', id: L1, ttl: 100 }), log.put('k', 'v', { lease: L1 }), log.command({ type: 'leaseCheckpoint', checkpoints: [{ id: L1, remainingTtl: 7 }] })]);
        const reopened = await reopen(first);
        expect(reopened.leases()).toEqual([{ id: L1, ttl: 100, remainingTtl: 7 }]);
        expect(keysOf(reopened.lease(L1))).toEqual(['k']);
        expect((await reopened.range({ key: b('k') })).kvs[0]?.lease).toBe(L1);
      });
    }
  });
}
