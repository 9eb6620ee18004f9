/**
 * Proof (issue 4): exactly-once retries on real processes. A write sent again with the same
 * `keyval-client-id` / `keyval-seq` metadata is applied once and answered with the original
 * response (same header revision, same txn outcome) — also when the retry goes through a
 * follower; a lower sequence number is refused FAILED_PRECONDITION.
 */
import type { CallOptions } from '@keyval/grpc';
import { CLIENT_ID_KEY, SEQUENCE_KEY } from '@keyval/api';
import { etcd } from '@keyval/proto';
import { clusterForSuite, explain } from './harness/cluster';
import { bytes, grpcFailure } from './harness/kv-helpers';
import type { TestMember } from './harness/member-process';

jest.setTimeout(60_000);

/** Call options carrying a client session's id and sequence number. */
const session = (clientId: string, seq: number | string): CallOptions => ({ timeoutMs: 5_000, metadata: { [CLIENT_ID_KEY]: clientId, [SEQUENCE_KEY]: String(seq) } });

/** A txn that increments the counter at `key` from `from` by compare-and-swap, reading it back. */
function increment(key: string, from: number): etcd.TxnRequest {
  return etcd.TxnRequest.fromPartial({
    compare: [{ key: bytes(key), target: etcd.Compare_CompareTarget.VALUE, result: etcd.Compare_CompareResult.EQUAL, targetUnion: { $case: 'value', value: bytes(String(from)) } }],
    success: [{ request: { $case: 'requestPut', value: { key: bytes(key), value: bytes(String(from + 1)) } } }],
    failure: [{ request: { $case: 'requestRange', value: { key: bytes(key) } } }],
  });
}

async function read(m: TestMember, key: string): Promise<{ value: string | undefined; version: bigint | undefined; modRevision: bigint | undefined }> {
  const kv = (await m.kv().range(etcd.RangeRequest.fromPartial({ key: bytes(key) }), { timeoutMs: 5_000 })).kvs[0];
  return { value: kv?.value.toString(), version: kv?.version, modRevision: kv?.modRevision };
}

describe('exactly-once retries with client sessions (real processes)', () => {
  const c = clusterForSuite({ size: 3 });
  const leader = (): Promise<TestMember> => c().leader();
  const follower = async (): Promise<TestMember> => c().followersOf(await leader())[0] as TestMember;

  it(
    'a put retried with the same client id and seq applies once and returns the original revision',
    explain(c, async () => {
      const m = await leader();
      const put = etcd.PutRequest.fromPartial({ key: bytes('once/put'), value: bytes('v1'), prevKv: true });
      const first = await m.kv().put(put, session('client-put', 1));
      const retry = await m.kv().put(put, session('client-put', 1));
      const viaFollower = await (await follower()).kv().put(put, session('client-put', 1));
      expect(retry.header?.revision).toBe(first.header?.revision);
      expect(viaFollower.header?.revision).toBe(first.header?.revision);
      expect(retry.prevKv).toBeUndefined(); // the original answer: there was no previous value
      const now = await read(m, 'once/put');
      expect(now).toEqual({ value: 'v1', version: 1n, modRevision: first.header?.revision });
    }),
  );

  it(
    'a compare-and-swap increment retried (directly and through a follower) applies once, and answers with its original outcome',
    explain(c, async () => {
      const m = await leader();
      const f = await follower();
      await m.kv().put(etcd.PutRequest.fromPartial({ key: bytes('once/counter'), value: bytes('0') }), { timeoutMs: 5_000 });
      const first = await f.kv().txn(increment('once/counter', 0), session('client-cas', 1));
      expect(first.succeeded).toBe(true);
      // Re-executed, the compare (value == "0") would now fail: the retry must replay the
      // original answer, not run the txn again.
      const retries = [await m.kv().txn(increment('once/counter', 0), session('client-cas', 1)), await f.kv().txn(increment('once/counter', 0), session('client-cas', 1))];
      for (const r of retries) {
        expect(r.succeeded).toBe(true);
        expect(r.header?.revision).toBe(first.header?.revision);
      }
      expect(await read(m, 'once/counter')).toEqual({ value: '1', version: 2n, modRevision: first.header?.revision });
      // The session goes on: seq 2 is a new write.
      const second = await m.kv().txn(increment('once/counter', 1), session('client-cas', 2));
      expect(second.succeeded).toBe(true);
      expect(second.header?.revision).toBe((first.header?.revision ?? 0n) + 1n);
      expect((await read(f, 'once/counter')).value).toBe('2');
    }),
  );

  it(
    'a lower sequence number is refused FAILED_PRECONDITION, and so is a new client not starting at 1',
    explain(c, async () => {
      const m = await follower();
      const put = (seq: number): Promise<etcd.PutResponse> => m.kv().put(etcd.PutRequest.fromPartial({ key: bytes(`once/seq${seq}`), value: bytes('v') }), session('client-seq', seq));
      await put(1);
      await put(2);
      await put(3);
      const stale = await grpcFailure(put(2));
      expect(stale.codeName).toBe('FAILED_PRECONDITION');
      expect(stale.error.details).toMatch(/stale sequence number 2 .* 3 was already applied/);
      // The stale write was not applied again (it was applied once, at seq 2).
      expect((await read(m, 'once/seq2')).version).toBe(1n);
      const fresh = await grpcFailure(m.kv().put(etcd.PutRequest.fromPartial({ key: bytes('once/x'), value: bytes('v') }), session('client-new', 5)));
      expect(fresh.codeName).toBe('FAILED_PRECONDITION');
      expect(fresh.error.details).toMatch(/start a new session at sequence 1/);
      expect((await read(m, 'once/x')).value).toBeUndefined();
    }),
  );

  it(
    'malformed session metadata → INVALID_ARGUMENT',
    explain(c, async () => {
      const m = await leader();
      const put = etcd.PutRequest.fromPartial({ key: bytes('once/bad'), value: bytes('v') });
      const noId = await grpcFailure(m.kv().put(put, { timeoutMs: 5_000, metadata: { [SEQUENCE_KEY]: '1' } }));
      expect(noId.codeName).toBe('INVALID_ARGUMENT');
      const badSeq = await grpcFailure(m.kv().put(put, session('client-bad', 'zero')));
      expect(badSeq.codeName).toBe('INVALID_ARGUMENT');
      expect(badSeq.error.details).toContain(SEQUENCE_KEY);
    }),
  );
});
