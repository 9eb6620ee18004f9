/**
 * Bootstrapping a new cluster: every initial member starts with the same first entries, one
 * configuration entry per initial voter (term 1, indexes 1..n, in id order, each adding one
 * voter and carrying its context — the app puts the member's name and URLs there), all
 * committed. Identical logs on every member make the initial configuration durable and
 * restart-safe, as etcd does it.
 */
import { encodeConfChangeEntry } from './conf-change-codec';
import { invariant } from './errors';
import { ConfChangeType, EntryType } from './types';
import type { Entry, HardState, LogIndex, NodeId, Term } from './types';

export function bootstrapEntries(voters: readonly NodeId[], contexts: ReadonlyMap<NodeId, Uint8Array> = new Map()): { entries: Entry[]; hardState: HardState } {
  invariant(voters.length > 0, 'a cluster needs at least one voter');
  invariant(new Set(voters).size === voters.length, 'duplicate voter ids');
  invariant(!voters.includes(0n as NodeId), 'member id 0 is reserved');
  const sorted = [...voters].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const entries = sorted.map((id, k): Entry => {
    const config = { voters: sorted.slice(0, k + 1), learners: [] };
    const change = { type: ConfChangeType.AddVoter, nodeId: id, context: contexts.get(id) ?? new Uint8Array(0) };
    return { term: 1 as Term, index: (k + 1) as LogIndex, type: EntryType.ConfChange, data: encodeConfChangeEntry({ change, config }) };
  });
  return { entries, hardState: { term: 1 as Term, vote: 0n as NodeId, commit: entries.length as LogIndex } };
}
