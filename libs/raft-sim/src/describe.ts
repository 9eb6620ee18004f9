/**
 * One-line descriptions of messages and member states for the trace and failure reports.
 */
import type { Message } from '@keyval/raft';
import type { SimMember } from './sim-member';

export function describeMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'PreVote':
    case 'Vote':
      return `${head} last=${m.lastLogIndex}/t${m.lastLogTerm}${m.type === 'Vote' && m.transfer ? ' transfer' : ''}`;
    case 'PreVoteResponse':
    case 'VoteResponse':
      return `${head}${m.reject ? ' reject' : ' grant'}`;
    case 'Append': {
      const first = m.entries[0];
      const range = first === undefined ? 'none' : `${first.index}..${first.index + m.entries.length - 1}`;
      return `${head} prev=${m.prevLogIndex}/t${m.prevLogTerm} entries=${range} commit=${m.commit}`;
    }
    case 'AppendResponse':
      return `${head} index=${m.index}${m.reject ? ` reject hint=${m.hintIndex}/t${m.hintTerm}` : ''}`;
    case 'Heartbeat':
      return `${head} commit=${m.commit} round=${m.round}`;
    case 'HeartbeatResponse':
      return `${head} round=${m.round}`;
    case 'Snapshot':
      return `${head} snapshot=${m.snapshot.index}/t${m.snapshot.term} voters=${m.snapshot.config.voters.join(',')}`;
    case 'TimeoutNow':
      return head;
    case 'ReadIndex':
      return `${head} ctx=${m.context}`;
    case 'ReadIndexResponse':
      return `${head} ctx=${m.context} index=${m.index}${m.reject ? ' reject' : ''}`;
  }
}

/** A member's state in one line: role, term, log and apply positions, configuration. */
export function describeMember(member: SimMember): string {
  const disk = `log ${member.disk.volatile.firstIndex()}..${member.disk.volatile.lastIndex()} durable ..${member.disk.durableView().lastIndex()}`;
  if (member.node === undefined) {
    return `m${member.num}: down${member.removed ? ' (removed)' : ''}; ${disk}; applied ${member.sm.appliedIndex}`;
  }
  const st = member.node.status();
  const config = `voters=${st.config.voters.join(',')}${st.config.learners.length > 0 ? ` learners=${st.config.learners.join(',')}` : ''}`;
  const progress =
    st.progress === undefined
      ? ''
      : `; progress ${[...st.progress.entries()].map(([id, p]) => `${id}:${p.state} match=${p.match} next=${p.next}${p.recentActive ? '' : ' inactive'}${p.pendingSnapshot > 0 ? ` snap=${p.pendingSnapshot}` : ''}`).join(', ')}`;
  return `m${member.num}: ${st.role} t${st.term} vote=${st.vote} leader=${st.leader} commit=${st.commit} applied=${member.sm.appliedIndex}; ${disk}; ${config}${member.removed ? ' (removed)' : ''}${progress}`;
}
