/**
 * etcd's alarms in the replicated state: the alarm command's codec, its apply (the alarm
 * table, and the capped apply that rejects what adds data while NOSPACE is active), and the
 * table's durability (reopen) and travel in snapshots (restore) in both implementations.
 */
import { ConfChangeType, nodeId } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import { decodeCommand, encodeCommand } from '../codec/command-codec';
import type { ApplyResult, StateMachine, WriteRequest } from '../index';
import { CompareResult, CompareTarget, DEFAULT_LIMITS, MalformedCommandError, MemoryStateMachine, RocksStateMachine } from '../index';
import { LogBuilder, b, removeDir, tempDir } from '../testing/log-builder.test';
import { encodeMemberContext } from './membership';
import { KV_OVERHEAD_BYTES, LEASE_OVERHEAD_BYTES, writeCost } from './alarms';

const M1 = nodeId(0x11);
const M2 = nodeId(0x22);

const alarm = (action: 'activate' | 'deactivate', memberId: NodeId, type: 'NOSPACE' | 'CORRUPT' = 'NOSPACE'): WriteRequest => ({ type: 'alarm', action, memberId, alarm: type });

const outcome = (r: ApplyResult | undefined): string => {
  if (r === undefined) return 'none';
  if (r.kind === 'rejected') return `rejected ${r.error.code}`;
  if (r.kind === 'response') return `${r.response.type} response`;
  if (r.kind === 'alarm') return `${r.action} [${r.alarms.map((a) => `${a.memberId.toString(16)}:${a.alarm}`).join(' ')}]`;
  return r.kind;
};

describe('writeCost (etcd quota.go)', () => {
  it('a put is 256 + key + value; a txn its costlier branch; a lease grant 64; the rest 0', () => {
    const put = { type: 'put' as const, request: { key: b('key'), value: b('value!') } };
    expect(writeCost(put)).toBe(KV_OVERHEAD_BYTES + 3 + 6);
    const nested = { type: 'txn' as const, request: { compare: [], success: [put], failure: [] } };
    expect(writeCost({ type: 'txn', request: { compare: [], success: [put, put], failure: [put, nested] } })).toBe(2 * (KV_OVERHEAD_BYTES + 9));
    expect(writeCost({ type: 'txn', request: { compare: [], success: [{ type: 'range', request: { key: b('a') } }], failure: [{ type: 'deleteRange', request: { key: b('a') } }] } })).toBe(0);
    expect(writeCost({ type: 'leaseGrant', id: 1n, ttl: 5 })).toBe(LEASE_OVERHEAD_BYTES);
    expect(writeCost({ type: 'deleteRange', request: { key: b('a') } })).toBe(0);
    expect(writeCost({ type: 'compact', request: { revision: 3 } })).toBe(0);
    expect(writeCost({ type: 'leaseRevoke', id: 1n })).toBe(0);
  });
});

describe('the alarm command codec', () => {
  it('round-trips, refuses a session, and rejects unknown actions and types', () => {
    for (const op of [alarm('activate', M1), alarm('deactivate', M2, 'CORRUPT')]) {
      expect(decodeCommand(encodeCommand({ timestampMs: 9, op }), DEFAULT_LIMITS)).toEqual({ timestampMs: 9, op });
    }
    expect(() => encodeCommand({ timestampMs: 1, op: alarm('activate', M1), session: { clientId: 'c', seq: 1 } })).toThrow(/cannot carry a session/);
    const bytes = encodeCommand({ timestampMs: 1, op: alarm('activate', M1) });
    const badAction = Uint8Array.from(bytes);
    badAction[bytes.length - 10] = 7;
    expect(() => decodeCommand(badAction, DEFAULT_LIMITS)).toThrow(new MalformedCommandError('unknown alarm action 7'));
    const badType = Uint8Array.from(bytes);
    badType[bytes.length - 1] = 0;
    expect(() => decodeCommand(badType, DEFAULT_LIMITS)).toThrow(new MalformedCommandError('unknown alarm type 0'));
  });
});

interface Impl {
  readonly name: string;
  open(dir: string): Promise<StateMachine>;
}

const IMPLS: readonly Impl[] = [
  { name: 'MemoryStateMachine', open: (dir) => MemoryStateMachine.create({ snapshotDir: dir }) },
  { name: 'RocksStateMachine', open: (dir) => RocksStateMachine.open({ dataDir: dir }) },
];

