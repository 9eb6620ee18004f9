/**
 * Proof (issue 4): deadlines, size limits and bad requests are answered with the right gRPC
 * codes and messages by real member processes — on the leader and on followers alike — and
 * without a quorum a request ends at its deadline (DEADLINE_EXCEEDED or UNAVAILABLE), never
 * hanging. Driven through the lean client with `etcd.KVDefinition`.
 */
import type { CallOptions } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { clusterForSuite, explain } from './harness/cluster';
import { bytes, grpcFailure } from './harness/kv-helpers';
import type { CallFailure } from './harness/kv-helpers';
import type { TestMember } from './harness/member-process';
import { waitFor } from './harness/wait-for';

jest.setTimeout(90_000);

/** Every member of this cluster refuses requests over 64 KiB. */
const MAX_REQUEST_BYTES = 64 * 1024;
/** The deadline of a call that brings none (--request-timeout), kept short for the test. */
const REQUEST_TIMEOUT_MS = 1_000;
/** How late after its deadline a failed call may answer on a loaded CI machine. */
const LATE_MARGIN_MS = 1_500;

const opts: CallOptions = { timeoutMs: 5_000 };
const put = (m: TestMember, p: Partial<etcd.PutRequest>, o: CallOptions = opts): Promise<etcd.PutResponse> => m.kv().put(etcd.PutRequest.fromPartial(p), o);
const range = (m: TestMember, p: Partial<etcd.RangeRequest>, o: CallOptions = opts): Promise<etcd.RangeResponse> => m.kv().range(etcd.RangeRequest.fromPartial(p), o);
const del = (m: TestMember, p: Partial<etcd.DeleteRangeRequest>, o: CallOptions = opts): Promise<etcd.DeleteRangeResponse> => m.kv().deleteRange(etcd.DeleteRangeRequest.fromPartial(p), o);
const txn = (m: TestMember, p: etcd.DeepPartial<etcd.TxnRequest>, o: CallOptions = opts): Promise<etcd.TxnResponse> => m.kv().txn(etcd.TxnRequest.fromPartial(p), o);
const putOp = (key: string, value = 'v'): etcd.DeepPartial<etcd.RequestOp> => ({ request: { $case: 'requestPut', value: { key: bytes(key), value: bytes(value) } } });

function expectFailure(f: CallFailure, codeName: string, details: string | RegExp): void {
  expect({ code: f.codeName, details: f.error.details }).toEqual({ code: codeName, details: typeof details === 'string' ? details : expect.stringMatching(details) });
}

