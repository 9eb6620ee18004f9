/**
 * Single-server membership changes (dissertation §4.1, §4.2): add a voter, add a learner,
 * promote a learner, remove a member. One change at a time: a change may be proposed only
 * once the previous configuration entry is committed. The entry carries the whole resulting
 * configuration, which takes effect on every member as soon as it is appended.
 */
import { encodeConfChangeEntry } from './conf-change-codec';
import { ConfChangeRefusedError, NotLeaderError } from './errors';
import { Role } from './ready';
import type { Raft } from './raft';
import { propose } from './raft-leader';
import type { ProposalTicket } from './raft-leader';
import { ConfChangeType, EntryType, NO_NODE } from './types';
import type { ConfChange, MembershipConfig, NodeId } from './types';

/** The configuration that results from applying `change` to `config`, or the reason it cannot. */
export function applyChange(config: MembershipConfig, change: ConfChange): MembershipConfig | string {
  const id = change.nodeId;
  const isVoter = config.voters.includes(id);
  const isLearner = config.learners.includes(id);
  const without = (list: readonly NodeId[]): NodeId[] => list.filter((x) => x !== id);
  if (id === 0n) {
    return 'member id 0 is reserved';
  }
  switch (change.type) {
    case ConfChangeType.AddVoter:
      if (isVoter) return `${id} is already a voter`;
      if (isLearner) return `${id} is a learner; promote it instead`;
      return { voters: [...config.voters, id], learners: [...config.learners] };
    case ConfChangeType.AddLearner:
      if (isVoter || isLearner) return `${id} is already a member`;
      return { voters: [...config.voters], learners: [...config.learners, id] };
    case ConfChangeType.PromoteLearner:
      if (!isLearner) return `${id} is not a learner`;
      return { voters: [...config.voters, id], learners: without(config.learners) };
    case ConfChangeType.RemoveMember:
      if (!isVoter && !isLearner) return `${id} is not a member`;
      if (isVoter && config.voters.length === 1) return `${id} is the last voter`;
      return { voters: without(config.voters), learners: without(config.learners) };
    default:
      return `unknown change type ${String(change.type)}`;
  }
}

/** Proposes a membership change on the leader. Throws ConfChangeRefusedError with the reason. */
export function proposeConfChange(r: Raft, change: ConfChange): ProposalTicket {
  if (r.role !== Role.Leader) {
    throw new NotLeaderError(r.leader === NO_NODE ? undefined : r.leader);
  }
  if (r.configs.currentIndex() > r.log.committed) {
    throw new ConfChangeRefusedError(`the change at index ${r.configs.currentIndex()} is not committed yet; one change at a time`);
  }
  const next = applyChange(r.configs.current(), change);
  if (typeof next === 'string') {
    throw new ConfChangeRefusedError(next);
  }
  const data = encodeConfChangeEntry({ change, config: next });
  const [ticket] = propose(r, [data], EntryType.ConfChange);
  return ticket as ProposalTicket;
}
