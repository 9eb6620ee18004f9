/**
 * Conformance: client sessions (dissertation §6.3) and membership from ConfChange entries.
 */
import { ConfChangeType } from '@keyval/raft';
import { encodeMemberContext } from '../engine/membership';
import { ApplyOrderError, KeyNotFoundError, ResponseNotRetainedError, SessionExpiredError, StaleSequenceError } from '../errors';
import type { StateMachineFactory } from './conformance-harness.test';
import { dump, kvText, rejection, response } from './conformance-harness.test';
import { LogBuilder, session } from './log-builder.test';

export function describeSessionConformance(factory: StateMachineFactory): void {
  describe('client sessions', () => {
    afterEach(() => factory.cleanup());

    it('applies a write at most once: a retry gets the original response and changes nothing', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      const [first] = await sm.apply([log.put('k', 'v1', { prevKv: true }, session(7n, 1))]);
      const [other, retry] = await sm.apply([log.put('k', 'v2', {}, session('other', 1)), log.put('k', 'v1', { prevKv: true }, session(7n, 1))]);
      expect(response(first, 'put')).toEqual({ header: { revision: 2 } });
      expect(response(other, 'put').header.revision).toBe(3);
      expect(retry).toEqual({ kind: 'response', index: 3, response: { type: 'put', response: { header: { revision: 2 } } }, replayed: true });
      expect(await dump(sm)).toEqual({ revision: 3, count: 1, more: false, kvs: ['k=v2@c2/m3/v2'] });
    });

    it('rejects a sequence number lower than the last applied one', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      const results = await sm.apply([log.put('a', '1', {}, session('c', 1)), log.put('a', '5', {}, session('c', 5)), log.put('a', '3', {}, session('c', 3))]);
      expect(results.map((r) => r.kind)).toEqual(['response', 'response', 'rejected']);
      expect(rejection(results[2])).toBeInstanceOf(StaleSequenceError);
      expect(rejection(results[2]).message).toContain('stale sequence number 3');
      expect((await dump(sm)).kvs).toEqual(['a=5@c2/m3/v2']);
      expect(sm.sessions()).toEqual([{ clientId: 'c', lastSeq: 5, lastIndex: 2, lastSeenMs: 1000, retained: true }]);
    });

    it('remembers a rejection like a response', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      const results = await sm.apply([log.put('missing', '', { ignoreValue: true }, session(1n, 1)), log.put('missing', '', { ignoreValue: true }, session(1n, 1))]);
      expect(rejection(results[0])).toBeInstanceOf(KeyNotFoundError);
      expect(results[1]).toMatchObject({ kind: 'rejected', replayed: true });
      expect(rejection(results[1])).toBeInstanceOf(KeyNotFoundError);
      expect(rejection(results[1]).message).toBe(rejection(results[0]).message);
    });

    it('a session that continues (seq > 1) without being known is reported expired', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      const [result] = await sm.apply([log.put('a', '1', {}, session('ghost', 4))]);
      expect(rejection(result)).toBeInstanceOf(SessionExpiredError);
      expect(sm.revision()).toBe(1);
    });

    it('expires a session idle longer than the TTL of log time (never by the local clock)', async () => {
      const sm = await factory.create({ sessionTtlMs: 10_000 });
      const log = new LogBuilder();
      log.timeMs = 1_000;
      await sm.apply([log.put('a', '1', {}, session('c', 1)), log.put('b', '1', {}, session('d', 1))]);
      log.timeMs = 11_000; // exactly the TTL later: still alive
      const [alive] = await sm.apply([log.put('a', '2', {}, session('c', 2))]);
      expect(alive?.kind).toBe('response');
      log.timeMs = 11_001; // d was last used at 1_000: expired by this noop's time
      await sm.apply([log.noop()]);
      expect(sm.sessions().map((x) => x.clientId)).toEqual(['c']);
      const [expired] = await sm.apply([log.put('b', '2', {}, session('d', 2))]);
      expect(rejection(expired)).toBeInstanceOf(SessionExpiredError);
      log.timeMs = 5_000; // a leader with a slower clock: log time does not go back
      await sm.apply([log.noop()]);
      expect(sm.logTimeMs()).toBe(11_001);
    });

    it('evicts the least recently used session beyond maxSessions', async () => {
      const sm = await factory.create({ maxSessions: 2 });
      const log = new LogBuilder();
      await sm.apply([log.put('a', '1', {}, session('s1', 1)), log.put('a', '2', {}, session('s2', 1)), log.put('a', '3', {}, session('s1', 2)), log.put('a', '4', {}, session('s3', 1))]);
      expect(sm.sessions().map((x) => x.clientId)).toEqual(['s1', 's3']);
    });

    it('answers a retry whose response was too large to remember with ResponseNotRetained', async () => {
      const sm = await factory.create({ maxRememberedResponseBytes: 64 });
      const log = new LogBuilder();
      await sm.apply([log.put('big', 'x'.repeat(200))]);
      const results = await sm.apply([log.put('big', 'y', { prevKv: true }, session(9n, 1)), log.put('big', 'y', { prevKv: true }, session(9n, 1))]);
      expect(kvText(response(results[0], 'put').prevKv)).toContain('big=xxx');
      expect(rejection(results[1])).toBeInstanceOf(ResponseNotRetainedError);
      expect(sm.sessions()).toMatchObject([{ clientId: 9n, retained: false }]);
      expect(sm.revision()).toBe(3);
    });
  });

  describe('membership and apply order', () => {
    afterEach(() => factory.cleanup());

    it('applies ConfChange entries: configuration verbatim, members table from the context', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      const m1 = encodeMemberContext({ name: 'm1', peerUrls: ['http://127.0.0.1:2380'], clientUrls: ['http://127.0.0.1:2379'] });
      const m2 = encodeMemberContext({ name: 'm2', peerUrls: ['http://127.0.0.2:2380'], clientUrls: [] });
      const results = await sm.apply([
        log.confChange(ConfChangeType.AddVoter, 1n, m1, [1n]),
        log.confChange(ConfChangeType.AddLearner, 2n, m2, [1n], [2n]),
        log.confChange(ConfChangeType.PromoteLearner, 2n, new Uint8Array(0), [1n, 2n]),
        log.confChange(ConfChangeType.AddVoter, 3n, Uint8Array.of(123, 0), [1n, 2n, 3n]),
        log.confChange(ConfChangeType.RemoveMember, 1n, new Uint8Array(0), [2n, 3n]),
      ]);
      expect(results.map((r) => r.kind)).toEqual(['confChange', 'confChange', 'confChange', 'confChange', 'confChange']);
      expect(results[3]).toMatchObject({ kind: 'confChange', contextError: expect.any(String) });
      expect(sm.appliedIndex()).toBe(5);
      expect(sm.revision()).toBe(1);
      expect(sm.membership()).toEqual({
        config: { voters: [2n, 3n], learners: [] },
        members: [
          { id: 2n, name: 'm2', peerUrls: ['http://127.0.0.2:2380'], clientUrls: [] },
          { id: 3n, name: '', peerUrls: [], clientUrls: [] },
        ],
      });
    });

    it('refuses entries that do not continue the applied index, applying none of them', async () => {
      const sm = await factory.create();
      const log = new LogBuilder();
      await sm.apply([log.put('a', '1')]);
      const skipped = new LogBuilder(3);
      await expect(sm.apply([skipped.put('a', '2')])).rejects.toBeInstanceOf(ApplyOrderError);
      const again = new LogBuilder(1);
      await expect(sm.apply([again.put('a', '2')])).rejects.toBeInstanceOf(ApplyOrderError);
      expect(sm.appliedIndex()).toBe(1);
      await sm.apply([log.put('a', '2')]);
      expect(sm.appliedIndex()).toBe(2);
    });
  });
}
