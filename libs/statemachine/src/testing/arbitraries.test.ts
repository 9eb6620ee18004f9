/**
 * fast-check arbitraries for commands (test helper). Keys come from a small alphabet so
 * commands collide on keys and ranges often, which is where the interesting cases are.
 */
import fc from 'fast-check';
import type { ClientId, Command, SessionHeader, WriteRequest } from '../command-types';
import type { Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from '../kv-types';
import { CompareResult, CompareTarget, SortOrder, SortTarget } from '../kv-types';

const KEY_BYTES = [0x00, 0x61, 0x62, 0xff];

/** A non-empty key of 1..2 bytes over a 4-letter alphabet (including 0x00 and 0xff): 20 keys. */
export const arbKey: fc.Arbitrary<Uint8Array> = fc.array(fc.constantFrom(...KEY_BYTES), { minLength: 1, maxLength: 2 }).map((bytes) => Uint8Array.from(bytes));

const arbValue: fc.Arbitrary<Uint8Array> = fc.oneof(fc.uint8Array({ maxLength: 8 }), fc.constant(new Uint8Array(0)));

/** A key span: a single key, a range, everything from a key, or an (often inverted) range. */
const arbSpan: fc.Arbitrary<{ key: Uint8Array; rangeEnd?: Uint8Array }> = fc.oneof(
  arbKey.map((key) => ({ key })),
  fc.tuple(arbKey, arbKey).map(([key, rangeEnd]) => ({ key, rangeEnd })),
  arbKey.map((key) => ({ key, rangeEnd: Uint8Array.of(0) })),
);

const flag = (name: string): fc.Arbitrary<Record<string, true>> => fc.boolean().map((on) => (on ? { [name]: true } : {}));

/** Lease ids the commands share (so grants, puts and revokes meet). */
export const arbLeaseId: fc.Arbitrary<bigint> = fc.constantFrom(1n, 2n, 0x7fff_ffff_ffff_ffffn);

/** Mostly no lease, sometimes one of the shared ids, or keeping the current one. */
const arbPutLease: fc.Arbitrary<Partial<PutRequest>> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({}) },
  { weight: 2, arbitrary: arbLeaseId.map((lease) => ({ lease })) },
  { weight: 1, arbitrary: fc.constant({ ignoreLease: true as const }) },
);

export const arbPut: fc.Arbitrary<PutRequest> = fc
  .tuple(arbKey, arbValue, flag('prevKv'), fc.nat(9).map((n) => (n === 0 ? { ignoreValue: true as const } : {})), arbPutLease)
  .map(([key, value, prevKv, ignore, lease]) => ({ key, value: ignore.ignoreValue === true ? new Uint8Array(0) : value, ...prevKv, ...ignore, ...lease }));

export const arbDeleteRange: fc.Arbitrary<DeleteRangeRequest> = fc.tuple(arbSpan, flag('prevKv')).map(([span, prevKv]) => ({ ...span, ...prevKv }));

/** A revision field: mostly unset, else small (so it often hits the history, sometimes the future). */
const arbRevisionField = (name: string): fc.Arbitrary<Record<string, number>> =>
  fc.oneof({ weight: 3, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 14 }).map((n) => ({ [name]: n })) });

/** Sort order and target (only the non-default ones, as the codec decodes them). */
const arbSort: fc.Arbitrary<Partial<RangeRequest>> = fc
  .tuple(fc.constantFrom(SortOrder.None, SortOrder.Ascend, SortOrder.Descend), fc.constantFrom(SortTarget.Key, SortTarget.Version, SortTarget.Create, SortTarget.Mod, SortTarget.Value))
  .map(([sortOrder, sortTarget]) => ({ ...(sortOrder !== SortOrder.None && { sortOrder }), ...(sortTarget !== SortTarget.Key && { sortTarget }) }));

export const arbRange: fc.Arbitrary<RangeRequest> = fc
  .tuple(arbSpan, fc.nat(4), flag('countOnly'), flag('keysOnly'), arbRevisionField('revision'), fc.oneof({ weight: 2, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: arbSort }), arbRevisionField('minModRevision'), arbRevisionField('maxCreateRevision'))
  .map(([span, limit, countOnly, keysOnly, revision, sort, minMod, maxCreate]) => ({ ...span, ...(limit > 0 && { limit }), ...countOnly, ...keysOnly, ...revision, ...sort, ...minMod, ...maxCreate }));