describe('deadlines, size limits and bad requests (real processes)', () => {
  const c = clusterForSuite({ size: 3, memberFlags: () => [`--max-request-bytes=${MAX_REQUEST_BYTES}`, `--request-timeout=${REQUEST_TIMEOUT_MS}`] });

  describe('with a quorum', () => {
    it(
      'an empty key → INVALID_ARGUMENT "etcdserver: key is not provided", for put, range, delete and txn, on every member',
      explain(c, async () => {
        for (const m of c().members) {
          const calls = [() => put(m, { key: bytes(''), value: bytes('v') }), () => range(m, { key: bytes('') }), () => del(m, { key: bytes('') }), () => txn(m, { success: [putOp('')] })];
          for (const call of calls) {
            expectFailure(await grpcFailure(call()), 'INVALID_ARGUMENT', 'etcdserver: key is not provided');
          }
        }
      }),
    );

    it(
      'a request over --max-request-bytes → INVALID_ARGUMENT naming the size and the limit; one under it succeeds',
      explain(c, async () => {
        const leader = await c().leader();
        for (const m of [leader, ...c().followersOf(leader)]) {
          const over = await grpcFailure(put(m, { key: bytes('big'), value: Buffer.alloc(70 * 1024, 0x61) }));
          expectFailure(over, 'INVALID_ARGUMENT', new RegExp(`^etcdserver: request is too large \\(${70 * 1024 + 3} bytes; the limit is ${MAX_REQUEST_BYTES}\\)$`));
          const overTxn = await grpcFailure(txn(m, { success: [putOp('t1', 'x'.repeat(40 * 1024)), putOp('t2', 'y'.repeat(40 * 1024))] }));
          expectFailure(overTxn, 'INVALID_ARGUMENT', /^etcdserver: request is too large \(\d+ bytes; the limit is 65536\)$/);
          await put(m, { key: bytes(`fits-${m.name}`), value: Buffer.alloc(60 * 1024, 0x62) });
        }
        // Far beyond the limit, the gRPC layer refuses the message from its length prefix.
        const huge = await grpcFailure(put(c().members[0] as TestMember, { key: bytes('huge'), value: Buffer.alloc(1024 * 1024) }));
        expect(huge.codeName).toBe('RESOURCE_EXHAUSTED');
      }),
    );

    it(
      'an inverted range is empty (as etcd); an unknown compare target → INVALID_ARGUMENT; too many txn ops → INVALID_ARGUMENT',
      explain(c, async () => {
        const m = c().members[1] as TestMember;
        expect((await range(m, { key: bytes('b'), rangeEnd: bytes('a') })).count).toBe(0n);
        expect((await del(m, { key: bytes('b'), rangeEnd: bytes('a') })).deleted).toBe(0n);
        const unknownTarget = txn(m, { compare: [{ key: bytes('k'), target: 99 as etcd.Compare_CompareTarget, result: etcd.Compare_CompareResult.EQUAL }] });
        expectFailure(await grpcFailure(unknownTarget), 'INVALID_ARGUMENT', 'unknown compare target 99');
        const ops = Array.from({ length: 129 }, (_, i) => putOp(`op${i}`));
        expectFailure(await grpcFailure(txn(m, { success: ops })), 'INVALID_ARGUMENT', /^etcdserver: too many operations in txn request \(129; the limit is 128\)$/);
        expectFailure(await grpcFailure(txn(m, { success: [putOp('dup'), putOp('dup')] })), 'INVALID_ARGUMENT', 'etcdserver: duplicate key given in txn request');
      }),
    );

    it(
      'an unknown lease → NOT_FOUND; a past revision reads the past; a future revision → OUT_OF_RANGE',
      explain(c, async () => {
        const m = c().members[2] as TestMember;
        expectFailure(await grpcFailure(put(m, { key: bytes('leased'), value: bytes('v'), lease: 7n })), 'NOT_FOUND', 'etcdserver: requested lease not found');
        await put(m, { key: bytes('rev'), value: bytes('1') });
        const now = (await put(m, { key: bytes('rev'), value: bytes('2') })).header?.revision ?? 0n;
        expect(now).toBeGreaterThan(2n);
        expect((await range(m, { key: bytes('rev'), revision: now - 1n })).kvs[0]?.value.toString()).toBe('1');
        expectFailure(await grpcFailure(range(m, { key: bytes('rev'), revision: now + 1000n })), 'OUT_OF_RANGE', 'etcdserver: mvcc: required revision is a future revision');
        // The current revision itself is fine.
        const at = await range(m, { key: bytes('rev'), revision: now });
        expect(at.kvs[0]?.value.toString()).toBe('2');
      }),
    );
  });

  describe('without a quorum (two of three members killed)', () => {
    let survivor: TestMember;

    it(
      'a write with a tiny deadline → DEADLINE_EXCEEDED within about its deadline',
      explain(c, async () => {
        survivor = await c().leader();
        await Promise.all(c().followersOf(survivor).map((f) => f.stop('SIGKILL')));
        const deadlineMs = 300;
        const [write, read] = await Promise.all([
          grpcFailure(put(survivor, { key: bytes('no-quorum'), value: bytes('v') }, { timeoutMs: deadlineMs })),
          grpcFailure(range(survivor, { key: bytes('no-quorum') }, { timeoutMs: deadlineMs })),
        ]);
        console.log(`[bad-requests] no quorum: a ${deadlineMs} ms write failed ${write.codeName} after ${write.elapsedMs} ms; a linearizable read ${read.codeName} after ${read.elapsedMs} ms`);
        expect(write.codeName).toBe('DEADLINE_EXCEEDED');
        expect(write.elapsedMs).toBeGreaterThanOrEqual(deadlineMs - 10);
        expect(write.elapsedMs).toBeLessThan(deadlineMs + LATE_MARGIN_MS);
        expect(['DEADLINE_EXCEEDED', 'UNAVAILABLE']).toContain(read.codeName);
        expect(read.elapsedMs).toBeLessThan(deadlineMs + LATE_MARGIN_MS);
      }),
    );

    it(
      'a member with no leader answers UNAVAILABLE or DEADLINE_EXCEEDED at the deadline, never hangs; serializable reads still answer',
      explain(c, async () => {
        // Check-quorum: the lone leader steps down and, pre-vote failing, knows no leader.
        await waitFor(async () => (await survivor.status()).leader === 0n, { timeoutMs: 10_000, what: `${survivor.name} to step down and know no leader` });
        // No client deadline: the member's own --request-timeout bounds each call. The signal
        // only keeps a hanging call from hanging the test (it would fail CANCELLED).
        const noDeadline: CallOptions = { signal: AbortSignal.timeout(10_000) };
        const results = await Promise.all([
          grpcFailure(put(survivor, { key: bytes('leaderless'), value: bytes('v') }, noDeadline)),
          grpcFailure(del(survivor, { key: bytes('leaderless') }, noDeadline)),
          grpcFailure(txn(survivor, { success: [putOp('leaderless')] }, noDeadline)),
          grpcFailure(range(survivor, { key: bytes('leaderless') }, noDeadline)),
        ]);
        const withDeadline = await grpcFailure(put(survivor, { key: bytes('leaderless'), value: bytes('v') }, { timeoutMs: 500 }));
        console.log(
          `[bad-requests] no leader: put/delete/txn/range without a client deadline ended ${results.map((r) => `${r.codeName} "${r.error.details}" after ${r.elapsedMs} ms`).join('; ')}; ` +
            `a put with a 500 ms deadline ended ${withDeadline.codeName} after ${withDeadline.elapsedMs} ms`,
        );
        for (const r of results) {
          expect(['UNAVAILABLE', 'DEADLINE_EXCEEDED']).toContain(r.codeName);
          expect(r.elapsedMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
          expect(r.elapsedMs).toBeLessThan(REQUEST_TIMEOUT_MS + LATE_MARGIN_MS);
        }
        expect(['UNAVAILABLE', 'DEADLINE_EXCEEDED']).toContain(withDeadline.codeName);
        expect(withDeadline.elapsedMs).toBeLessThan(500 + LATE_MARGIN_MS);
        // A serializable read is local: it answers from the member's own state at once.
        const local = await range(survivor, { key: bytes('rev'), serializable: true });
        expect(local.kvs[0]?.value.toString()).toBe('2');
      }),
    );
  });
});
