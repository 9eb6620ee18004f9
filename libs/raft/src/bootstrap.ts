/**
 * Bootstrapping a new cluster: every initial member starts with the same first entry, a
 * configuration entry at index 1 of term 1 naming all initial voters, committed. Identical
 * logs on every member make the initial configuration durable and restart-safe.
 */
import { encodeConfChangeEntry } from './conf-change-codec';
import { invariant } from './errors';
import { ConfChangeType, EntryType } from './types';
import type { Entry, HardState, LogIndex, MembershipConfig, NodeId, Term } from './types';

export function bootstrapEntries(voters: readonly NodeId[], context: Uint8Array = new Uint8Array(0)): { entries: Entry[]; hardState: HardState } {
  invariant(voters.length > 0, 'a cluster needs at least one voter');
  invariant(new Set(voters).size === voters.length, 'duplicate voter ids');
  const sorted = [...voters].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const config: MembershipConfig = { voters: sorted, learners: [] };
  const entry: Entry = {
    term: 1 as Term,
    index: 1 as LogIndex,
    type: EntryType.ConfChange,
    data: encodeConfChangeEntry({ change: { type: ConfChangeType.AddVoter, nodeId: sorted[0] as NodeId, context }, config }),
  };
  return { entries: [entry], hardState: { term: 1 as Term, vote: 0n as NodeId, commit: 1 as LogIndex } };
}