const arbResult = fc.constantFrom(CompareResult.Equal, CompareResult.NotEqual, CompareResult.Less, CompareResult.Greater);

export const arbCompare: fc.Arbitrary<Compare> = fc.oneof(
  fc.tuple(arbSpan, arbResult, fc.oneof(fc.constant(0n), arbLeaseId)).map(([span, result, lease]) => ({ ...span, target: CompareTarget.Lease as const, result, lease })),
  fc.tuple(arbSpan, fc.constantFrom(CompareTarget.Version, CompareTarget.Create, CompareTarget.Mod), arbResult, fc.integer({ min: -1, max: 12 })).map(([span, target, result, operand]) => ({ ...span, target, result, operand })),
  fc.tuple(arbSpan, arbResult, arbValue).map(([span, result, value]) => ({ ...span, target: CompareTarget.Value as const, result, value })),
);

const { txn: arbTxnRequest } = fc.letrec<{ txn: TxnRequest; op: RequestOp }>((tie) => ({
  txn: fc.record({
    compare: fc.array(arbCompare, { maxLength: 2 }),
    success: fc.array(tie('op'), { maxLength: 3 }),
    failure: fc.array(tie('op'), { maxLength: 3 }),
  }),
  op: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    arbRange.map((request) => ({ type: 'range' as const, request })),
    arbPut.map((request) => ({ type: 'put' as const, request })),
    arbDeleteRange.map((request) => ({ type: 'deleteRange' as const, request })),
    tie('txn').map((request) => ({ type: 'txn' as const, request: request as TxnRequest })),
  ),
}));

export const arbTxn: fc.Arbitrary<TxnRequest> = arbTxnRequest as fc.Arbitrary<TxnRequest>;

/** Lease grants, revokes and checkpoints over the shared ids. */
const arbLeaseOp: fc.Arbitrary<WriteRequest> = fc.oneof(
  fc.tuple(arbLeaseId, fc.integer({ min: 1, max: 100 })).map(([id, ttl]) => ({ type: 'leaseGrant' as const, id, ttl })),
  arbLeaseId.map((id) => ({ type: 'leaseRevoke' as const, id })),
  fc.array(fc.tuple(arbLeaseId, fc.nat(50)), { maxLength: 2 }).map((pairs) => ({ type: 'leaseCheckpoint' as const, checkpoints: pairs.map(([id, remainingTtl]) => ({ id, remainingTtl })) })),
);

/** Write requests, with relative weights of puts, deletes, txns, compactions, lease ops and noops. */
export function arbWriteWeighted(weights: { put: number; deleteRange: number; txn: number; compact?: number; lease?: number; noop: number }): fc.Arbitrary<WriteRequest> {
  return fc.oneof(
    { weight: weights.lease ?? 0, arbitrary: arbLeaseOp },
    { weight: weights.put, arbitrary: arbPut.map((request) => ({ type: 'put' as const, request })) },
    { weight: weights.deleteRange, arbitrary: arbDeleteRange.map((request) => ({ type: 'deleteRange' as const, request })) },
    { weight: weights.txn, arbitrary: arbTxn.map((request) => ({ type: 'txn' as const, request })) },
    { weight: weights.compact ?? 0, arbitrary: fc.nat(30).map((revision) => ({ type: 'compact' as const, request: { revision } })) },
    { weight: weights.noop, arbitrary: fc.constant({ type: 'noop' as const }) },
  );
}

export const arbWrite: fc.Arbitrary<WriteRequest> = arbWriteWeighted({ put: 4, deleteRange: 2, txn: 2, compact: 1, lease: 2, noop: 1 });

export const arbClientId: fc.Arbitrary<ClientId> = fc.oneof(fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }), fc.string({ minLength: 1, maxLength: 12 }));

/** Any valid command (for codec round trips). */
export const arbCommand: fc.Arbitrary<Command> = fc
  .tuple(fc.nat({ max: 2 ** 45 }), arbWrite, fc.option(fc.record({ clientId: arbClientId, seq: fc.integer({ min: 1, max: 2 ** 40 }) }), { nil: undefined }))
  .map(([timestampMs, op, session]) => (session === undefined || op.type === 'noop' || op.type === 'leaseCheckpoint' ? { timestampMs, op } : { timestampMs, op, session: session as SessionHeader }));
