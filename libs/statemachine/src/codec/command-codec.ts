/**
 * The command codec: the payload of every EntryType.Normal entry. Compact, deterministic and
 * versioned; see the README for the byte layout. Every member decodes the same bytes to the
 * same command, or to the same rejection (MalformedCommandError / CommandLimitError), so a bad
 * payload in the log is applied (as a rejection) identically everywhere.
 *
 *     u8 version (1) | u8 op | u8 flags (bit 0: session) | varint timestampMs
 *     [ session: client id (u8 kind, u64 | string) | varint seq ]
 *     op body
 */
import type { Command, SessionHeader, WriteRequest } from '../command-types';
import type { NodeId } from '@keyval/raft';
import { CommandLimitError, MalformedCommandError } from '../errors';
import type { Compare, RangeRequest, RequestOp, TxnRequest } from '../kv-types';
import { CompareResult, CompareTarget, SortOrder, SortTarget } from '../kv-types';
import type { StateMachineLimits } from '../limits';
import { assertNever } from '../util/assert-never';
import { alarmCode, alarmOfCode } from '../engine/alarms';
import { ByteReader } from './byte-reader';
import { ByteWriter } from './byte-writer';
import { MAX_CLIENT_ID_BYTES, checkClientId } from './client-id';

export const COMMAND_CODEC_VERSION = 1;

const enum OpTag {
  Noop = 0,
  Put = 1,
  DeleteRange = 2,
  Txn = 3,
  Range = 4,
  MemberAttributes = 5,
  Compact = 6,
  LeaseGrant = 7,
  LeaseRevoke = 8,
  LeaseCheckpoint = 9,
  Alarm = 10,
  MemberUpdate = 11,
}

const ALARM_ACTIVATE = 1;
const ALARM_DEACTIVATE = 2;

const FLAG_SESSION = 1;
const CLIENT_U64 = 0;
const CLIENT_STRING = 1;

/** Encodes a command. Throws RangeError/TypeError for a command no member could apply. */
export function encodeCommand(command: Command): Uint8Array {
  const out = new ByteWriter(64);
  out.u8(COMMAND_CODEC_VERSION);
  out.u8(opTag(command.op));
  out.u8(command.session === undefined ? 0 : FLAG_SESSION);
  out.varint(command.timestampMs);
  if (command.session !== undefined) {
    if (command.op.type === 'noop' || command.op.type === 'memberAttributes' || command.op.type === 'alarm' || command.op.type === 'memberUpdate') {
      throw new TypeError(`a ${command.op.type} command cannot carry a session`);
    }
    writeSession(out, command.session);
  }
  if (command.op.type === 'memberAttributes') {
    out.u64(command.op.id).string(command.op.name);
    out.varint(command.op.clientUrls.length);
    for (const url of command.op.clientUrls) {
      out.string(url);
    }
  } else if (command.op.type === 'memberUpdate') {
    out.u64(command.op.id).varint(command.op.peerUrls.length);
    for (const url of command.op.peerUrls) {
      out.string(url);
    }
  } else if (command.op.type === 'alarm') {
    out.u8(command.op.action === 'activate' ? ALARM_ACTIVATE : ALARM_DEACTIVATE).u64(command.op.memberId).u8(alarmCode(command.op.alarm));
  } else if (command.op.type === 'compact') {
    out.varint(command.op.request.revision);
  } else if (command.op.type === 'leaseGrant') {
    out.u64(command.op.id).varint(command.op.ttl);
  } else if (command.op.type === 'leaseRevoke') {
    out.u64(command.op.id);
  } else if (command.op.type === 'leaseCheckpoint') {
    out.varint(command.op.checkpoints.length);
    for (const checkpoint of command.op.checkpoints) {
      out.u64(checkpoint.id).varint(checkpoint.remainingTtl);
    }
  } else if (command.op.type !== 'noop') {
    writeOp(out, command.op, 1);
  }
  return out.finish();
}

