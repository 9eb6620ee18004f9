import { nodeId } from '@keyval/raft';
import { EMPTY_MEMBERSHIP, KV_OVERHEAD_BYTES } from '@keyval/statemachine';
import type { MembershipState, WriteRequest } from '@keyval/statemachine';
import { DEFAULT_QUOTA_BACKEND_BYTES, SpaceQuota, resolveQuotaBackendBytes } from './space-quota';

const put = (valueBytes: number): WriteRequest => ({ type: 'put', request: { key: Buffer.from('k'), value: Buffer.alloc(valueBytes) } });
const putCost = (valueBytes: number): number => KV_OVERHEAD_BYTES + 1 + valueBytes;

/** A quota over a size the test sets, measured anew when `measuredAt` changes. */
function quotaOver(quotaBytes: number, membership: () => MembershipState = () => EMPTY_MEMBERSHIP): { quota: SpaceQuota; disk: { bytes: number; measuredAt: number } } {
  const disk = { bytes: 0, measuredAt: 1 };
  return { quota: new SpaceQuota(quotaBytes, { dbBytes: async () => ({ ...disk }), membership }), disk };
}

describe('SpaceQuota (etcd quota.go)', () => {
  it('resolves --quota-backend-bytes as etcd: 0 is the 2 GiB default; negative or fractional values are refused', () => {
    expect(resolveQuotaBackendBytes(0)).toBe(DEFAULT_QUOTA_BACKEND_BYTES);
    expect(DEFAULT_QUOTA_BACKEND_BYTES).toBe(2147483648);
    expect(resolveQuotaBackendBytes(4096)).toBe(4096);
    expect(() => resolveQuotaBackendBytes(-1)).toThrow(RangeError);
    expect(() => resolveQuotaBackendBytes(1.5)).toThrow(RangeError);
  });

  it('admits while size + cost stays strictly below the quota, and says by how much it does not', async () => {
    const { quota, disk } = quotaOver(10_000);
    disk.bytes = 10_000 - putCost(100) - 1;
    expect(await quota.check(put(100))).toEqual({ kind: 'admitted' });
    disk.measuredAt = 2; // a new measurement: the admitted write is in it now
    disk.bytes = 10_000 - putCost(100);
    expect(await quota.check(put(100))).toEqual({ kind: 'over-quota', dbBytes: 10_000 - putCost(100), costBytes: putCost(100), quotaBytes: 10_000 });
  });

  it('counts what it admitted since the last measurement (a cached size cannot be outrun)', async () => {
    const { quota, disk } = quotaOver(10 * putCost(100));
    const verdicts = [];
    for (let i = 0; i < 12; i++) verdicts.push((await quota.check(put(100))).kind);
    expect(verdicts).toEqual([...Array<string>(9).fill('admitted'), 'over-quota', 'over-quota', 'over-quota']);
    disk.measuredAt = 2; // measured again, smaller than the estimate (compaction, defragmentation)
    disk.bytes = 0;
    expect((await quota.check(put(100))).kind).toBe('admitted');
  });

  it('never stops deletes, compaction or revokes; judges every txn by the size; refuses what adds data while NOSPACE is active, whatever the size', async () => {
    let membership: MembershipState = EMPTY_MEMBERSHIP;
    const { quota, disk } = quotaOver(1_000, () => membership);
    disk.bytes = 5_000;
    for (const op of [{ type: 'deleteRange', request: { key: Buffer.from('k') } }, { type: 'compact', request: { revision: 2 } }, { type: 'leaseRevoke', id: 1n }] as WriteRequest[]) {
      expect(await quota.check(op)).toEqual({ kind: 'admitted' });
    }
    expect((await quota.check({ type: 'leaseGrant', id: 1n, ttl: 5 })).kind).toBe('over-quota');
    // As etcd: a txn is judged by the size even when it adds nothing (read-only, deletes only).
    const readOnlyTxn = { type: 'txn', request: { compare: [], success: [], failure: [] } } as unknown as WriteRequest;
    expect(await quota.check(readOnlyTxn)).toMatchObject({ kind: 'over-quota', costBytes: 0 });
    disk.bytes = 0;
    expect(await quota.check(readOnlyTxn)).toEqual({ kind: 'admitted' });
    membership = { ...EMPTY_MEMBERSHIP, alarms: [{ memberId: nodeId(2), alarm: 'NOSPACE' }] };
    expect(await quota.check(put(1))).toEqual({ kind: 'alarmed' });
    membership = { ...EMPTY_MEMBERSHIP, alarms: [{ memberId: nodeId(2), alarm: 'CORRUPT' }] };
    expect(await quota.check(put(1))).toEqual({ kind: 'admitted' });
  });
});
