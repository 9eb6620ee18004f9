/**
 * Membership from ConfChange entries. The Raft configuration is adopted verbatim from the entry
 * (the leader computed it); the members table is kept from the change's context, which the app
 * fills with a member context:
 *
 *     UTF-8 JSON: {"name": "m1", "peerUrls": ["http://127.0.0.1:2380"], "clientUrls": [...]}
 *
 * An empty context leaves an existing member's record as it is (or records the member with an
 * empty name and no URLs). A context that cannot be read is not fatal (the configuration
 * change already happened in the core): the member is recorded without it and the apply result
 * says why.
 */
import type { ConfChangeEntry, MembershipConfig, NodeId } from '@keyval/raft';
import { ConfChangeType, decodeConfChangeEntry } from '@keyval/raft';
import type { MemberRecord, MembershipState } from '../command-types';
import type { ByteReader } from '../codec/byte-reader';
import type { ByteWriter } from '../codec/byte-writer';
import { StateMachineInvariantError } from '../errors';
import { assertNever } from '../util/assert-never';
import { readAlarms, withAlarms, writeAlarms } from './alarms';

/** What the app puts in a ConfChange context. */
export interface MemberContext {
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
}

export const EMPTY_MEMBERSHIP: MembershipState = { config: { voters: [], learners: [] }, members: [] };

/** Encodes a member context for ConfChange.context. */
export function encodeMemberContext(context: MemberContext): Uint8Array {
  return Buffer.from(JSON.stringify({ name: context.name, peerUrls: [...context.peerUrls], clientUrls: [...context.clientUrls] }), 'utf8');
}

/** Decodes a member context; throws Error with the reason when it is not one. */
export function decodeMemberContext(bytes: Uint8Array, maxBytes: number): MemberContext {
  if (bytes.byteLength > maxBytes) {
    throw new Error(`member context of ${bytes.byteLength} bytes exceeds ${maxBytes}`);
  }
  const parsed: unknown = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  if (typeof parsed !== 'object' || parsed === null) {
    throw new Error('member context is not a JSON object');
  }
  const record = parsed as Record<string, unknown>;
  const name = record['name'] ?? '';
  if (typeof name !== 'string') {
    throw new Error('member context "name" is not a string');
  }
  return { name, peerUrls: stringList(record, 'peerUrls'), clientUrls: stringList(record, 'clientUrls') };
}

function stringList(record: Record<string, unknown>, field: string): string[] {
  const value = record[field] ?? [];
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) {
    throw new Error(`member context "${field}" is not a list of strings`);
  }
  return value;
}

/** The outcome of a ConfChange entry on the membership state. */
export interface MembershipChange {
  readonly entry: ConfChangeEntry;
  readonly membership: MembershipState;
  readonly contextError?: string;
}