function opTag(op: WriteRequest | RequestOp): OpTag {
  switch (op.type) {
    case 'noop':
      return OpTag.Noop;
    case 'memberAttributes':
      return OpTag.MemberAttributes;
    case 'put':
      return OpTag.Put;
    case 'deleteRange':
      return OpTag.DeleteRange;
    case 'txn':
      return OpTag.Txn;
    case 'range':
      return OpTag.Range;
    case 'compact':
      return OpTag.Compact;
    case 'leaseGrant':
      return OpTag.LeaseGrant;
    case 'leaseRevoke':
      return OpTag.LeaseRevoke;
    case 'leaseCheckpoint':
      return OpTag.LeaseCheckpoint;
    case 'alarm':
      return OpTag.Alarm;
    case 'memberUpdate':
      return OpTag.MemberUpdate;
    default:
      return assertNever(op);
  }
}

function writeSession(out: ByteWriter, session: SessionHeader): void {
  checkClientId(session.clientId);
  if (!Number.isSafeInteger(session.seq) || session.seq < 1) {
    throw new RangeError(`session sequence must be a positive integer, got ${session.seq}`);
  }
  if (typeof session.clientId === 'bigint') {
    out.u8(CLIENT_U64).u64(session.clientId);
  } else {
    out.u8(CLIENT_STRING).string(session.clientId);
  }
  out.varint(session.seq);
}

/** Writes an op body (without its tag, which the caller wrote or writes). */
function writeOp(out: ByteWriter, op: RequestOp, depth: number): void {
  switch (op.type) {
    case 'range':
      writeRange(out, op.request);
      break;
    case 'put': {
      const lease = op.request.lease ?? 0n;
      out.bytes(op.request.key).bytes(op.request.value);
      out.u8((op.request.prevKv === true ? PUT_PREV_KV : 0) | (op.request.ignoreValue === true ? PUT_IGNORE_VALUE : 0) | (op.request.ignoreLease === true ? PUT_IGNORE_LEASE : 0) | (lease !== 0n ? PUT_LEASE : 0));
      if (lease !== 0n) {
        out.u64(lease);
      }
      break;
    }
    case 'deleteRange':
      out.bytes(op.request.key).bytes(op.request.rangeEnd ?? EMPTY);
      out.u8(op.request.prevKv === true ? 1 : 0);
      break;
    case 'txn':
      writeTxn(out, op.request, depth);
      break;
    default:
      assertNever(op);
  }
}

/** Put flags: bit 3 says a u64 lease id follows. */
const PUT_PREV_KV = 1;
const PUT_IGNORE_VALUE = 2;
const PUT_IGNORE_LEASE = 4;
const PUT_LEASE = 8;

/** Range flags: bit 2 says the revision, sort and filter fields follow. */
const RANGE_COUNT_ONLY = 1;
const RANGE_KEYS_ONLY = 2;
const RANGE_OPTIONS = 4;

function hasRangeOptions(request: RangeRequest): boolean {
  return (
    (request.revision ?? 0) !== 0 ||
    (request.sortOrder ?? SortOrder.None) !== SortOrder.None ||
    (request.sortTarget ?? SortTarget.Key) !== SortTarget.Key ||
    (request.minModRevision ?? 0) !== 0 ||
    (request.maxModRevision ?? 0) !== 0 ||
    (request.minCreateRevision ?? 0) !== 0 ||
    (request.maxCreateRevision ?? 0) !== 0
  );
}

function writeRange(out: ByteWriter, request: RangeRequest): void {
  out.bytes(request.key).bytes(request.rangeEnd ?? EMPTY);
  out.varint(request.limit ?? 0);
  const options = hasRangeOptions(request);
  out.u8((request.countOnly === true ? RANGE_COUNT_ONLY : 0) | (request.keysOnly === true ? RANGE_KEYS_ONLY : 0) | (options ? RANGE_OPTIONS : 0));
  if (options) {
    out.varint(request.revision ?? 0).u8(request.sortOrder ?? SortOrder.None).u8(request.sortTarget ?? SortTarget.Key);
    out.varint(request.minModRevision ?? 0).varint(request.maxModRevision ?? 0).varint(request.minCreateRevision ?? 0).varint(request.maxCreateRevision ?? 0);
  }
}

function writeTxn(out: ByteWriter, txn: TxnRequest, depth: number): void {
  out.varint(txn.compare.length);
  for (const compare of txn.compare) {
    writeCompare(out, compare);
  }
  for (const branch of [txn.success, txn.failure]) {
    out.varint(branch.length);
    for (const op of branch) {
      out.u8(opTag(op));
      writeOp(out, op, depth + 1);
    }
  }
}