describe.each(IMPLS)('alarms in $name', (impl) => {
  let dirs: string[] = [];
  const open = async (): Promise<StateMachine> => {
    const dir = await tempDir('kv-alarms-');
    dirs.push(dir);
    return impl.open(dir);
  };
  afterEach(async () => {
    await Promise.all(dirs.map(removeDir));
    dirs = [];
  });

  /** A state with member M1, its NOSPACE alarm and M2's CORRUPT alarm. */
  async function alarmed(sm: StateMachine, log: LogBuilder): Promise<ApplyResult[]> {
    return sm.apply([
      log.confChange(ConfChangeType.AddVoter, M1, encodeMemberContext({ name: 'm1', peerUrls: ['http://p:1'], clientUrls: [] }), [M1]),
      log.put('k', 'before'),
      log.command(alarm('activate', M1)),
      log.command(alarm('activate', M1)),
      log.command(alarm('activate', M2, 'CORRUPT')),
    ]);
  }

  it('NOSPACE rejects what adds data on every apply; deletes, reads-only txns and compaction apply; deactivation restores writes', async () => {
    const sm = await open();
    const log = new LogBuilder();
    const raised = await alarmed(sm, log);
    expect(raised.slice(2).map(outcome)).toEqual(['activate [11:NOSPACE]', 'activate [11:NOSPACE]', 'activate [22:CORRUPT]']);
    expect(sm.membership().alarms).toEqual([
      { memberId: M1, alarm: 'NOSPACE' },
      { memberId: M2, alarm: 'CORRUPT' },
    ]);
    const revision = sm.revision();
    const capped = await sm.apply([
      log.put('k', 'refused'),
      log.txn({ compare: [{ target: CompareTarget.Version, result: CompareResult.Equal, key: b('k'), operand: 99 }], success: [], failure: [{ type: 'put', request: { key: b('x'), value: b('1') } }] }),
      log.command({ type: 'leaseGrant', id: 5n, ttl: 10 }),
      log.txn({ compare: [], success: [{ type: 'range', request: { key: b('k') } }], failure: [] }),
      log.del('k'),
      log.compact(revision),
    ]);
    expect(capped.map(outcome)).toEqual(['rejected NO_SPACE', 'rejected NO_SPACE', 'rejected NO_SPACE', 'txn response', 'deleteRange response', 'compact response']);
    expect(sm.leases()).toEqual([]);
    const cleared = await sm.apply([log.command(alarm('deactivate', M1)), log.command(alarm('deactivate', M1)), log.put('k', 'after')]);
    expect(cleared.map(outcome)).toEqual(['deactivate [11:NOSPACE]', 'deactivate []', 'put response']);
    // CORRUPT alone does not cap writes (KeyVal raises only NOSPACE itself).
    expect(sm.membership().alarms).toEqual([{ memberId: M2, alarm: 'CORRUPT' }]);
    expect(sm.membership().members.map((m) => m.name)).toEqual(['m1']);
    await sm.close();
  });

  it('the alarm table survives a membership change, a reopen (RocksDB) and travels in a snapshot to a restored member', async () => {
    const dir = await tempDir('kv-alarms-');
    dirs.push(dir);
    const sm = await impl.open(dir);
    const log = new LogBuilder();
    await alarmed(sm, log);
    await sm.apply([log.confChange(ConfChangeType.AddVoter, M2, encodeMemberContext({ name: 'm2', peerUrls: ['http://p:2'], clientUrls: [] }), [M1, M2])]);
    const expected = [
      { memberId: M1, alarm: 'NOSPACE' },
      { memberId: M2, alarm: 'CORRUPT' },
    ];
    expect(sm.membership().alarms).toEqual(expected);
    const snapshot = await sm.createSnapshot();
    expect(snapshot.membership.alarms).toEqual(expected);
    const hash = await sm.hashStore();
    let current = sm;
    if (impl.name === 'RocksStateMachine') {
      await sm.close();
      current = await impl.open(dir);
      expect(current.membership().alarms).toEqual(expected);
    }
    const restored = await open();
    await restored.restore(snapshot.path);
    expect(restored.membership().alarms).toEqual(expected);
    expect((await restored.hashStore()).hash).toBe(hash.hash);
    // The restored member applies the same capped writes.
    const next = new LogBuilder(log.lastIndex + 1);
    expect((await restored.apply([next.put('k', 'refused')])).map(outcome)).toEqual(['rejected NO_SPACE']);
    await current.close();
    await restored.close();
  });

  it('a state without alarms hashes as one that raised and cleared them (the table is left out when empty)', async () => {
    const [a, c] = [await open(), await open()];
    const [la, lc] = [new LogBuilder(), new LogBuilder()];
    await a.apply([la.put('k', 'v'), la.command(alarm('activate', M1)), la.command(alarm('deactivate', M1))]);
    await c.apply([lc.put('k', 'v'), lc.noop(), lc.noop()]);
    expect(a.membership().alarms).toBeUndefined();
    expect((await a.hashStore()).hash).toBe((await c.hashStore()).hash);
    await a.close();
    await c.close();
  });
});
