/**
 * Binary encoding of ConfChange entries (EntryType.ConfChange). Little-endian:
 *
 *     u8 version (1) | u8 change type | u64 node id | u32 context length | context bytes
 *     | u32 voter count | u64 voter ids... | u32 learner count | u64 learner ids...
 *
 * Pure (DataView over Uint8Array), so the core and the apps decode identically.
 */
import { ConfChangeType } from './types';
import type { ConfChangeEntry, MembershipConfig, NodeId } from './types';

const VERSION = 1;

export class ConfChangeDecodeError extends Error {
  constructor(message: string) {
    super(`malformed conf change entry: ${message}`);
    this.name = 'ConfChangeDecodeError';
  }
}

export function encodeConfChangeEntry(entry: ConfChangeEntry): Uint8Array {
  const { change, config } = entry;
  const size = 1 + 1 + 8 + 4 + change.context.byteLength + 4 + 8 * config.voters.length + 4 + 8 * config.learners.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  view.setUint8(at, VERSION);
  at += 1;
  view.setUint8(at, change.type);
  at += 1;
  view.setBigUint64(at, change.nodeId, true);
  at += 8;
  view.setUint32(at, change.context.byteLength, true);
  at += 4;
  out.set(change.context, at);
  at += change.context.byteLength;
  for (const list of [config.voters, config.learners]) {
    view.setUint32(at, list.length, true);
    at += 4;
    for (const id of list) {
      view.setBigUint64(at, id, true);
      at += 8;
    }
  }
  return out;
}

export function decodeConfChangeEntry(data: Uint8Array): ConfChangeEntry {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  const need = (bytes: number): void => {
    if (at + bytes > data.byteLength) {
      throw new ConfChangeDecodeError(`truncated at byte ${at} (need ${bytes} more of ${data.byteLength})`);
    }
  };
  need(2);
  const version = view.getUint8(at);
  if (version !== VERSION) {
    throw new ConfChangeDecodeError(`unknown version ${version}`);
  }
  const type = view.getUint8(at + 1);
  at += 2;
  if (!(type in ConfChangeType)) {
    throw new ConfChangeDecodeError(`unknown change type ${type}`);
  }
  need(12);
  const nodeId = view.getBigUint64(at, true) as NodeId;
  const contextLength = view.getUint32(at + 8, true);
  at += 12;
  need(contextLength);
  const context = data.slice(at, at + contextLength);
  at += contextLength;
  const lists: NodeId[][] = [];
  for (let l = 0; l < 2; l++) {
    need(4);
    const count = view.getUint32(at, true);
    at += 4;
    need(8 * count);
    const ids: NodeId[] = [];
    for (let k = 0; k < count; k++) {
      ids.push(view.getBigUint64(at, true) as NodeId);
      at += 8;
    }
    lists.push(ids);
  }
  if (at !== data.byteLength) {
    throw new ConfChangeDecodeError(`${data.byteLength - at} trailing bytes`);
  }
  const config: MembershipConfig = { voters: lists[0] as NodeId[], learners: lists[1] as NodeId[] };
  return { change: { type: type as ConfChangeType, nodeId, context }, config };
}