function writeCompare(out: ByteWriter, compare: Compare): void {
  out.u8(compare.target).u8(compare.result);
  out.bytes(compare.key).bytes(compare.rangeEnd ?? EMPTY);
  if (compare.target === CompareTarget.Value) {
    out.bytes(compare.value);
  } else if (compare.target === CompareTarget.Lease) {
    out.u64(compare.lease);
  } else {
    out.signedVarint(compare.operand);
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Decodes and checks a command against the apply limits. Throws MalformedCommandError or
 * CommandLimitError (the caller turns either into a rejected result).
 */
export function decodeCommand(bytes: Uint8Array, limits: StateMachineLimits): Command {
  if (bytes.byteLength > limits.maxCommandBytes) {
    throw CommandLimitError.exceeded('command size (bytes)', bytes.byteLength, limits.maxCommandBytes);
  }
  const decoder = new CommandDecoder(bytes, limits);
  return decoder.command();
}

class CommandDecoder {
  private readonly in: ByteReader;
  private totalOps = 0;

  constructor(
    bytes: Uint8Array,
    private readonly limits: StateMachineLimits,
  ) {
    this.in = new ByteReader(bytes, (message, offset) => new MalformedCommandError(`malformed command at byte ${offset}: ${message}`));
  }

  command(): Command {
    const version = this.in.u8();
    if (version !== COMMAND_CODEC_VERSION) {
      throw new MalformedCommandError(`unknown command codec version ${version}`);
    }
    const tag = this.in.u8();
    const flags = this.in.u8();
    if ((flags & ~FLAG_SESSION) !== 0) {
      throw new MalformedCommandError(`unknown command flags 0x${flags.toString(16)}`);
    }
    const timestampMs = this.in.varint();
    const session = (flags & FLAG_SESSION) !== 0 ? this.session() : undefined;
    let op: WriteRequest;
    if (tag === OpTag.Noop) {
      if (session !== undefined) {
        throw new MalformedCommandError('a noop command cannot carry a session');
      }
      op = { type: 'noop' };
    } else if (tag === OpTag.Compact) {
      op = { type: 'compact', request: { revision: this.in.varint() } };
    } else if (tag === OpTag.LeaseGrant) {
      op = { type: 'leaseGrant', id: this.leaseId(), ttl: this.in.varint() };
    } else if (tag === OpTag.LeaseRevoke) {
      op = { type: 'leaseRevoke', id: this.leaseId() };
    } else if (tag === OpTag.LeaseCheckpoint) {
      const count = this.count('lease checkpoints');
      const checkpoints: Array<{ id: bigint; remainingTtl: number }> = [];
      for (let i = 0; i < count; i++) {
        checkpoints.push({ id: this.leaseId(), remainingTtl: this.in.varint() });
      }
      op = { type: 'leaseCheckpoint', checkpoints };
    } else if (tag === OpTag.MemberAttributes) {
      if (session !== undefined) {
        throw new MalformedCommandError('a memberAttributes command cannot carry a session');
      }
      op = this.memberAttributes();
    } else if (tag === OpTag.MemberUpdate) {
      if (session !== undefined) {
        throw new MalformedCommandError('a memberUpdate command cannot carry a session');
      }
      op = this.memberUpdate();
    } else if (tag === OpTag.Alarm) {
      if (session !== undefined) {
        throw new MalformedCommandError('an alarm command cannot carry a session');
      }
      op = this.alarm();
    } else {
      const decoded = this.op(tag, 1);
      if (decoded.type === 'range') {
        throw new MalformedCommandError('a range is not a write command');
      }
      op = decoded;
    }
    this.in.end();
    return session === undefined ? { timestampMs, op } : { timestampMs, session, op };
  }

  private session(): SessionHeader {
    const kind = this.in.u8();
    let clientId: bigint | string;
    if (kind === CLIENT_U64) {
      clientId = this.in.u64();
    } else if (kind === CLIENT_STRING) {
      clientId = this.in.string(MAX_CLIENT_ID_BYTES, 'client id');
      if (clientId.length === 0) {
        throw new MalformedCommandError('empty client id');
      }
    } else {
      throw new MalformedCommandError(`unknown client id kind ${kind}`);
    }
    const seq = this.in.varint();
    if (seq < 1) {
      throw new MalformedCommandError('session sequence 0');
    }
    return { clientId, seq };
  }

  private memberAttributes(): WriteRequest {
    const max = this.limits.maxMemberContextBytes;
    const id = this.in.u64() as NodeId;
    const name = this.in.string(max, 'member name');
    const count = this.count('member client URLs');
    const clientUrls: string[] = [];
    for (let i = 0; i < count; i++) {
      clientUrls.push(this.in.string(max, 'member client URL'));
    }
    return { type: 'memberAttributes', id, name, clientUrls };
  }

  private memberUpdate(): WriteRequest {
    const id = this.in.u64() as NodeId;
    const count = this.count('member peer URLs');
    const peerUrls: string[] = [];
    for (let i = 0; i < count; i++) {
      peerUrls.push(this.in.string(this.limits.maxMemberContextBytes, 'member peer URL'));
    }
    return { type: 'memberUpdate', id, peerUrls };
  }

  private alarm(): WriteRequest {
    const action = this.in.u8();
    if (action !== ALARM_ACTIVATE && action !== ALARM_DEACTIVATE) {
      throw new MalformedCommandError(`unknown alarm action ${action}`);
    }
    const memberId = this.in.u64() as NodeId;
    const code = this.in.u8();
    const alarm = alarmOfCode(code);
    if (alarm === undefined) {
      throw new MalformedCommandError(`unknown alarm type ${code}`);
    }
    return { type: 'alarm', action: action === ALARM_ACTIVATE ? 'activate' : 'deactivate', memberId, alarm };
  }

  private op(tag: number, depth: number): RequestOp {
    switch (tag) {
      case OpTag.Range:
        return { type: 'range', request: this.range() };
      case OpTag.Put: {
        const key = this.key();
        const value = this.in.bytes(Number.MAX_SAFE_INTEGER, 'value');
        if (value.byteLength > this.limits.maxValueBytes) {
          throw CommandLimitError.exceeded('value size (bytes)', value.byteLength, this.limits.maxValueBytes);
        }
        const flags = this.flags(PUT_PREV_KV | PUT_IGNORE_VALUE | PUT_IGNORE_LEASE | PUT_LEASE);
        const lease = (flags & PUT_LEASE) !== 0 ? this.leaseId() : 0n;
        return {
          type: 'put',
          request: {
            key,
            value,
            ...(lease !== 0n && { lease }),
            ...((flags & PUT_PREV_KV) !== 0 && { prevKv: true }),
            ...((flags & PUT_IGNORE_VALUE) !== 0 && { ignoreValue: true }),
            ...((flags & PUT_IGNORE_LEASE) !== 0 && { ignoreLease: true }),
          },
        };
      }
      case OpTag.DeleteRange: {
        const span = this.span();
        const flags = this.flags(1);
        return { type: 'deleteRange', request: { ...span, ...(flags !== 0 && { prevKv: true }) } };
      }
      case OpTag.Txn:
        return { type: 'txn', request: this.txn(depth) };
      default:
        throw new MalformedCommandError(`unknown op tag ${tag}`);
    }
  }

  private range(): RangeRequest {
    const span = this.span();
    const limit = this.in.varint();
    const flags = this.flags(RANGE_COUNT_ONLY | RANGE_KEYS_ONLY | RANGE_OPTIONS);
    const request: RangeRequest = {
      ...span,
      ...(limit > 0 && { limit }),
      ...((flags & RANGE_COUNT_ONLY) !== 0 && { countOnly: true }),
      ...((flags & RANGE_KEYS_ONLY) !== 0 && { keysOnly: true }),
    };
    return (flags & RANGE_OPTIONS) === 0 ? request : { ...request, ...this.rangeOptions() };
  }

  /** The revision, sort and filter fields of a range (only the ones that are set). */
  private rangeOptions(): Partial<RangeRequest> {
    const revision = this.in.varint();
    const sortOrder = this.in.u8();
    if (!(sortOrder in SortOrder) || typeof SortOrder[sortOrder] !== 'string') {
      throw new MalformedCommandError(`unknown sort order ${sortOrder}`);
    }
    const sortTarget = this.in.u8();
    if (!(sortTarget in SortTarget) || typeof SortTarget[sortTarget] !== 'string') {
      throw new MalformedCommandError(`unknown sort target ${sortTarget}`);
    }
    const bounds = [this.in.varint(), this.in.varint(), this.in.varint(), this.in.varint()] as const;
    return {
      ...(revision !== 0 && { revision }),
      ...(sortOrder !== SortOrder.None && { sortOrder: sortOrder as SortOrder }),
      ...(sortTarget !== SortTarget.Key && { sortTarget: sortTarget as SortTarget }),
      ...(bounds[0] !== 0 && { minModRevision: bounds[0] }),
      ...(bounds[1] !== 0 && { maxModRevision: bounds[1] }),
      ...(bounds[2] !== 0 && { minCreateRevision: bounds[2] }),
      ...(bounds[3] !== 0 && { maxCreateRevision: bounds[3] }),
    };
  }

  private txn(depth: number): TxnRequest {
    if (depth > this.limits.maxTxnDepth) {
      throw CommandLimitError.exceeded('txn nesting depth', depth, this.limits.maxTxnDepth);
    }
    const compareCount = this.count('txn compares');
    const compare: Compare[] = [];
    for (let i = 0; i < compareCount; i++) {
      compare.push(this.compare());
    }
    const branches: RequestOp[][] = [];
    for (const name of ['txn success ops', 'txn failure ops']) {
      const count = this.count(name);
      const ops: RequestOp[] = [];
      for (let i = 0; i < count; i++) {
        ops.push(this.op(this.in.u8(), depth + 1));
      }
      branches.push(ops);
    }
    return { compare, success: branches[0] as RequestOp[], failure: branches[1] as RequestOp[] };
  }

  private count(what: string): number {
    const count = this.in.varint();
    if (count > this.limits.maxTxnOps) {
      throw CommandLimitError.exceeded(`number of ${what}`, count, this.limits.maxTxnOps);
    }
    this.totalOps += count;
    if (this.totalOps > this.limits.maxTxnTotalOps) {
      throw CommandLimitError.exceeded('ops and compares in the txn', this.totalOps, this.limits.maxTxnTotalOps);
    }
    // Every op or compare takes at least one byte: refuse counts the payload cannot hold.
    if (count > this.in.remaining) {
      throw new MalformedCommandError(`${what} count ${count} exceeds the remaining ${this.in.remaining} bytes`);
    }
    return count;
  }

  private compare(): Compare {
    const target = this.in.u8();
    const result = this.in.u8();
    if (!(result in CompareResult) || typeof CompareResult[result] !== 'string') {
      throw new MalformedCommandError(`unknown compare result ${result}`);
    }
    const span = this.span();
    switch (target) {
      case CompareTarget.Value:
        return { ...span, target, result, value: this.in.bytes(Number.MAX_SAFE_INTEGER, 'compare value') };
      case CompareTarget.Lease:
        return { ...span, target, result, lease: this.in.u64() };
      case CompareTarget.Version:
      case CompareTarget.Create:
      case CompareTarget.Mod:
        return { ...span, target, result, operand: this.in.signedVarint() };
      default:
        throw new MalformedCommandError(`unknown compare target ${target}`);
    }
  }

  private span(): { key: Uint8Array; rangeEnd?: Uint8Array } {
    const key = this.key();
    const rangeEnd = this.in.bytes(Number.MAX_SAFE_INTEGER, 'range end');
    if (rangeEnd.byteLength > this.limits.maxKeyBytes) {
      throw CommandLimitError.exceeded('range end size (bytes)', rangeEnd.byteLength, this.limits.maxKeyBytes);
    }
    return rangeEnd.byteLength === 0 ? { key } : { key, rangeEnd };
  }

  private key(): Uint8Array {
    const key = this.in.bytes(Number.MAX_SAFE_INTEGER, 'key');
    if (key.byteLength === 0) {
      throw new MalformedCommandError('empty key');
    }
    if (key.byteLength > this.limits.maxKeyBytes) {
      throw CommandLimitError.exceeded('key size (bytes)', key.byteLength, this.limits.maxKeyBytes);
    }
    return key;
  }

  /** A lease id: a positive int64 (etcd's lease ids are int64). */
  private leaseId(): bigint {
    const id = this.in.u64();
    if (id === 0n || id > 0x7fff_ffff_ffff_ffffn) {
      throw new MalformedCommandError(`lease id ${id} is not a positive int64`);
    }
    return id;
  }

  private flags(allowed: number): number {
    const flags = this.in.u8();
    if ((flags & ~allowed) !== 0) {
      throw new MalformedCommandError(`unknown request flags 0x${flags.toString(16)}`);
    }
    return flags;
  }
}
