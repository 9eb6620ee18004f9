/**
 * What an operator asks of the member that leads — a membership change, a leadership transfer —
 * made the way an admin request would be: one input to that member's core, its refusal (a
 * RaftError: not leader, a change still uncommitted, a transfer in progress) logged and
 * counted, never a violation. Used by the random fault injector and by scenarios alike.
 */
import { ConfChangeType, RaftError } from '@keyval/raft';
import type { ConfChange, NodeId, ProposalTicket } from '@keyval/raft';
import type { WorldMember } from './member-kind';
import { SimMember } from './sim-member';
import type { SimWorld } from './sim-world';

/** Proposes `change` through `leader`. Returns where it landed, or undefined when refused. */
export function requestConfChange(world: SimWorld, leader: WorldMember, change: ConfChange): ProposalTicket | undefined {
  const what = `${ConfChangeType[change.type]} ${change.nodeId}`;
  world.counters.confChangesProposed++;
  if (!(leader instanceof SimMember)) {
    // A production driver answers asynchronously: a member it adds starts once the change applies (SimWorld.onApplied).
    leader.input(() => {
      world.log(`m${leader.num} proposes ${what}`);
      leader.proposeConfChange(change, (reason) => {
        world.counters.confChangesRefused++;
        world.log(`m${leader.num}: ${what} refused or not applied: ${reason}`);
      });
    });
    return undefined;
  }
  let ticket: ProposalTicket | undefined;
  leader.input(() => {
    try {
      ticket = leader.core().proposeConfChange(change);
      world.log(`m${leader.num} proposes ${what} at ${ticket.index}/t${ticket.term}`);
    } catch (error) {
      if (!(error instanceof RaftError)) {
        throw error;
      }
      world.counters.confChangesRefused++;
      world.log(`m${leader.num} refuses ${what}: ${error.message}`);
    }
  });
  return ticket;
}

/** Asks `leader` to hand leadership to `target` (§3.10). */
export function requestTransfer(world: SimWorld, leader: WorldMember, target: NodeId): void {
  world.counters.transfers++;
  leader.input(() => {
    try {
      leader.transferLeadership(target);
      world.log(`m${leader.num} transfers leadership to ${target}`);
    } catch (error) {
      if (!(error instanceof RaftError)) {
        throw error;
      }
      world.counters.transfersRefused++;
      world.log(`m${leader.num} refuses transfer to ${target}: ${error.message}`);
    }
  });
}