/** Applies a ConfChange entry's data. A malformed entry is an invariant failure (the core decoded it). */
export function applyConfChange(current: MembershipState, data: Uint8Array, maxContextBytes: number): MembershipChange {
  let entry: ConfChangeEntry;
  try {
    entry = decodeConfChangeEntry(data);
  } catch (error) {
    throw new StateMachineInvariantError(`committed ConfChange entry does not decode: ${String(error)}`);
  }
  const { change } = entry;
  const members = new Map<NodeId, MemberRecord>(current.members.map((m) => [m.id, m]));
  let contextError: string | undefined;
  let context: MemberContext | undefined;
  if (change.context.byteLength > 0) {
    try {
      context = decodeMemberContext(change.context, maxContextBytes);
    } catch (error) {
      contextError = error instanceof Error ? error.message : String(error);
    }
  }
  switch (change.type) {
    case ConfChangeType.AddVoter:
    case ConfChangeType.AddLearner:
    case ConfChangeType.PromoteLearner: {
      const existing = members.get(change.nodeId);
      const base = context ?? existing ?? { name: '', peerUrls: [], clientUrls: [] };
      members.set(change.nodeId, { id: change.nodeId, name: base.name, peerUrls: [...base.peerUrls], clientUrls: [...base.clientUrls] });
      break;
    }
    case ConfChangeType.RemoveMember:
      members.delete(change.nodeId);
      break;
    default:
      assertNever(change.type);
  }
  const sorted = [...members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  // Alarms outlive membership changes (etcd keeps a removed member's alarm until it is disarmed).
  const membership = withAlarms({ config: copyConfig(entry.config), members: sorted }, current.alarms ?? []);
  return contextError === undefined ? { entry, membership } : { entry, membership, contextError };
}

/** A member's published name and client URLs; an id not in the table changes nothing. */
export function setMemberAttributes(current: MembershipState, id: NodeId, name: string, clientUrls: readonly string[]): MembershipState {
  if (!current.members.some((m) => m.id === id)) {
    return current;
  }
  const members = current.members.map((m) => (m.id === id ? { id, name, peerUrls: [...m.peerUrls], clientUrls: [...clientUrls] } : m));
  return withAlarms({ config: copyConfig(current.config), members }, current.alarms ?? []);
}

/**
 * A member's new peer URLs (etcd's MemberUpdate), its id and everything else kept. Refused
 * (the membership unchanged) for an id not in the table or a URL another member has.
 */
export function setMemberPeerUrls(current: MembershipState, id: NodeId, peerUrls: readonly string[]): { membership: MembershipState; refused?: 'member-not-found' | 'peer-urls-exist' } {
  if (!current.members.some((m) => m.id === id)) {
    return { membership: current, refused: 'member-not-found' };
  }
  if (current.members.some((m) => m.id !== id && m.peerUrls.some((u) => peerUrls.includes(u)))) {
    return { membership: current, refused: 'peer-urls-exist' };
  }
  const members = current.members.map((m) => (m.id === id ? { ...m, peerUrls: [...peerUrls], clientUrls: [...m.clientUrls] } : m));
  return { membership: withAlarms({ config: copyConfig(current.config), members }, current.alarms ?? []) };
}

function copyConfig(config: MembershipConfig): MembershipConfig {
  return { voters: [...config.voters], learners: [...config.learners] };
}

/**
 * Writes a membership state (RocksDB meta record, snapshot header, store hash). The alarm
 * table follows only when an alarm is active, so a state without alarms is written (and
 * hashed) exactly as before alarms existed; readers take what follows the members as alarms.
 */
export function writeMembership(out: ByteWriter, membership: MembershipState): void {
  for (const list of [membership.config.voters, membership.config.learners]) {
    out.varint(list.length);
    for (const id of list) {
      out.u64(id);
    }
  }
  out.varint(membership.members.length);
  for (const member of membership.members) {
    out.u64(member.id).string(member.name);
    for (const urls of [member.peerUrls, member.clientUrls]) {
      out.varint(urls.length);
      for (const url of urls) {
        out.string(url);
      }
    }
  }
  if (membership.alarms !== undefined && membership.alarms.length > 0) {
    writeAlarms(out, membership.alarms);
  }
}

const MAX_MEMBER_FIELD_BYTES = 64 * 1024;

/** Reads what writeMembership wrote; it must be the last thing in `input` (alarms run to the end). */
export function readMembership(input: ByteReader): MembershipState {
  const lists: NodeId[][] = [];
  for (let l = 0; l < 2; l++) {
    const count = boundedCount(input, 8);
    const ids: NodeId[] = [];
    for (let i = 0; i < count; i++) {
      ids.push(input.u64() as NodeId);
    }
    lists.push(ids);
  }
  const memberCount = boundedCount(input, 9);
  const members: MemberRecord[] = [];
  for (let i = 0; i < memberCount; i++) {
    const id = input.u64() as NodeId;
    const name = input.string(MAX_MEMBER_FIELD_BYTES, 'member name');
    const urls: string[][] = [];
    for (let u = 0; u < 2; u++) {
      const count = boundedCount(input, 1);
      const list: string[] = [];
      for (let k = 0; k < count; k++) {
        list.push(input.string(MAX_MEMBER_FIELD_BYTES, 'member url'));
      }
      urls.push(list);
    }
    members.push({ id, name, peerUrls: urls[0] as string[], clientUrls: urls[1] as string[] });
  }
  const membership: MembershipState = { config: { voters: lists[0] as NodeId[], learners: lists[1] as NodeId[] }, members };
  if (input.remaining === 0) {
    return membership;
  }
  return withAlarms(membership, readAlarms(input, (message) => new StateMachineInvariantError(`membership record: ${message}`)));
}

function boundedCount(input: ByteReader, minBytesEach: number): number {
  const count = input.varint();
  if (count * minBytesEach > input.remaining) {
    input.raw(count * minBytesEach); // throws the reader's truncation error
  }
  return count;
}
